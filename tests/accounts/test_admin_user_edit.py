"""Editing users in Django admin goes through accounts.services (audit rows, socket re-check)."""
import pytest

from accounts.models import Role, User
from audit.models import AuditLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client, make_user):
    actor = make_user(Role.ADMIN, is_staff=True, is_superuser=True, username="root-admin")
    client.force_login(actor)
    client.actor = actor
    return client


def _change_form(user, **overrides):
    data = {"username": user.username, "first_name": user.first_name, "last_name": user.last_name,
            "email": user.email, "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2026-01-01", "initial-date_joined_1": "00:00:00"}
    if user.is_active:
        data["is_active"] = "on"
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_change_form_edit_is_audited_with_field_names(superuser_client, buyer):
    response = superuser_client.post(f"/admin/accounts/user/{buyer.pk}/change/",
                                     _change_form(buyer, email="new@example.com", first_name="Asha"))
    assert response.status_code == 302, response.content[:2000]
    buyer.refresh_from_db()
    assert (buyer.email, buyer.first_name) == ("new@example.com", "Asha")
    audit = AuditLog.objects.get(action="user.update")
    assert (audit.entity_id, audit.user_id) == (str(buyer.pk), superuser_client.actor.pk)
    assert audit.metadata == {"fields": ["first_name", "email"]}


def test_deactivating_rechecks_the_users_sockets(superuser_client, buyer, monkeypatch,
                                                 django_capture_on_commit_callbacks):
    rechecked = []
    monkeypatch.setattr("accounts.services.sockets_recheck", lambda *, user_id: rechecked.append(user_id))
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(f"/admin/accounts/user/{buyer.pk}/change/",
                                         _change_form(buyer, is_active=None))
    assert response.status_code == 302
    assert User.objects.get(pk=buyer.pk).is_active is False
    assert rechecked == [buyer.pk]
    assert AuditLog.objects.get(action="user.update").metadata == {"fields": ["is_active"]}


def test_saving_an_unchanged_form_writes_no_audit_row(superuser_client, buyer):
    response = superuser_client.post(f"/admin/accounts/user/{buyer.pk}/change/", _change_form(buyer))
    assert response.status_code == 302
    assert AuditLog.objects.filter(action="user.update").count() == 0


def test_add_form_creates_the_user_with_an_audit_row(superuser_client):
    response = superuser_client.post("/admin/accounts/user/add/", {
        "username": "newbie", "password1": "a-Long-pass-9876", "password2": "a-Long-pass-9876",
        "usable_password": "true"})
    assert response.status_code == 302, response.content[:2000]
    user = User.objects.get(username="newbie")
    assert user.check_password("a-Long-pass-9876") and user.role == Role.USER
    audit = AuditLog.objects.get(action="user.create")
    assert (audit.entity_id, audit.metadata) == (str(user.pk), {"username": "newbie"})


def test_service_refuses_fields_it_does_not_own(admin_user, buyer):
    from accounts.services import user_update
    from core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        user_update(user_id=buyer.pk, actor=admin_user, changes={"role": Role.ADMIN})
    assert User.objects.get(pk=buyer.pk).role == Role.USER
    assert AuditLog.objects.count() == 0
