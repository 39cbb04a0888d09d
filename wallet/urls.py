from django.urls import path

from . import api

urlpatterns = [
    path("wallet", api.WalletView.as_view(), name="wallet"),
    path("wallet/transactions", api.TransactionListView.as_view(), name="wallet-transactions"),
    path("wallet/refund", api.RefundView.as_view(), name="wallet-refund"),
    path("wallet/payouts", api.PayoutListCreateView.as_view(), name="wallet-payouts"),
    path("wallet/topups", api.TopupListCreateView.as_view(), name="wallet-topups"),
    path("wallet/topups/<str:order_id>/verify", api.TopupVerifyView.as_view(), name="wallet-topup-verify"),
    path("wallet/payout-accounts", api.PayoutAccountView.as_view(), name="wallet-payout-accounts"),
    path("webhooks/razorpay", api.RazorpayWebhookView.as_view(), name="webhook-razorpay"),
]
