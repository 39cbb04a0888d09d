"""Banner writes (admins): create, update, delete (docs/access-and-hardening.md).

Each write validates (ValidationFailed naming the camelCase field), changes the row, writes one
AuditLog row and publishes `banners.update` to `public` in its transaction, and drops the public
feed cache after commit (dropping it before commit would let a reader cache the old state again).
Errors: ValidationFailed (400), NotFound (404), Forbidden (403, actor not an admin).
"""
from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from django.core.cache import cache
from django.db import transaction

from audit.services import audit_record
from core.errors import Forbidden, NotFound, ValidationFailed

from .events import publish_banners_update
from .models import PRIORITY_MAX, PRIORITY_MIN, Banner, BannerStatus, Placement
from .selectors import feed_cache_keys

FIELDS = {"placement": "placement", "title": "title", "image_url": "imageUrl", "link": "link",
          "start_date": "startDate", "end_date": "endDate", "priority": "priority", "status": "status"}


def feed_cache_drop() -> None:
    """Drop every placement's cached public feed after the current transaction commits (a cache
    outage is logged, not raised: the change has committed; the feed's short TTL ends staleness)."""
    transaction.on_commit(lambda: cache.delete_many(feed_cache_keys()), robust=True)


def _check_actor(actor) -> None:
    if not (actor.is_active and actor.is_admin):
        raise Forbidden("Only admins can change banners.")


def _http_url(value: str, field: str, *, required: bool) -> None:
    if not value:
        if required:
            raise ValidationFailed.required(field)
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationFailed(f"{field} must be an http(s) URL.", fields={field: "Only http and https URLs."})


def banner_validate(b: Banner) -> None:
    """Check `b` (saved or not) against the banner rules of docs/access-and-hardening.md: known
    placement and status, a title, http(s) image URL and link, priority in range, end after start.
    Serializers check types; this checks the domain, for the services and for the admin form.
    Raises ValidationFailed naming the field (camelCase, as in the API)."""
    if b.placement not in Placement.values:
        raise ValidationFailed("Unknown placement.", fields={"placement": f"One of: {', '.join(Placement.values)}."})
    if b.status not in BannerStatus.values:
        raise ValidationFailed("Unknown status.", fields={"status": f"One of: {', '.join(BannerStatus.values)}."})
    if not (b.title or "").strip():
        raise ValidationFailed.required("title")
    _http_url(b.image_url, "imageUrl", required=True)
    _http_url(b.link, "link", required=False)
    if isinstance(b.priority, bool) or not isinstance(b.priority, int) or not PRIORITY_MIN <= b.priority <= PRIORITY_MAX:
        raise ValidationFailed("priority out of range.", fields={"priority": f"An integer {PRIORITY_MIN}..{PRIORITY_MAX}."})
    if not isinstance(b.start_date, datetime):
        raise ValidationFailed.required("startDate")
    if b.end_date is not None and b.end_date <= b.start_date:
        raise ValidationFailed("endDate must be after startDate.", fields={"endDate": "Must be after startDate."})


def _snapshot(b: Banner) -> dict:
    return {camel: (getattr(b, name).isoformat() if isinstance(getattr(b, name), datetime) else getattr(b, name))
            for name, camel in FIELDS.items()}


@transaction.atomic
def banner_create(*, actor, placement: str, title: str, image_url: str, start_date: datetime,
                  end_date: datetime | None = None, link: str = "", priority: int = 0,
                  status: str = BannerStatus.ACTIVE) -> Banner:
    """Create a banner (times aware UTC). Audited `banner.create`; `banners.update` op created."""
    _check_actor(actor)
    banner = Banner(placement=placement, title=(title or "").strip(), image_url=image_url, link=link or "",
                    start_date=start_date, end_date=end_date, priority=priority, status=status, created_by=actor)
    banner_validate(banner)
    banner.save()
    audit_record(action="banner.create", entity_type="banner", entity_id=banner.pk, user=actor,
                 metadata=_snapshot(banner))
    publish_banners_update(banner_id=banner.pk, placement=banner.placement, op="created")
    feed_cache_drop()
    return banner


@transaction.atomic
def banner_update(*, banner_id: int, actor, changes: dict) -> Banner:
    """Apply `changes` (model field names from FIELDS) to a banner; the result must pass the same
    rules as a new one. Audited `banner.update` with before/after of the changed fields.
    `banners.update` goes out for the new placement (and the old one when it moved)."""
    _check_actor(actor)
    try:
        banner = Banner.objects.select_for_update().get(pk=banner_id)
    except Banner.DoesNotExist:
        raise NotFound("Banner not found.") from None
    before = _snapshot(banner)
    old_placement = banner.placement
    for name in FIELDS:
        if name in changes:
            value = changes[name]
            setattr(banner, name, (value or "").strip() if name == "title" else ("" if name == "link" and value is None else value))
    banner_validate(banner)
    banner.save()
    after = _snapshot(banner)
    changed = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
    audit_record(action="banner.update", entity_type="banner", entity_id=banner.pk, user=actor, metadata=changed)
    publish_banners_update(banner_id=banner.pk, placement=banner.placement, op="updated")
    if old_placement != banner.placement:
        publish_banners_update(banner_id=banner.pk, placement=old_placement, op="updated")
    feed_cache_drop()
    return banner


@transaction.atomic
def banner_delete(*, banner_id: int, actor) -> None:
    """Delete a banner. Audited `banner.delete` with its last state; `banners.update` op deleted."""
    _check_actor(actor)
    try:
        banner = Banner.objects.select_for_update().get(pk=banner_id)
    except Banner.DoesNotExist:
        raise NotFound("Banner not found.") from None
    snapshot, placement = _snapshot(banner), banner.placement
    banner.delete()
    audit_record(action="banner.delete", entity_type="banner", entity_id=banner_id, user=actor, metadata=snapshot)
    publish_banners_update(banner_id=banner_id, placement=placement, op="deleted")
    feed_cache_drop()
