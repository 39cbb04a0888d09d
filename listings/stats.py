"""Moderation numbers for the live admin dashboard (registered with outbox.stats, auto-discovered).

The queue size is the built-in `pendingListings`. The oldest pending age is given in whole
minutes, as text, so the snapshot changes once a minute rather than every second (the
dashboard pushes only changed snapshots).
"""
from __future__ import annotations

from django.utils import timezone

from outbox.stats import register_stat

from .selectors import decisions_today, oldest_pending_created_at
from .templatetags.humanize_age import age_text


def oldest_pending_age() -> str | None:
    """Age of the oldest pending listing in whole minutes ("0 min" under a minute), None when empty."""
    created = oldest_pending_created_at()
    if created is None:
        return None
    seconds = (timezone.now() - created).total_seconds()
    return age_text(seconds - seconds % 60) if seconds >= 60 else "0 min"


register_stat("oldestPendingAge", oldest_pending_age)
register_stat("decisionsToday", lambda: decisions_today())
