"""The outbox relay: backoff, max attempts, per-group order, admin retry, purge, embedded mode."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from audit.models import AuditLog
from outbox import relay as relay_mod
from outbox import runtime
from outbox.models import EventOutbox, OutboxStatus
from outbox.ordering import WAITING
from outbox.relay import backoff_seconds, outbox_purge, relay_pass, relay_run
from outbox.services import publish
from outbox.tasks import outbox_purge_run, outbox_relay_run



def _publish(n: int, group: str = "user.1") -> list[int]:
    ids = []
    for i in range(n):
        with transaction.atomic():
            ids += [r.id for r in publish(channel="test.event", groups=[group], data={"n": i})]
    return ids


def test_backoff_doubles_and_is_capped(settings):
    settings.OUTBOX_BACKOFF_BASE_SECONDS = 10
    settings.OUTBOX_BACKOFF_MAX_SECONDS = 300
    assert [backoff_seconds(a) for a in range(1, 8)] == [10, 20, 40, 80, 160, 300, 300]


@pytest.mark.django_db(transaction=True)
def test_after_commit_send_marks_sent(make_user):
    ids = _publish(2)
    assert list(EventOutbox.objects.filter(id__in=ids).values_list("status", flat=True)) == ["sent", "sent"]


@pytest.mark.django_db(transaction=True)
def test_failed_send_stays_pending_then_backs_off_then_fails_with_alert(settings, layer_down):
    settings.OUTBOX_MAX_ATTEMPTS = 4
    settings.OUTBOX_BACKOFF_BASE_SECONDS = 10
    settings.OUTBOX_FIRST_RETRY_SECONDS = 10
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        [row_id] = _publish(1)
        row = EventOutbox.objects.get(id=row_id)
        # The after-commit send failed: one attempt, error kept, first retry 10 s out.
        assert (row.status, row.attempts) == ("pending", 1)
        assert row.last_error == "ConnectionError: layer down (test)"
        assert row.next_attempt_at == start + timedelta(seconds=10)
        assert relay_run()["claimed"] == 0  # not due yet
    schedule = []
    now = start + timedelta(seconds=10)
    for _ in range(3):
        with time_machine.travel(now, tick=False):
            relay_run()
            row.refresh_from_db()
            schedule.append((row.status, row.attempts, (row.next_attempt_at - now).total_seconds()))
            now = row.next_attempt_at
    # attempts 2 and 3 retry after 20 s and 40 s; the 4th is the last: failed.
    assert schedule[:2] == [("pending", 2, 20.0), ("pending", 3, 40.0)]
    assert schedule[2][:2] == ("failed", 4)
    alert = EventOutbox.objects.get(channel="admin.alert")
    assert alert.group == "admin"
    assert alert.payload["kind"] == "outbox.failed"
    assert alert.payload["outboxIds"] == [row_id]
    # A failed row is not retried by the relay on its own.
    with time_machine.travel(now + timedelta(days=1), tick=False):
        relay_run()
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", 4)


@pytest.mark.django_db(transaction=True)
def test_relay_delivers_pending_rows_when_layer_is_back(settings, layer_down):
    ids = _publish(5)
    assert set(EventOutbox.objects.values_list("status", flat=True)) == {"pending"}
    layer_down()  # the layer is back
    with time_machine.travel(timezone.now() + timedelta(seconds=11), tick=False):
        result = outbox_relay_run.apply(throw=True).result
    assert result["sent"] == 5 and result["claimed"] == 5
    assert list(EventOutbox.objects.filter(id__in=ids).values_list("status", flat=True)) == ["sent"] * 5


@pytest.mark.django_db(transaction=True)
def test_group_order_newer_row_waits_behind_a_failed_one(settings, layer_down):
    [old] = _publish(1, group="user.1")  # failed once, retry due in 10 s
    layer_down()
    with transaction.atomic():
        newer = publish(channel="test.event", groups=["user.1", "user.2"], data={})
    by_group = {r.group: r.id for r in newer}
    rows = {r.id: r for r in EventOutbox.objects.all()}
    # user.2 has nothing waiting: sent at once. user.1's newer row waits behind `old`.
    assert rows[by_group["user.2"]].status == "sent"
    assert rows[by_group["user.1"]].status == "pending"
    sent_order = []
    real = relay_mod.send_batch

    def recording(batch):
        sent_order.extend(r.id for r in batch)
        return real(batch)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(relay_mod, "send_batch", recording)
        with time_machine.travel(timezone.now() + timedelta(seconds=11), tick=False):
            relay_run()
    assert sent_order == [old, by_group["user.1"]]
    assert set(EventOutbox.objects.values_list("status", flat=True)) == {"sent"}


@pytest.mark.django_db(transaction=True)
def test_rows_wait_behind_an_earlier_row_of_their_group_until_it_is_due(settings, layer_down):
    [old] = _publish(1, group="user.1")
    later = timezone.now() + timedelta(hours=1)
    EventOutbox.objects.filter(id=old).update(next_attempt_at=later)
    layer_down()  # the layer is back, but `old` is not due for an hour
    [mid] = _publish(1, group="user.1")
    [other] = _publish(1, group="user.9")
    held = EventOutbox.objects.get(id=mid)
    assert (held.status, held.next_attempt_at, held.last_error) == ("pending", later, WAITING)
    assert EventOutbox.objects.get(id=other).status == "sent"
    # The relay does not let `mid` overtake `old` (a row claimed with a blocker is held too).
    EventOutbox.objects.filter(id=mid).update(next_attempt_at=timezone.now())
    stats = relay_pass()
    assert (stats["claimed"], stats["held"], stats["sent"]) == (1, 1, 0)
    assert EventOutbox.objects.get(id=mid).next_attempt_at == later
    order = []
    real = relay_mod.send_batch
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(relay_mod, "send_batch", lambda batch: (order.extend(r.id for r in batch), real(batch))[1])
        with time_machine.travel(later + timedelta(seconds=1), tick=False):
            relay_run()
    assert order == [old, mid]
    assert set(EventOutbox.objects.values_list("status", flat=True)) == {"sent"}


@pytest.mark.django_db(transaction=True)
def test_purge_deletes_only_old_sent_rows(settings):
    settings.OUTBOX_RETENTION = timedelta(days=7)
    old_time = timezone.now() - timedelta(days=8)
    with time_machine.travel(old_time, tick=False):
        old_sent = _publish(2)
        old_failed = _publish(1)
    EventOutbox.objects.filter(id__in=old_failed).update(status=OutboxStatus.FAILED)
    fresh = _publish(1)
    assert outbox_purge_run.apply(throw=True).result == {"deleted": 2, "followUpsDeleted": 0}
    assert sorted(EventOutbox.objects.values_list("id", flat=True)) == sorted(old_failed + fresh)
    assert not EventOutbox.objects.filter(id__in=old_sent).exists()
    assert outbox_purge() == 0


@pytest.mark.django_db(transaction=True)
def test_embedded_non_serving_process_leaves_rows_for_the_server(settings, monkeypatch):
    """A `manage.py runjob` process in embedded mode must not mark rows sent into its own,
    socket-less in-memory layer: it leaves them pending, due now, and its relay does nothing."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "outbox.transport.CountingInMemoryChannelLayer"}}
    settings.OUTBOX_SEND_FROM_ANY_PROCESS = False
    monkeypatch.setattr(runtime, "_serving", False)
    before = timezone.now()
    [row_id] = _publish(1)
    row = EventOutbox.objects.get(id=row_id)
    assert (row.status, row.attempts) == ("pending", 0)
    assert row.next_attempt_at <= timezone.now() and row.next_attempt_at >= before
    assert "skipped" in relay_run()
    assert EventOutbox.objects.get(id=row_id).status == "pending"
    # The serving process (daphne) relays it.
    monkeypatch.setattr(runtime, "_serving", True)
    assert relay_run()["sent"] == 1
    assert EventOutbox.objects.get(id=row_id).status == "sent"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_relays_at_once_never_send_a_row_twice(settings, layer_down):
    settings.OUTBOX_RELAY_BATCH = 50
    # Each group's 10 rows have neighbouring ids, so batches of 50 rows cover about 5 groups and
    # the two relays can work side by side; a group split across two batches is held by the
    # second relay until the first has sent its part.
    with transaction.atomic():
        for g in range(40):
            for i in range(10):
                publish(channel="test.event", groups=[f"user.{g}"], data={"i": i})
    layer_down()
    assert EventOutbox.objects.filter(status="pending").count() == 400
    EventOutbox.objects.update(next_attempt_at=timezone.now(), last_error="", attempts=0)
    sent: dict[str, list[int]] = {"a": [], "b": []}
    barrier = threading.Barrier(2)
    real = relay_mod.send_batch
    errors = []

    order: list[int] = []  # every send, both relays, in the order they happened
    lock = threading.Lock()

    def recording(batch):
        name = threading.current_thread().name
        with lock:
            sent[name].extend(r.id for r in batch)
            order.extend(r.id for r in batch)
        barrier_wait()
        return real(batch)

    def barrier_wait():
        try:
            barrier.wait(timeout=0.5)  # make both relays hold their claims at the same time
        except threading.BrokenBarrierError:
            pass

    def run():
        try:
            while relay_pass()["claimed"]:
                pass
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(relay_mod, "send_batch", recording)
        threads = [threading.Thread(target=run, name=n) for n in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert errors == []
    assert sent["a"] and sent["b"], "both relays should have sent something"
    assert not set(sent["a"]) & set(sent["b"])
    # Rows held behind the other relay's claim go in a later pass; each row is sent exactly once.
    later: list[int] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(relay_mod, "send_batch", lambda batch: (later.extend(r.id for r in batch), real(batch))[1])
        with time_machine.travel(timezone.now() + timedelta(seconds=60), tick=False):
            relay_run()
    all_sent = sent["a"] + sent["b"] + later
    assert len(all_sent) == len(set(all_sent)) == 400
    assert EventOutbox.objects.filter(status="sent").count() == 400
    # Across both relays and the later pass, every group's rows went out in id order.
    rows = EventOutbox.objects.in_bulk(order + later)
    per_group: dict[str, list[int]] = {}
    for i in order + later:
        per_group.setdefault(rows[i].group, []).append(i)
    assert len(per_group) == 40
    assert all(v == sorted(v) for v in per_group.values())


@pytest.mark.django_db(transaction=True)
def test_audit_untouched_by_relay():
    _publish(1)
    relay_run()
    assert AuditLog.objects.count() == 0
