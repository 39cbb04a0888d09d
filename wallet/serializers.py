from rest_framework import serializers

from core.api.fields import MoneyField
from core.api.output import api_money

from .models import Payout, Transaction, Wallet


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
