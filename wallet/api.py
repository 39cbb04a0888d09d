"""Wallet API: balance, history, refunds (admin), top-ups, payout accounts, payouts, Razorpay
webhook. Thin views."""
from __future__ import annotations

import functools

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.permissions import IsAdmin
from core.api.pagination import paginated_response
from core.api.ratelimit import ratelimit

from . import services
from .idempotency import HEADER, fingerprint, idempotent_response, key_from_request, stored_response_http
from .gateways import get_gateway
from .selectors import (
    payout_account_list_for_user, payout_list_for_user, topup_list_for_user, transaction_list_for_user,
    wallet_for_user,
)
from .serializers import (
    PayoutAccountInputSerializer, PayoutAccountSerializer, PayoutInputSerializer, PayoutSerializer,
    RefundInputSerializer, RefundOutputSerializer, TopupInputSerializer, TopupSerializer, TopupVerifyInputSerializer,
    TransactionSerializer, WalletSerializer, wallet_out,
)
from .services.payout_accounts import payout_account_add, payout_account_remove
from .services.topups import topup_order_prepare, topup_order_record, topup_verify
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
        return paginated_response(request, transaction_list_for_user(user=request.user), TransactionSerializer,
                                  view=self)


class RefundView(APIView):
    """`POST /api/wallet/refund` {userId, amount, reason, refId} + Idempotency-Key: admins only."""

    permission_classes = [IsAdmin]

    @extend_schema(request=RefundInputSerializer, responses={201: RefundOutputSerializer},
                   parameters=[IDEMPOTENCY_PARAM])
    @ratelimit(rate="wallet_refund", key="user")
    def post(self, request):
        key = key_from_request(request)
        data = RefundInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        stored = services.refund_request(
            user_id=v["userId"], amount=v["amount"], reason=v["reason"], ref_id=v["refId"], actor=request.user,
            idempotency_key=key, fingerprint=fingerprint(method=request.method, path=request.path, data=request.data),
            render=lambda result: RefundOutputSerializer(result).data)
        return stored_response_http(stored)


class PayoutListCreateView(APIView):
    """`GET /api/wallet/payouts` (own, paginated); `POST /api/wallet/payouts` {amount} + Idempotency-Key."""

    @extend_schema(responses=PayoutSerializer(many=True))
    def get(self, request):
        return paginated_response(request, payout_list_for_user(user=request.user), PayoutSerializer, view=self)

    @extend_schema(request=PayoutInputSerializer, responses={201: PayoutSerializer}, parameters=[IDEMPOTENCY_PARAM])
    @ratelimit(rate="wallet_payout", key="user")
    def post(self, request):
        key = key_from_request(request)
        data = PayoutInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        stored = services.payout_request_once(
            user=request.user, amount=data.validated_data["amount"], idempotency_key=key,
            fingerprint=fingerprint(method=request.method, path=request.path, data=request.data),
            render=lambda payout: PayoutSerializer(payout).data)
        return stored_response_http(stored)


def _topup_body(order) -> dict:
    return TopupSerializer(order, context={"key_id": get_gateway().key_id}).data


class TopupListCreateView(APIView):
    """`GET /api/wallet/topups` (own orders, paginated); `POST /api/wallet/topups` {amount} +
    Idempotency-Key -> 201 {orderId, amount, currency, keyId, status} for Razorpay Checkout."""

    @extend_schema(responses=TopupSerializer(many=True))
    def get(self, request):
        key_id = get_gateway().key_id
        return paginated_response(request, topup_list_for_user(user=request.user),
                                  functools.partial(TopupSerializer, context={"key_id": key_id}), view=self)

    @extend_schema(request=TopupInputSerializer, responses={201: TopupSerializer}, parameters=[IDEMPOTENCY_PARAM])
    @ratelimit(rate="wallet_topup", key="user")
    def post(self, request):
        key_from_request(request)
        data = TopupInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        amount = data.validated_data["amount"]

        def handler(key: str, gateway_order):
            order = topup_order_record(user=request.user, amount=amount, order=gateway_order, idempotency_key=key)
            return 201, _topup_body(order)

        return idempotent_response(request, handler=handler,
                                   prepare=lambda key: topup_order_prepare(user=request.user, amount=amount))


class TopupVerifyView(APIView):
    """`POST /api/wallet/topups/{orderId}/verify` {paymentId, signature} (Checkout's answer) -> 200
    with the order, `status: "paid"` once credited. Repeating it answers the same and credits nothing."""

    @extend_schema(request=TopupVerifyInputSerializer, responses={200: TopupSerializer})
    @ratelimit(rate="wallet_topup", key="user")
    def post(self, request, order_id: str):
        data = TopupVerifyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order, _ = topup_verify(user=request.user, order_id=order_id, payment_id=data.validated_data["paymentId"],
                                signature=data.validated_data["signature"])
        return Response(_topup_body(order))


class PayoutAccountView(APIView):
    """`GET /api/wallet/payout-accounts` (own, masked, newest first); `POST` a bank account
    {name, ifsc, accountNumber} or {vpa} -> 201, the new active account (replaces the previous one,
    `availableAt` ends its cool-off); `DELETE` removes the active account -> 200."""

    @extend_schema(responses=PayoutAccountSerializer(many=True))
    def get(self, request):
        return paginated_response(request, payout_account_list_for_user(user=request.user), PayoutAccountSerializer,
                                  view=self)

    @extend_schema(request=PayoutAccountInputSerializer, responses={201: PayoutAccountSerializer})
    @ratelimit(rate="wallet_payout_account", key="user")
    def post(self, request):
        data = PayoutAccountInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        account = payout_account_add(user=request.user, name=v["name"], ifsc=v["ifsc"],
                                     account_number=v["accountNumber"], vpa=v["vpa"])
        return Response(PayoutAccountSerializer(account).data, status=201)

    @extend_schema(request=None, responses={200: PayoutAccountSerializer})
    @ratelimit(rate="wallet_payout_account", key="user")
    def delete(self, request):
        return Response(PayoutAccountSerializer(payout_account_remove(user=request.user)).data)


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
