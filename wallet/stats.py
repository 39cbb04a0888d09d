"""Wallet numbers for the live admin dashboard (registered with core.stats, auto-discovered)."""
from __future__ import annotations

from datetime import datetime, time

from django.utils import timezone

from core.stats import register_stat

from .models import Payout, PayoutStatus, Transaction, TransactionKind


def refunds_today() -> int:
    """Refund journal entries since local midnight (TIME_ZONE, Asia/Kolkata)."""
    midnight = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
    return Transaction.objects.filter(kind=TransactionKind.REFUND, created_at__gte=midnight).count()


def failed_payouts() -> int:
    """Payouts that ended failed or reversed (all time)."""
    return Payout.objects.filter(status__in=[PayoutStatus.FAILED, PayoutStatus.REVERSED]).count()


register_stat("refundsToday", refunds_today)
register_stat("failedPayouts", failed_payouts)
