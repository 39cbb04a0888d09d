from rest_framework import serializers

from core.api.fields import MoneyField
from core.api.output import api_money

from .models import Payout, PayoutAccount, TopupOrder, Transaction, Wallet


class WalletSerializer(serializers.ModelSerializer):
    userId = serializers.IntegerField(source="user_id", read_only=True)
    balance = MoneyField(positive=False, read_only=True)

    class Meta:
        model = Wallet
        fields = ["userId", "balance", "currency"]


def wallet_out(wallet: Wallet) -> dict:
    """`WalletSerializer(wallet).data` for GET /api/wallet without a serializer instance per
    request; tests/wallet/test_wallet_out.py keeps the two identical."""
    return {"userId": wallet.user_id, "balance": api_money(wallet.balance), "currency": wallet.currency}


class TransactionSerializer(serializers.ModelSerializer):
    """A journal entry as its wallet owner sees it; `amount` is the signed change to the balance."""

    amount = MoneyField(positive=False, read_only=True)
    refId = serializers.CharField(source="ref_id", read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Transaction
        fields = ["id", "kind", "amount", "refId", "reason", "createdAt"]


class PayoutSerializer(serializers.ModelSerializer):
    amount = MoneyField(read_only=True)
    failureReason = serializers.CharField(source="failure_reason", read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)

    class Meta:
        model = Payout
        fields = ["id", "amount", "status", "failureReason", "createdAt", "updatedAt"]


class RefundInputSerializer(serializers.Serializer):
    userId = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    amount = MoneyField()
    reason = serializers.CharField(max_length=2000)
    refId = serializers.CharField(max_length=100)


class RefundOutputSerializer(serializers.Serializer):
    transactionId = serializers.IntegerField(source="transaction.pk")
    userId = serializers.IntegerField(source="transaction.wallet_id")
    amount = MoneyField(source="transaction.amount")
    balance = MoneyField(positive=False)
    refId = serializers.CharField(source="transaction.ref_id")
    reason = serializers.CharField(source="transaction.reason")
    createdAt = serializers.DateTimeField(source="transaction.created_at")


class PayoutInputSerializer(serializers.Serializer):
    amount = MoneyField()


class TopupInputSerializer(serializers.Serializer):
    amount = MoneyField()


class TopupSerializer(serializers.ModelSerializer):
    """A top-up order: `orderId` and `keyId` open Razorpay Checkout; status created | paid."""

    orderId = serializers.CharField(source="gateway_order_id", read_only=True)
    amount = MoneyField(read_only=True)
    keyId = serializers.SerializerMethodField()
    paymentId = serializers.CharField(source="payment_id", read_only=True, allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    paidAt = serializers.DateTimeField(source="paid_at", read_only=True, allow_null=True)

    class Meta:
        model = TopupOrder
        fields = ["orderId", "amount", "currency", "keyId", "status", "paymentId", "createdAt", "paidAt"]

    def get_keyId(self, obj) -> str:
        return self.context.get("key_id", "")


class TopupVerifyInputSerializer(serializers.Serializer):
    paymentId = serializers.CharField(max_length=64)
    signature = serializers.CharField(max_length=128)


class PayoutAccountInputSerializer(serializers.Serializer):
    """A bank account {name, ifsc, accountNumber} or a UPI address {vpa}; formats are checked by
    the service (wallet.services.payout_accounts), which names each bad field."""

    name = serializers.CharField(max_length=120, required=False, default="", allow_blank=True)
    ifsc = serializers.CharField(max_length=11, required=False, default="", allow_blank=True)
    accountNumber = serializers.CharField(max_length=18, required=False, default="", allow_blank=True)
    vpa = serializers.CharField(max_length=320, required=False, default="", allow_blank=True)


class PayoutAccountSerializer(serializers.ModelSerializer):
    """A payout account as its owner (and admins) see it: masked, never the full number."""

    accountNumber = serializers.CharField(source="account_number_masked", read_only=True)
    vpa = serializers.CharField(source="vpa_masked", read_only=True)
    name = serializers.CharField(source="holder_name", read_only=True)
    availableAt = serializers.DateTimeField(source="cooloff_until", read_only=True)
    validationStatus = serializers.CharField(source="validation_status", read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = PayoutAccount
        fields = ["id", "kind", "status", "name", "ifsc", "accountNumber", "vpa", "availableAt", "validationStatus",
                  "createdAt"]
