"""Who may use the top-up and payout-account endpoints: anonymous 401, a blocked user 403
`user_blocked`, every signed-in role its own wallet only; a refused request changes nothing."""
import pytest
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.models import Role
from accounts.tokens import access_token_for
from wallet.models import PayoutAccount, PayoutAccountStatus, TopupOrder, TopupStatus

from .helpers import ACCOUNTS_URL, BANK, TOPUPS_URL, create_topup, pay, payable, snapshot

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "user", "moderator", "admin", "blocked"]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def actor(request, make_user, admin_user):
    role = request.param
    if role == "anonymous":
        return None
    user = make_user({"moderator": Role.MODERATOR, "admin": Role.ADMIN}.get(role, Role.USER),
                     username=f"authz-{role}")
    if role == "blocked":
        payable(user)  # something to remove, so only the block can refuse the DELETE
        account_services.user_block(user_id=user.pk, actor=admin_user, reason="authz")
        user.refresh_from_db()
    return user


def _client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}")
    return client


# The status of each call for a signed-in, unblocked user, and what it does to that user's rows
# (`_own_rows`): reads change nothing; a top-up order or an account is the caller's own.
ALLOWED = {"list topups": 200, "create topup": 201, "list accounts": 200, "add account": 201, "remove account": 200}
EFFECT = {
    "list topups": lambda before: before,
    "create topup": lambda before: {**before, "topups": [TopupStatus.CREATED]},
    "list accounts": lambda before: before,
    "add account": lambda before: {**before, "accounts": [PayoutAccountStatus.ACTIVE]},
    "remove account": lambda before: {**before, "accounts": [PayoutAccountStatus.REMOVED]},
}


def _own_rows(user) -> dict:
    """The user's top-up orders and payout accounts (statuses, oldest first) and everyone else's
    rows of both (pk, status): an allowed call changes only the caller's own."""
    if user is None:
        return {}
    return {"topups": list(TopupOrder.objects.filter(user=user).order_by("pk").values_list("status", flat=True)),
            "accounts": list(PayoutAccount.objects.filter(user=user).order_by("pk").values_list("status", flat=True)),
            "others": (sorted(TopupOrder.objects.exclude(user=user).values_list("pk", "status")),
                       sorted(PayoutAccount.objects.exclude(user=user).values_list("pk", "status")))}


def _calls(owner_client, client):
    order = create_topup(owner_client, "10.00", key="owner-order").json()["orderId"]
    payment_id, signature = pay(order)
    return {
        "list topups": lambda: client.get(TOPUPS_URL),
        "create topup": lambda: client.post(TOPUPS_URL, {"amount": "10.00"}, format="json",
                                            HTTP_IDEMPOTENCY_KEY="authz-1"),
        "list accounts": lambda: client.get(ACCOUNTS_URL),
        "add account": lambda: client.post(ACCOUNTS_URL, BANK, format="json"),
        "remove account": lambda: client.delete(ACCOUNTS_URL),
        "verify": lambda: client.post(f"{TOPUPS_URL}/{order}/verify",
                                      {"paymentId": payment_id, "signature": signature}, format="json"),
    }


@pytest.mark.parametrize("actor", ROLES, indirect=True)
@pytest.mark.parametrize("call", ["list topups", "create topup", "list accounts", "add account", "remove account",
                                  "verify"])
def test_matrix(actor, call, seller, api_for):
    if actor is not None and not actor.blocked_at and call == "remove account":
        payable(actor)
    calls = _calls(api_for(seller), _client(actor))
    before, own_before = snapshot(), _own_rows(actor)

    response = calls[call]()

    if actor is None:
        assert response.status_code == 401
    elif actor.blocked_at:
        assert (response.status_code, response.json()["error"]["code"]) == (403, "user_blocked")
    elif call == "verify":  # the order is the seller's: another user cannot even see it exists
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    else:  # allowed: exactly the caller's own rows change
        assert response.status_code == ALLOWED[call], response.json()
        assert _own_rows(actor) == EFFECT[call](own_before)
        return
    assert snapshot() == before
