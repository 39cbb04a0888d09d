"""Payout accounts: where a user's payouts go (RazorpayX Contact + Fund Account), one active per user.

Rules (docs/wallet.md "Payout accounts"): the details are validated here (IFSC, VPA, account
number), sent to the gateway, and only the gateway ids and masked details are stored. Adding an
account replaces the active one; a new account receives no payout for
PAYOUT_ACCOUNT_COOLOFF_SECONDS (a changed payout account is the classic account-takeover fraud);
with PAYOUT_ACCOUNT_VALIDATION on it also needs a successful RazorpayX fund account validation.
Every change writes one AuditLog row and notifies the user (`payout_account_changed`).

Locks: add takes the user row (FOR NO KEY UPDATE, which blocks no foreign-key insert) so two adds
of one user are serialized; remove, disable and `payout_account_ready` (called by a payout) lock
the account row. No path takes them in the other order, so they cannot deadlock.
"""
from __future__ import annotations

import re
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from core.errors import Conflict, ErrorCode, NotFound, Unprocessable, ValidationFailed
from notifications.recording import notification_record

from ..errors import GatewayDown
from ..gateways import (
    BankAccount, GatewayRejected, GatewayTimeout, GatewayUnavailable, GatewayValidation, get_gateway,
)
from ..models import PayoutAccount, PayoutAccountKind, PayoutAccountStatus, ValidationStatus

# RBI: 4 letters (bank), 0, 6 letters or digits (branch).
IFSC_RE = re.compile(r"[A-Z]{4}0[A-Z0-9]{6}")
# Indian bank account numbers are 9 to 18 digits.
ACCOUNT_NUMBER_RE = re.compile(r"(?!0+$)[0-9]{9,18}")  # all zeros is no bank's account number
# Control characters (line breaks, tabs, ESC) and bidi overrides/isolates: a name carrying them
# reads differently in the admin, the audit log and the bank's records (names are shown to
# admins next to payouts). ZWJ/ZWNJ stay allowed: Indic scripts need them.
_HIDDEN_CHARS_RE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# NPCI VPA: a handle of letters, digits, dot, hyphen, underscore; "@"; the PSP's letters.
VPA_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,255}@[A-Za-z][A-Za-z0-9]{1,63}")


def mask_account_number(number: str) -> str:
    """`123456781234` -> `XXXXXXXX1234` (the last 4 digits only)."""
    return "X" * (len(number) - 4) + number[-4:]


def mask_vpa(vpa: str) -> str:
    """`alice.k@okhdfc` -> `al***@okhdfc`."""
    handle, psp = vpa.split("@", 1)
    return f"{handle[:2]}***@{psp}"


def _clean(*, name: str, ifsc: str, account_number: str, vpa: str) -> tuple[BankAccount | None, str]:
    """The bank account or the VPA, normalized; raises ValidationFailed (400) naming each bad field."""
    name, ifsc, vpa = name.strip(), ifsc.strip().upper(), vpa.strip()
    account_number = account_number.replace(" ", "")
    if bool(vpa) == bool(ifsc or account_number):
        raise ValidationFailed("Give a bank account {name, ifsc, accountNumber} or a UPI address {vpa}, not both.",
                               fields={"vpa": "Either vpa or a bank account."})
    if vpa:
        if not VPA_RE.fullmatch(vpa):
            raise ValidationFailed("Not a UPI address (handle@bank).", fields={"vpa": "Not a valid UPI address."})
        return None, vpa.lower()
    errors = {}
    if not 3 <= len(name) <= 120:
        errors["name"] = "The account holder's name, 3 to 120 characters."
    elif _HIDDEN_CHARS_RE.search(name):
        errors["name"] = "The account holder's name may not contain control or text-direction characters."
    if not IFSC_RE.fullmatch(ifsc):
        errors["ifsc"] = "An IFSC is 11 characters: 4 letters, 0, 6 letters or digits."
    if not ACCOUNT_NUMBER_RE.fullmatch(account_number):
        errors["accountNumber"] = "9 to 18 digits."
    if errors:
        raise ValidationFailed("Invalid bank account details.", fields=errors)
    return BankAccount(name=name, ifsc=ifsc, account_number=account_number), ""


def _register(*, user, bank: BankAccount | None, vpa: str) -> tuple[str, str, GatewayValidation | None]:
    """Create the Contact (reused from the user's earlier accounts) and the Fund Account, and
    validate it when configured. HTTP: outside any transaction. Returns (contact, fund account,
    validation or None). Raises Unprocessable (422 rejected / invalid), GatewayDown (503)."""
    gateway = get_gateway()
    try:
        contact_id = (PayoutAccount.objects.filter(user_id=user.pk).values_list("contact_id", flat=True).first()
                      or gateway.contact_create(name=bank.name if bank else user.username, email=user.email or "",
                                                reference=f"dgt-user-{user.pk}"))
        fund_account_id = gateway.fund_account_create(contact_id=contact_id, bank=bank, vpa=vpa)
        validation = (gateway.fund_account_validate(fund_account_id=fund_account_id)
                      if settings.PAYOUT_ACCOUNT_VALIDATION else None)
    except GatewayRejected as exc:
        raise Unprocessable(f"The payment gateway refused these details: {exc}",
                            code=ErrorCode.PAYOUT_ACCOUNT_REJECTED) from exc
    except (GatewayTimeout, GatewayUnavailable) as exc:
        raise GatewayDown(f"The payment gateway did not answer: {exc}") from exc
    if validation is not None and (validation.status == "failed" or
                                   (validation.status == "completed" and validation.account_status != "active")):
        raise Unprocessable("The bank reports this account as invalid; check the details.",
                            code=ErrorCode.PAYOUT_ACCOUNT_INVALID)
    return contact_id, fund_account_id, validation


def _notify(account: PayoutAccount, change: str) -> None:
    notification_record(user_id=account.user_id, template_key="payout_account_changed",
                         payload={"change": change, "account": account.masked, "availableAt": account.cooloff_until},
                         dedupe_key=f"payout_account_{change}:{account.pk}")


def payout_account_add(*, user, name: str = "", ifsc: str = "", account_number: str = "",
                       vpa: str = "") -> PayoutAccount:
    """Register a bank account ({name, ifsc, accountNumber}) or a UPI address ({vpa}) as the user's
    active payout account, replacing the previous one. It can receive payouts after
    PAYOUT_ACCOUNT_COOLOFF_SECONDS (`cooloff_until`) and, with validation on, once validated.
    Audited (`wallet.payout_account.add`) and notified. Raises ValidationFailed (400),
    Unprocessable (422 `payout_account_rejected` / `payout_account_invalid`), GatewayDown (503);
    nothing is stored then."""
    bank, vpa = _clean(name=name, ifsc=ifsc, account_number=account_number, vpa=vpa)
    contact_id, fund_account_id, validation = _register(user=user, bank=bank, vpa=vpa)
    with transaction.atomic():
        get_user_model().objects.select_for_update(no_key=True).filter(pk=user.pk).first()
        now = timezone.now()
        account = PayoutAccount(
            user_id=user.pk, contact_id=contact_id, fund_account_id=fund_account_id,
            kind=PayoutAccountKind.VPA if vpa else PayoutAccountKind.BANK_ACCOUNT,
            holder_name=bank.name if bank else "", ifsc=bank.ifsc if bank else "",
            account_number_masked=mask_account_number(bank.account_number) if bank else "",
            vpa_masked=mask_vpa(vpa) if vpa else "",
            cooloff_until=now + timedelta(seconds=settings.PAYOUT_ACCOUNT_COOLOFF_SECONDS))
        if validation is not None:
            account.validation_id = validation.validation_id
            account.validation_status = (ValidationStatus.COMPLETED if validation.status == "completed"
                                         else ValidationStatus.PENDING)
            account.validation_detail = validation.registered_name[:200]
        previous = list(PayoutAccount.objects.filter(user_id=user.pk, status=PayoutAccountStatus.ACTIVE))
        PayoutAccount.objects.filter(pk__in=[p.pk for p in previous]).update(
            status=PayoutAccountStatus.REPLACED, ended_at=now, ended_reason="replaced by a new account")
        account.save()
        audit_record(action="wallet.payout_account.add", entity_type="payout_account", entity_id=account.pk,
                     user=user, metadata={"kind": account.kind, "account": account.masked,
                                          "cooloffUntil": account.cooloff_until.isoformat(),
                                          "replaced": [p.pk for p in previous]})
        _notify(account, "added")
    return account


def _end(*, account_id: int, user_id: int | None, status: str, actor, reason: str, action: str) -> PayoutAccount:
    with transaction.atomic():
        qs = PayoutAccount.objects.select_for_update().filter(pk=account_id)
        if user_id is not None:
            qs = qs.filter(user_id=user_id)
        account = qs.first()
        if account is None:
            raise NotFound("No such payout account.")
        if account.status != PayoutAccountStatus.ACTIVE:
            raise Conflict(f"This payout account is already {account.status}.", code=ErrorCode.PAYOUT_ACCOUNT_NOT_ACTIVE)
        account.status, account.ended_at, account.ended_reason = status, timezone.now(), reason[:500]
        account.save(update_fields=["status", "ended_at", "ended_reason"])
        audit_record(action=action, entity_type="payout_account", entity_id=account.pk, user=actor, reason=reason,
                     metadata={"userId": account.user_id, "account": account.masked})
        _notify(account, status)
    return account


def payout_account_remove(*, user) -> PayoutAccount:
    """Remove the user's active payout account (payouts are refused until another is added and
    cooled off). Audited (`wallet.payout_account.remove`) and notified. Raises NotFound (404)."""
    account = PayoutAccount.objects.filter(user_id=user.pk, status=PayoutAccountStatus.ACTIVE).first()
    if account is None:
        raise NotFound("You have no active payout account.")
    return _end(account_id=account.pk, user_id=user.pk, status=PayoutAccountStatus.REMOVED, actor=user,
                reason="removed by the user", action="wallet.payout_account.remove")


def payout_account_disable(*, account_id: int, actor, reason: str) -> PayoutAccount:
    """An admin disables an active payout account (e.g. suspected fraud): no further payout goes
    to it, including payouts requested but not yet sent. Audited (`wallet.payout_account.disable`)
    with the reason; the user is notified. Raises ValidationFailed (no reason), NotFound,
    Conflict (409 `payout_account_not_active`)."""
    if not reason or not reason.strip():
        raise ValidationFailed.required("reason", "A reason is required.")
    return _end(account_id=account_id, user_id=None, status=PayoutAccountStatus.DISABLED, actor=actor,
                reason=reason.strip(), action="wallet.payout_account.disable")


def payout_account_ready(*, user_id: int) -> PayoutAccount:
    """The user's active payout account, locked, if it may receive a payout now. Call inside the
    payout's transaction. Raises Conflict (409): `payout_account_required` (none),
    `payout_account_cooling_off` (fields.availableAt: when it may), `payout_account_unverified`."""
    account = PayoutAccount.objects.select_for_update().filter(user_id=user_id,
                                                               status=PayoutAccountStatus.ACTIVE).first()
    if account is None:
        raise Conflict("Add a payout account first (POST /api/wallet/payout-accounts).",
                       code=ErrorCode.PAYOUT_ACCOUNT_REQUIRED)
    if timezone.now() < account.cooloff_until:
        raise Conflict(f"Your payout account was added recently; payouts to it are possible from "
                       f"{account.cooloff_until.isoformat()}.", code=ErrorCode.PAYOUT_ACCOUNT_COOLING_OFF,
                       fields={"availableAt": account.cooloff_until.isoformat()})
    if account.validation_status in (ValidationStatus.PENDING, ValidationStatus.FAILED):
        raise Conflict(f"Your payout account's validation is {account.validation_status}.",
                       code=ErrorCode.PAYOUT_ACCOUNT_UNVERIFIED)
    return account


@transaction.atomic
def payout_account_validation_apply(*, validation: GatewayValidation) -> bool:
    """Record a fund account validation result (webhook `fund_account.validation.*`) on the account
    that asked for it. Returns whether an account changed. A completed validation of an invalid
    account marks it failed (payouts refused)."""
    account = PayoutAccount.objects.select_for_update().filter(validation_id=validation.validation_id).first()
    if account is None or validation.status == "pending":
        return False
    ok = validation.status == "completed" and validation.account_status == "active"
    status = ValidationStatus.COMPLETED if ok else ValidationStatus.FAILED
    if account.validation_status == status:
        return False
    account.validation_status, account.validation_detail = status, validation.registered_name[:200]
    account.save(update_fields=["validation_status", "validation_detail"])
    return True
