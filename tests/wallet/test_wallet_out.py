"""`wallet_out` (GET /api/wallet's renderer) gives exactly `WalletSerializer(...).data`."""
from __future__ import annotations

from decimal import Decimal

import pytest

from wallet.models import Wallet
from wallet.serializers import WalletSerializer, wallet_out


@pytest.mark.django_db
@pytest.mark.parametrize("balance", ["0", "0.00", "5.5", "1234.56", "999999999999.99"])
def test_wallet_out_matches_the_serializer(seller, balance):
    wallet = Wallet.objects.create(user=seller, balance=Decimal(balance))
    wallet.refresh_from_db()
    assert wallet_out(wallet) == dict(WalletSerializer(wallet).data)


@pytest.mark.django_db
def test_a_user_without_a_wallet_reads_zero(seller, api_for):
    assert api_for(seller).get("/api/wallet").json() == {"userId": seller.pk, "balance": "0.00", "currency": "INR"}
    assert Wallet.objects.count() == 0  # reading never creates one
