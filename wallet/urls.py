from django.urls import path

from . import api

urlpatterns = [
    path("wallet", api.WalletView.as_view(), name="wallet"),
    path("wallet/transactions", api.TransactionListView.as_view(), name="wallet-transactions"),
    path("wallet/refund", api.RefundView.as_view(), name="wallet-refund"),
    path("wallet/payouts", api.PayoutListCreateView.as_view(), name="wallet-payouts"),
    path("webhooks/razorpay", api.RazorpayWebhookView.as_view(), name="webhook-razorpay"),
]
