"""The wallet ledger (double entry), idempotency keys, payouts, gateway webhooks, reconciliation.

Money is INR: `PaiseField` everywhere (2-place Decimals in Python, integer paise in the database,
exact on SQLite and PostgreSQL alike; docs/wallet.md "Exact money"), never float.

Double entry: every movement is one `Transaction` (journal entry) with `Posting` rows that sum to
zero. A posting's `amount` is the change to its account from the account holder's side: positive
credits a user's wallet (the platform owes the user more), negative debits it. Platform accounts
(`Account`) are the other side: refunds (money given away), gateway clearing (money in/out through
Razorpay), payouts clearing (money promised to a payout not yet settled), fees (charges earned).

Only wallets cache a balance (`Wallet.balance`); platform account balances are sums of postings on
demand, so no hot platform row serializes every refund. `manage.py ledger_check` proves the
cached balances and the zero sums.
"""
from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from .fields import CENT, PaiseField  # noqa: F401 - CENT is part of this module's interface


class Account(models.TextChoices):
    """Ledger accounts. `wallet` postings also name the wallet (user) they belong to."""

    WALLET = "wallet", "User wallet"
    REFUNDS = "refunds", "Refunds (platform)"
    GATEWAY_CLEARING = "gateway_clearing", "Gateway clearing (platform)"
    PAYOUTS_CLEARING = "payouts_clearing", "Payouts clearing (platform)"
    FEES = "fees", "Fees (platform)"


class Wallet(models.Model):
    """One per user, INR. Its primary key is the user id, so a service that knows the user knows
    the wallet without a lookup. `balance` is a cache of the sum of the wallet's postings, changed
    only by `wallet.services` with one guarded UPDATE; it can never go below zero (constraint)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, primary_key=True,
                                related_name="wallet")
    currency = models.CharField(max_length=3, default="INR")
    balance = PaiseField(default=Decimal("0.00"))
    # RazorpayX fund account (bank account / VPA) that payouts of this wallet go to.
    payout_fund_account_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(balance__gte=0), name="wallet_balance_not_negative")]

    def __str__(self) -> str:
        return f"wallet of user {self.user_id}: {self.balance} {self.currency}"


class TransactionKind(models.TextChoices):
    CHARGE = "charge", "Charge"
    REFUND = "refund", "Refund"
    TOPUP = "topup", "Top-up"
    PAYOUT = "payout", "Payout"
    PAYOUT_SETTLEMENT = "payout_settlement", "Payout settlement"
    PAYOUT_REVERSAL = "payout_reversal", "Payout reversal"


class Transaction(models.Model):
    """A journal entry: what happened (`kind`), to which wallet, against which reference.

    `amount` is the signed change to `wallet`'s balance (a charge is negative, a refund positive);
    for an entry without a wallet (payout settlement) it is the amount moved. `unique_key` makes
    entries that must happen once per external fact (a payment id, a payout reversal) unique in the
    database. `idempotency_key` is the caller's key, unique per creator and kind.
    """

    kind = models.CharField(max_length=24, choices=TransactionKind.choices)
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, null=True, blank=True, related_name="transactions")
    amount = PaiseField()
    ref_id = models.CharField(max_length=100, blank=True, default="")
    reason = models.TextField(blank=True, default="")
    idempotency_key = models.CharField(max_length=255, blank=True, default="")
    unique_key = models.CharField(max_length=150, null=True, blank=True, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    request_id = models.CharField(max_length=128, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["wallet", "ref_id"], name="wallet_tx_ref_idx"),
                   models.Index(fields=["wallet", "-id"], name="wallet_tx_recent_idx")]
        constraints = [
            models.UniqueConstraint(fields=["created_by", "kind", "idempotency_key"], condition=~Q(idempotency_key=""),
                                    name="wallet_tx_idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.amount} ({self.ref_id})"


class Posting(models.Model):
    """One line of a journal entry: `amount` to `account` (and `wallet` when account is wallet)."""

    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="postings")
    account = models.CharField(max_length=24, choices=Account.choices)
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, null=True, blank=True, related_name="postings")
    amount = PaiseField()

    class Meta:
        indexes = [models.Index(fields=["account"], name="wallet_posting_account_idx")]
        constraints = [
            models.CheckConstraint(
                condition=(Q(account=Account.WALLET, wallet__isnull=False) | (~Q(account=Account.WALLET) & Q(wallet__isnull=True))),
                name="wallet_posting_wallet_iff_wallet_account"),
            models.CheckConstraint(condition=~Q(amount=0), name="wallet_posting_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.account}{'' if self.wallet_id is None else f':{self.wallet_id}'} {self.amount}"


class IdempotencyKey(models.Model):
    """A client's Idempotency-Key (IETF httpapi draft; Stripe semantics), scoped to its owner.

    Claimed by inserting the row (unique owner+key) before the work starts; `fingerprint` is a
    hash of method, path and canonical body; `lock_token` proves which request holds the claim.
    A completed key stores the response to replay: `response_body` is the JSON text exactly as
    first sent (text, not jsonb, so the replay keeps its bytes and key order on PostgreSQL).
    Purged after IDEMPOTENCY_KEY_TTL_HOURS.
    """

    class Status(models.TextChoices):
        IN_FLIGHT = "in_flight", "In flight"
        COMPLETED = "completed", "Completed"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_FLIGHT)
    lock_token = models.CharField(max_length=32)
    locked_at = models.DateTimeField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="wallet_idempotency_owner_key_unique")]

    def __str__(self) -> str:
        return f"{self.owner_id}:{self.key} ({self.status})"


class PayoutStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # debited, not yet accepted by the gateway
    PROCESSING = "processing", "Processing"  # accepted by the gateway
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    REVERSED = "reversed", "Reversed"


FINAL_PAYOUT_STATUSES = frozenset({PayoutStatus.COMPLETED, PayoutStatus.FAILED, PayoutStatus.REVERSED})


class Payout(models.Model):
    """Money leaving a wallet to the user's bank through the gateway.

    Requesting it debits the wallet into payouts clearing at once; completed settles clearing to
    gateway clearing; failed or reversed puts the money back in the wallet (once). Final states
    (completed, failed, reversed) never change again.
    """

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="payouts")
    # Bound when requested: a later change of account never redirects a payout already asked for.
    payout_account = models.ForeignKey("PayoutAccount", on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="payouts")
    amount = PaiseField()
    status = models.CharField(max_length=16, choices=PayoutStatus.choices, default=PayoutStatus.PENDING)
    idempotency_key = models.CharField(max_length=255, blank=True, default="")
    gateway_payout_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    gateway_status = models.CharField(max_length=32, blank=True, default="")
    failure_reason = models.CharField(max_length=500, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "created_at"], name="wallet_payout_status_idx")]
        constraints = [
            models.UniqueConstraint(fields=["wallet", "idempotency_key"], condition=~Q(idempotency_key=""),
                                    name="wallet_payout_idempotency_key_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="wallet_payout_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"payout #{self.pk} {self.amount} ({self.status})"


class WebhookEvent(models.Model):
    """A Razorpay webhook event, stored once: unique by event id and by (entity id, event)."""

    event_id = models.CharField(max_length=100, unique=True)
    event = models.CharField(max_length=64)
    entity_id = models.CharField(max_length=64)
    outcome = models.CharField(max_length=32, default="processed")
    detail = models.CharField(max_length=500, blank=True, default="")
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["entity_id", "event"], name="wallet_webhook_entity_event_unique")]

    def __str__(self) -> str:
        return f"{self.event} {self.entity_id} ({self.outcome})"


class ReconciliationRun(models.Model):
    """One reconciliation of payouts with the gateway for a date (Asia/Kolkata); rerunning the same
    date updates this row instead of adding one."""

    run_date = models.DateField(unique=True)
    checked = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    mismatches = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"reconciliation {self.run_date}"


class ReconciliationMismatch(models.Model):
    """A payout whose gateway state contradicts a final state we already hold (recorded once)."""

    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, related_name="mismatches")
    our_status = models.CharField(max_length=16)
    gateway_status = models.CharField(max_length=32)
    source = models.CharField(max_length=32)  # "reconciliation" or "webhook"
    detected_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["payout", "our_status", "gateway_status"],
                                               name="wallet_mismatch_once")]

    def __str__(self) -> str:
        return f"payout #{self.payout_id}: ours {self.our_status}, gateway {self.gateway_status}"


class TopupStatus(models.TextChoices):
    CREATED = "created", "Created"  # the gateway order exists; no captured payment credited yet
    PAID = "paid", "Paid"  # a captured payment of the order's amount was credited (exactly once)


class TopupOrder(models.Model):
    """A top-up: a Razorpay Order the app opens Checkout with, credited once when paid.

    `created` -> `paid` only, by whichever comes first of the client's verify and the
    `payment.captured` / `order.paid` webhook, with this row locked (docs/wallet.md "Top-ups").
    `transaction` is the credit (one-to-one, so an order can never hold two credits) and
    `payment_id` the payment that paid it (unique). An abandoned order stays `created`.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="topup_orders")
    gateway_order_id = models.CharField(max_length=64, unique=True)
    amount = PaiseField()
    currency = models.CharField(max_length=3, default="INR")
    receipt = models.CharField(max_length=40, unique=True)
    status = models.CharField(max_length=16, choices=TopupStatus.choices, default=TopupStatus.CREATED)
    idempotency_key = models.CharField(max_length=255, blank=True, default="")
    payment_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    paid_via = models.CharField(max_length=16, blank=True, default="")  # "verify" or "webhook"
    transaction = models.OneToOneField(Transaction, on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="topup_order")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["user", "-id"], name="wallet_topup_user_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="wallet_topup_amount_positive"),
            models.CheckConstraint(condition=Q(status="created") | Q(payment_id__isnull=False, transaction__isnull=False),
                                   name="wallet_topup_paid_has_payment"),
        ]

    def __str__(self) -> str:
        return f"top-up {self.gateway_order_id} {self.amount} ({self.status})"


class PayoutAccountKind(models.TextChoices):
    BANK_ACCOUNT = "bank_account", "Bank account"
    VPA = "vpa", "UPI address"


class PayoutAccountStatus(models.TextChoices):
    ACTIVE = "active", "Active"  # the one account payouts go to (after its cool-off)
    REPLACED = "replaced", "Replaced"  # the user added another one
    REMOVED = "removed", "Removed"  # the user removed it
    DISABLED = "disabled", "Disabled"  # an admin disabled it


class ValidationStatus(models.TextChoices):
    NOT_REQUESTED = "not_requested", "Not requested"
    PENDING = "pending", "Pending"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class PayoutAccount(models.Model):
    """Where a user's payouts go: a RazorpayX Fund Account (bank account or UPI VPA) of a Contact.

    dgt keeps the gateway ids and masked details only (`XXXXXX1234`, `ab***@okhdfc`), never the
    full account number. At most one `active` account per user (partial unique constraint).
    `cooloff_until`: payouts to it are refused before then (account-takeover defence,
    docs/wallet.md "Payout accounts"). `validation_status`: RazorpayX fund account validation
    (penny drop / VPA check) when PAYOUT_ACCOUNT_VALIDATION is on; payouts need `completed` then.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payout_accounts")
    kind = models.CharField(max_length=16, choices=PayoutAccountKind.choices)
    status = models.CharField(max_length=16, choices=PayoutAccountStatus.choices, default=PayoutAccountStatus.ACTIVE)
    contact_id = models.CharField(max_length=64)
    # Not unique: RazorpayX answers the same fund account for the same details of one contact.
    fund_account_id = models.CharField(max_length=64, db_index=True)
    holder_name = models.CharField(max_length=120, blank=True, default="")
    ifsc = models.CharField(max_length=11, blank=True, default="")
    account_number_masked = models.CharField(max_length=24, blank=True, default="")
    vpa_masked = models.CharField(max_length=100, blank=True, default="")
    cooloff_until = models.DateTimeField()
    validation_status = models.CharField(max_length=16, choices=ValidationStatus.choices,
                                         default=ValidationStatus.NOT_REQUESTED)
    validation_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    validation_detail = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_reason = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["user", "-id"], name="wallet_payout_account_user_idx")]
        constraints = [
            models.UniqueConstraint(fields=["user"], condition=Q(status="active"),
                                    name="wallet_one_active_payout_account"),
        ]

    @property
    def masked(self) -> str:
        """`HDFC0000001 XXXXXX1234` or `ab***@okhdfc`."""
        if self.kind == PayoutAccountKind.VPA:
            return self.vpa_masked
        return f"{self.ifsc} {self.account_number_masked}"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.masked} of user {self.user_id} ({self.status})"
