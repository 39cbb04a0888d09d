"""The relay loop (outbox.loop): events that failed during an outage go out on the first tick
after the channel layer answers again, not after their backoff."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from outbox.loop import RelayLoop
from outbox.models import EventOutbox, OutboxStatus
from outbox.services import publish



@pytest.mark.django_db(transaction=True)
def test_rows_that_failed_during_an_outage_are_sent_on_the_first_tick_after_recovery(seller, layer_down,
                                                                                     monkeypatch):
    with transaction.atomic():
        publish(channel="listings.update", groups=[f"user.{seller.pk}", "admin"], data={"id": 1})
    rows = EventOutbox.objects.filter(status=OutboxStatus.PENDING)
    assert rows.count() == 2 and set(rows.values_list("attempts", flat=True)) == {1}
    # Their retry is 10 s away (OUTBOX_FIRST_RETRY_SECONDS): a plain relay pass leaves them alone.
    assert min(rows.values_list("next_attempt_at", flat=True)) > timezone.now() + timedelta(seconds=5)
    loop = RelayLoop()
    monkeypatch.setattr("outbox.loop.layer_ping", lambda: False)
    out = loop.tick()
    assert out["events"] == {"skipped": "channel layer still down"} and loop.layer_down

    layer_down()  # Redis is back
    monkeypatch.setattr("outbox.loop.layer_ping", lambda: True)
    out = loop.tick()

    assert out["woken"] == 2 and out["events"]["sent"] == 2 and not loop.layer_down
    assert set(EventOutbox.objects.values_list("status", flat=True)) == {OutboxStatus.SENT}


@pytest.mark.django_db(transaction=True)
def test_a_tick_with_the_database_gone_is_logged_and_the_loop_goes_on(monkeypatch):
    import threading

    from django.db import OperationalError

    calls = []

    def failing():
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("the database system is starting up")
        stop.set()
        return {"claimed": 0, "sent": 0, "retrying": 0, "failed": 0, "held": 0}

    stop = threading.Event()
    monkeypatch.setattr("outbox.loop.relay_run", failing)
    RelayLoop().run(interval=0, stop=stop)
    assert len(calls) == 2
