"""Outbox numbers for the live admin dashboard (core.stats registry, auto-discovered)."""
from core.stats import register_stat

from .selectors import outbox_counts

register_stat("outboxPending", lambda: outbox_counts()["pending"])
register_stat("outboxFailed", lambda: outbox_counts()["failed"])
