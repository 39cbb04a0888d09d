"""Notifications left in `sending` by a lost worker: one admin.alert at once, bulk retry by API."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from audit.models import AuditLog
from notifications.models import Notification, NotificationStatus
from notifications.sweeping import stuck_alert_key
from outbox.models import EventOutbox

URL = "/api/admin/notifications/retry"


def stuck(user, n: int, *, age_seconds: int = 600) -> list[int]:
    claimed = timezone.now() - timedelta(seconds=age_seconds)
    ids = [Notification.objects.create(user=user, template_key="listing_approved", channel="email",
                                        status=NotificationStatus.SENDING, dedupe_key=f"{uuid.uuid4().hex}:email",
                                        attempts=1, claimed_at=claimed).pk for i in range(n)]
    # Ids come back after a test's rollback; the cache (alert markers) does not roll back with it.
    cache.delete_many([stuck_alert_key(pk) for pk in ids])
    return ids


@pytest.mark.django_db
def test_the_sweep_alerts_admins_once_per_stuck_notification(seller, sweep):
    ids = stuck(seller, 2)
    stuck(seller, 1, age_seconds=10)[0]  # a send in progress: not stuck

    first = sweep()
    second = sweep()

    assert first["staleSending"] == 2 and second["staleSending"] == 2
    alerts = list(EventOutbox.objects.filter(channel="admin.alert").values_list("payload", flat=True))
    assert len(alerts) == 1  # the second sweep names nobody new
    assert alerts[0]["kind"] == "notifications.stuck_sending"
    assert alerts[0]["notificationIds"] == ids and alerts[0]["count"] == 2


@pytest.mark.django_db
def test_admins_retry_every_stuck_notification_in_one_call(api_for, admin_user, seller,
                                                           django_capture_on_commit_callbacks):
    ids = stuck(seller, 3)
    in_progress = stuck(seller.__class__.objects.create(username="other"), 1, age_seconds=10)

    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(admin_user).post(URL, {"stuck": True}, format="json")

    assert response.status_code == 200
    assert response.json() == {"retried": ids}
    assert set(Notification.objects.filter(pk__in=ids).values_list("status", flat=True)) == {NotificationStatus.SENT}
    assert Notification.objects.get(pk=in_progress[0]).status == NotificationStatus.SENDING
    assert AuditLog.objects.filter(action="notification.retry").count() == 3


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["anonymous", "user", "moderator"])
def test_only_admins_may_retry(role, api, api_for, make_user, seller):
    ids = stuck(seller, 1)
    client = api if role == "anonymous" else api_for(make_user(role=role))

    response = client.post(URL, {"ids": ids}, format="json")

    assert response.status_code in (401, 403)
    assert Notification.objects.get(pk=ids[0]).status == NotificationStatus.SENDING
    assert AuditLog.objects.count() == 0


@pytest.mark.django_db
def test_retry_without_ids_or_stuck_is_400_and_changes_nothing(api_for, admin_user, seller):
    ids = stuck(seller, 1)
    response = api_for(admin_user).post(URL, {}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert Notification.objects.get(pk=ids[0]).status == NotificationStatus.SENDING
    assert AuditLog.objects.count() == 0
