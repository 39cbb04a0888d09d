"""Migration notifications/0004: follow-ups of the removed batch send task become one send
follow-up per notification, so the relay never meets a task no worker knows."""
from __future__ import annotations

from datetime import timedelta
from importlib import import_module

import pytest
from django.apps import apps
from django.utils import timezone

from outbox.models import FollowUp, FollowUpStatus

migration = import_module("notifications.migrations.0004_send_followups_per_row")

pytestmark = pytest.mark.django_db


def _batch(ids, status, dispatches=0):
    now = timezone.now()
    return FollowUp.objects.create(task=migration.OLD_TASK, kwargs={"notification_ids": ids}, request_id="r1",
                                   status=status, dispatches=dispatches, next_attempt_at=now + timedelta(minutes=2),
                                   last_error="lost" if status == FollowUpStatus.FAILED else "",
                                   created_at=now - timedelta(minutes=5))


def test_open_batches_become_one_send_follow_up_per_notification_and_done_ones_stay():
    pending, failed, done = _batch([11, 12], FollowUpStatus.PENDING, 1), _batch([13], FollowUpStatus.FAILED, 5), \
        _batch([14, 15], FollowUpStatus.DONE, 1)
    other = FollowUp.objects.create(task="listings.tasks.search_upsert", kwargs={"listing_id": 1},
                                    next_attempt_at=timezone.now(), created_at=timezone.now())

    migration.split_batches(apps, None)

    rows = FollowUp.objects.filter(task=migration.SEND_TASK).order_by("id")
    assert [(r.kwargs, r.status, r.dispatches, r.last_error, r.request_id) for r in rows] == [
        ({"notification_id": 11}, "pending", 1, "", "r1"), ({"notification_id": 12}, "pending", 1, "", "r1"),
        ({"notification_id": 13}, "failed", 5, "lost", "r1")]
    assert {r.next_attempt_at for r in rows[:2]} == {pending.next_attempt_at}
    assert {r.created_at for r in rows} == {pending.created_at, failed.created_at}
    assert list(FollowUp.objects.filter(task=migration.OLD_TASK).values_list("id", flat=True)) == [done.pk]
    assert FollowUp.objects.filter(pk=other.pk).exists()
