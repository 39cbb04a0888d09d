"""Wallet API: balance, history, refunds (admin), payouts, Razorpay webhook. Thin views."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.permissions import IsAdmin
from core.api.pagination import Pagination
from core.api.ratelimit import ratelimit

from . import services
from .idempotency import HEADER, idempotent_response, key_from_request
from .selectors import payout_list_for_user, transaction_list_for_user, wallet_balance, wallet_for_user
from .serializers import (
    PayoutInputSerializer, PayoutSerializer, RefundInputSerializer, RefundOutputSerializer, TransactionSerializer,
    WalletSerializer, wallet_out,
)
from .services.webhooks import webhook_receive

IDEMPOTENCY_PARAM = OpenApiParameter(HEADER, str, OpenApiParameter.HEADER, required=True,
                                     description="Unique per request; a repeat replays the first answer.")


class WalletView(APIView):
    """`GET /api/wallet` -> {userId, balance, currency} of the caller (one query: user + wallet)."""

    user_select_related = ("wallet",)

    @extend_schema(responses=WalletSerializer)
    def get(self, request):
        return Response(wallet_out(wallet_for_user(user=request.user)))


class TransactionListView(APIView):
    """`GET /api/wallet/transactions`: the caller's journal entries, newest first, paginated."""

    @extend_schema(responses=TransactionSerializer(many=True))
    def get(self, request):
        paginator = Pagination()
        page = paginator.paginate_queryset(transaction_list_for_user(user=request.user), request, view=self)
        return paginator.get_paginated_response(TransactionSerializer(page, many=True).data)


class RefundView(APIView):
    """`POST /api/wallet/refund` {userId, amount, reason, refId} + Idempotency-Key: admins only."""

    permission_classes = [IsAdmin]

    @extend_schema(request=RefundInputSerializer, responses={201: RefundOutputSerializer},
                   parameters=[IDEMPOTENCY_PARAM])
    @ratelimit(rate="wallet_refund", key="user")
    def post(self, request):
        key_from_request(request)
        data = RefundInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data

        def handler(key: str):
            result = services.refund_issue(user_id=v["userId"], amount=v["amount"], reason=v["reason"],
                                           ref_id=v["refId"], actor=request.user, idempotency_key=key)
            if result.balance is None:  # replayed by the ledger's own key (the key row was purged)
                result = services.RefundResult(transaction=result.transaction, replayed=True,
                                               balance=wallet_balance(user_id=result.transaction.wallet_id))
            return 201, RefundOutputSerializer(result).data

        return idempotent_response(request, handler=handler)


class PayoutListCreateView(APIView):
    """`GET /api/wallet/payouts` (own, paginated); `POST /api/wallet/payouts` {amount} + Idempotency-Key."""

    @extend_schema(responses=PayoutSerializer(many=True))
    def get(self, request):
        paginator = Pagination()
        page = paginator.paginate_queryset(payout_list_for_user(user=request.user), request, view=self)
        return paginator.get_paginated_response(PayoutSerializer(page, many=True).data)

    @extend_schema(request=PayoutInputSerializer, responses={201: PayoutSerializer}, parameters=[IDEMPOTENCY_PARAM])
    @ratelimit(rate="wallet_payout", key="user")
    def post(self, request):
        key_from_request(request)
        data = PayoutInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)

        def handler(key: str):
            payout, _ = services.payout_request(user=request.user, amount=data.validated_data["amount"],
                                                idempotency_key=key)
            return 201, PayoutSerializer(payout).data

        return idempotent_response(request, handler=handler)


class RazorpayWebhookView(APIView):
    """`POST /api/webhooks/razorpay`: authenticated by X-Razorpay-Signature over the raw body (no
    JWT, no session, hence no CSRF). 200 {status} for processed, duplicate and ignored events."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=None, responses={200: dict})
    def post(self, request):
        outcome = webhook_receive(body=request.body, signature=request.headers.get("X-Razorpay-Signature", ""),
                                  event_id=request.headers.get("X-Razorpay-Event-Id", ""))
        return Response({"status": outcome})
