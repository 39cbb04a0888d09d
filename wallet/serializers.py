from rest_framework import serializers

from core.api.fields import MoneyField, RenamedModelSerializer
from core.api.output import api_money

from .models import Payout, PayoutAccount, TopupOrder, Transaction, Wallet


class WalletSerializer(RenamedModelSerializer):
    """A wallet: {userId, balance (INR), currency}."""

    balance = MoneyField(positive=False, read_only=True)

    class Meta:
        model = Wallet
        fields = ["userId", "balance", "currency"]
        renamed = {"userId": "user_id"}


def wallet_out(wallet: Wallet) -> dict:
    """`WalletSerializer(wallet).data` for GET /api/wallet without a serializer instance per
    request; tests/wallet/test_wallet_out.py keeps the two identical."""
    return {"userId": wallet.user_id, "balance": api_money(wallet.balance), "currency": wallet.currency}


class TransactionSerializer(RenamedModelSerializer):
    """A journal entry as its wallet owner sees it; `amount` is the signed change to the balance."""

    amount = MoneyField(positive=False, read_only=True)

    class Meta:
        model = Transaction
        fields = ["id", "kind", "amount", "refId", "reason", "createdAt"]
        renamed = {"refId": "ref_id", "createdAt": "created_at"}


class PayoutSerializer(RenamedModelSerializer):
    """A payout request: {id, amount (INR), status, failureReason, createdAt, updatedAt}."""

    amount = MoneyField(read_only=True)

    class Meta:
        model = Payout
        fields = ["id", "amount", "status", "failureReason", "createdAt", "updatedAt"]
        renamed = {"failureReason": "failure_reason", "createdAt": "created_at", "updatedAt": "updated_at"}


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


class TopupSerializer(RenamedModelSerializer):
    """A top-up order: `orderId` and `keyId` open Razorpay Checkout; status created | paid."""

    amount = MoneyField(read_only=True)
    keyId = serializers.SerializerMethodField()
    paymentId = serializers.CharField(source="payment_id", read_only=True, allow_null=True)
    paidAt = serializers.DateTimeField(source="paid_at", read_only=True, allow_null=True)

    class Meta:
        model = TopupOrder
        fields = ["orderId", "amount", "currency", "keyId", "status", "paymentId", "createdAt", "paidAt"]
        renamed = {"orderId": "gateway_order_id", "createdAt": "created_at"}

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


class PayoutAccountSerializer(RenamedModelSerializer):
    """A payout account as its owner (and admins) see it: masked, never the full number."""

    class Meta:
        model = PayoutAccount
        fields = ["id", "kind", "status", "name", "ifsc", "accountNumber", "vpa", "availableAt", "validationStatus",
                  "createdAt"]
        renamed = {"accountNumber": "account_number_masked", "vpa": "vpa_masked", "name": "holder_name",
                   "availableAt": "cooloff_until", "validationStatus": "validation_status", "createdAt": "created_at"}
