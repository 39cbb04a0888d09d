"""Daily payout reconciliation with the gateway (beat, 02:00 Asia/Kolkata).

For the run date it: re-sends pending payouts (same gateway idempotency key, so never twice),
asks the gateway for every processing payout and applies its answer, and re-checks payouts that
reached a final state on the day before, recording any contradiction once. Safe to run twice at
once and twice for one date: one ReconciliationRun row per date (unique), transitions lock the
payout row and never leave a final state, mismatches are unique per payout and state pair.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta

from django.db.models import Q
from django.utils import timezone

from ..gateways import GatewayError, get_gateway
from ..models import FINAL_PAYOUT_STATUSES, Payout, PayoutStatus, ReconciliationMismatch, ReconciliationRun
from .payouts import payout_submit, payout_transition

log = logging.getLogger(__name__)


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(day, time.min))  # TIME_ZONE, Asia/Kolkata
    return start, start + timedelta(days=1)


def payout_reconciliation_run(*, run_date: date | None = None) -> dict:
    """Reconcile payouts for `run_date` (default today, Asia/Kolkata). Returns
    {runDate, checked, changed, mismatches, errors}; the same numbers are stored on the run row."""
    run_date = run_date or timezone.localdate()
    run, _ = ReconciliationRun.objects.get_or_create(run_date=run_date)
    gateway = get_gateway()
    prev_start, prev_end = _day_bounds(run_date - timedelta(days=1))
    _, day_end = _day_bounds(run_date)
    candidates = Payout.objects.filter(
        Q(created_at__lt=day_end) & (~Q(status__in=FINAL_PAYOUT_STATUSES)
                                     | Q(updated_at__gte=prev_start, updated_at__lt=prev_end))
    ).order_by("pk").values_list("pk", flat=True)
    checked = changed = errors = 0
    for payout_id in candidates.iterator():
        checked += 1
        payout = Payout.objects.get(pk=payout_id)
        before = payout.status
        try:
            if payout.status == PayoutStatus.PENDING:
                payout = payout_submit(payout_id=payout_id)
            if payout.gateway_payout_id:
                answer = gateway.payout_fetch(gateway_id=payout.gateway_payout_id)
                payout, _ = payout_transition(payout_id=payout_id, status=answer.status, source="reconciliation",
                                              gateway_payout_id=answer.gateway_id, gateway_status=answer.raw_status,
                                              reason=answer.reason)
        except GatewayError as exc:
            errors += 1
            log.warning("reconciliation %s: payout %s: %s", run_date, payout_id, exc)
            continue
        changed += payout.status != before
    mismatches = ReconciliationMismatch.objects.filter(detected_at__gte=run.started_at).count()
    ReconciliationRun.objects.filter(pk=run.pk).update(checked=checked, changed=changed, mismatches=mismatches,
                                                       errors=errors, finished_at=timezone.now())
    return {"runDate": run_date.isoformat(), "checked": checked, "changed": changed, "mismatches": mismatches,
            "errors": errors}
