"""Wallet writes. Every balance change goes through `ledger.entry_post` (one journal entry, one
guarded UPDATE of the wallet row); the modules here are the movements built on it."""
from .ledger import InsufficientFunds, charge_create, topup_credit, wallet_ensure  # noqa: F401
from .payout_accounts import (  # noqa: F401
    payout_account_add, payout_account_disable, payout_account_ready, payout_account_remove,
)
from .payouts import payout_request, payout_request_once, payout_submit, payout_transition  # noqa: F401
from .refunds import RefundResult, refund_issue, refund_request  # noqa: F401
from .topups import topup_order_credit, topup_order_prepare, topup_order_record, topup_verify  # noqa: F401
