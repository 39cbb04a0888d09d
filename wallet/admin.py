"""Wallet admin: everything read-only; money moves only through the refund action, which calls
the same service as the API with an idempotency key generated when the form is shown, so a
double submit (or a browser resubmit) credits once."""
from __future__ import annotations

import uuid
from decimal import Decimal

from django import forms
from django.contrib import admin, messages

from core.admin_actions import action_form, form_action
from core.admin_roles import ReadOnlyAdmin
from core.errors import ServiceError

from . import services
from .models import (
    IdempotencyKey, Payout, PayoutAccount, Posting, ReconciliationMismatch, ReconciliationRun, TopupOrder, Transaction,
    Wallet, WebhookEvent,
)
from .services.payout_accounts import payout_account_disable


class RefundForm(forms.Form):
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"), help_text="INR, e.g. 500.00")
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    ref_id = forms.CharField(max_length=100, label="Ref id", help_text="The charge refunded, e.g. listing-fee-1")
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)


class DisableForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text="Shown in the audit log and to the user.")


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = ("user", "balance", "currency", "updated_at")
    search_fields = ("user__username",)
    list_select_related = ("user",)
    readonly_fields = ("user", "balance", "currency", "payout_fund_account_id", "created_at", "updated_at")
    actions = ["refund_selected"]

    @admin.action(description="Refund to selected wallets")
    def refund_selected(self, request, queryset):
        return action_form(self, request, queryset, form_class=RefundForm, title="Refund",
                           template="admin/wallet/refund.html", initial={"idempotency_key": uuid.uuid4().hex},
                           apply=lambda form: self._refund_each(request, queryset, form.cleaned_data))

    def _refund_each(self, request, queryset, data: dict) -> None:
        """One refund per selected wallet (key `admin:<form key>:<wallet>`), each reported on its own line."""
        for wallet in queryset:
            try:
                result = services.refund_issue(
                    user_id=wallet.pk, amount=data["amount"], reason=data["reason"], ref_id=data["ref_id"],
                    actor=request.user, idempotency_key=f"admin:{data['idempotency_key']}:{wallet.pk}")
            except ServiceError as exc:
                self.message_user(request, f"{wallet.user}: {exc.message}", messages.ERROR)
                continue
            tx = result.transaction
            if result.replayed:
                self.message_user(request, f"{wallet.user}: this refund was already issued (transaction "
                                           f"#{tx.pk}); nothing credited again.", messages.WARNING)
            else:
                self.message_user(request, f"{wallet.user}: refunded {tx.amount} INR (transaction #{tx.pk}), "
                                           f"balance {result.balance}.", messages.SUCCESS)


class PostingInline(admin.TabularInline):
    model = Posting
    fields = ("account", "wallet", "amount")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "wallet", "amount", "ref_id", "created_by", "created_at")
    list_filter = ("kind",)
    search_fields = ("ref_id", "wallet__user__username", "idempotency_key")
    list_select_related = ("wallet__user", "created_by")
    readonly_fields = ("kind", "wallet", "amount", "ref_id", "reason", "idempotency_key", "unique_key", "created_by",
                       "request_id", "created_at")
    inlines = [PostingInline]


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    list_display = ("id", "wallet", "amount", "status", "gateway_payout_id", "attempts", "created_at", "updated_at")
    list_filter = ("status",)
    search_fields = ("wallet__user__username", "gateway_payout_id")
    list_select_related = ("wallet__user",)
    readonly_fields = [f.name for f in Payout._meta.fields]


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "event", "entity_id", "outcome", "received_at")
    list_filter = ("event", "outcome")
    readonly_fields = [f.name for f in WebhookEvent._meta.fields]


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    list_display = ("run_date", "checked", "changed", "mismatches", "errors", "finished_at")
    readonly_fields = [f.name for f in ReconciliationRun._meta.fields]


@admin.register(ReconciliationMismatch)
class ReconciliationMismatchAdmin(ReadOnlyAdmin):
    list_display = ("payout", "our_status", "gateway_status", "source", "detected_at")
    readonly_fields = [f.name for f in ReconciliationMismatch._meta.fields]


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdmin):
    list_display = ("owner", "key", "status", "response_status", "created_at")
    list_filter = ("status",)
    readonly_fields = [f.name for f in IdempotencyKey._meta.fields]


@admin.register(TopupOrder)
class TopupOrderAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "gateway_order_id", "amount", "status", "payment_id", "paid_via", "created_at",
                    "paid_at")
    list_filter = ("status", "paid_via")
    search_fields = ("user__username", "gateway_order_id", "payment_id")
    list_select_related = ("user",)
    readonly_fields = [f.name for f in TopupOrder._meta.fields]


@admin.register(PayoutAccount)
class PayoutAccountAdmin(ReadOnlyAdmin):
    """Masked details only (dgt never stores a full account number); "Disable" goes through
    `payout_account_disable` (audited, notified; pending payouts to it fail instead of being sent)."""

    list_display = ("id", "user", "kind", "masked", "status", "cooloff_until", "validation_status", "created_at")
    list_filter = ("status", "kind", "validation_status")
    search_fields = ("user__username", "fund_account_id", "account_number_masked", "vpa_masked")
    list_select_related = ("user",)
    readonly_fields = [f.name for f in PayoutAccount._meta.fields]
    actions = ["disable_selected"]

    @admin.display(description="account")
    def masked(self, obj: PayoutAccount) -> str:
        return obj.masked

    @admin.action(description="Disable selected payout accounts")
    def disable_selected(self, request, queryset):
        return form_action(self, request, queryset, form_class=DisableForm, title="Disable payout accounts",
                           noun="payout account",
                           call=lambda pk, user, form: payout_account_disable(account_id=pk, actor=user,
                                                                              reason=form.cleaned_data["reason"]))
