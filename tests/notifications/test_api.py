"""`/api/notifications`, devices and preferences: own data only, validation writes nothing."""
import pytest

from audit.models import AuditLog
from notifications.models import Device, Notification, NotificationPreference
from notifications.services import notifications_retry


def _notification(user, key, **kwargs):
    return Notification.objects.create(user=user, template_key="listing_expired", channel="email",
                                       payload={"id": 1, "title": "Sofa"}, dedupe_key=key, **kwargs)


def test_list_shows_own_notifications_newest_first_in_the_design_shape(seller, buyer, api_for):
    first = _notification(seller, "a:email")
    second = _notification(seller, "b:email", status="sent")
    _notification(buyer, "c:email")

    response = api_for(seller).get("/api/notifications")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [n["id"] for n in body["results"]] == [second.pk, first.pk]
    assert set(body["results"][0]) == {"id", "templateKey", "channel", "status", "data", "sentAt", "createdAt"}
    assert body["results"][0]["templateKey"] == "listing_expired" and body["results"][0]["data"] == {"id": 1,
                                                                                                     "title": "Sofa"}


def test_anonymous_gets_401(api):
    assert api.get("/api/notifications").status_code == 401
    assert api.post("/api/notifications/devices", {"token": "t"}, format="json").status_code == 401


def test_register_list_and_unregister_a_device(seller, buyer, api_for):
    client = api_for(seller)
    created = client.post("/api/notifications/devices", {"token": "fcm-1", "platform": "ios"}, format="json")
    assert created.status_code == 201
    assert created.json()["token"] == "fcm-1" and created.json()["active"] is True

    # The same token registered again by another user (shared phone) moves to them.
    assert api_for(buyer).post("/api/notifications/devices", {"token": "fcm-1"}, format="json").status_code == 201
    assert Device.objects.get(token="fcm-1").user == buyer
    assert client.get("/api/notifications/devices").json()["results"] == []

    device_id = Device.objects.get(token="fcm-1").pk
    assert client.delete(f"/api/notifications/devices/{device_id}").status_code == 404  # not the seller's
    assert api_for(buyer).delete(f"/api/notifications/devices/{device_id}").status_code == 204
    assert Device.objects.get(token="fcm-1").active is False


@pytest.mark.parametrize("body", [{"token": ""}, {"token": "  "}, {"token": "t", "platform": "symbian"}, {}])
def test_bad_device_input_is_400_and_writes_nothing(seller, api_for, body):
    response = api_for(seller).post("/api/notifications/devices", body, format="json")
    assert response.status_code == 400
    assert "error" in response.json()
    assert Device.objects.count() == 0


def test_preferences_default_then_patch(seller, api_for):
    client = api_for(seller)
    assert client.get("/api/notifications/preferences").json() == {
        "phone": "", "phoneActive": True, "push": True, "sms": True, "email": True}
    response = client.patch("/api/notifications/preferences", {"phone": "+919812345678", "sms": False}, format="json")
    assert response.status_code == 200
    assert response.json() == {"phone": "+919812345678", "phoneActive": True, "push": True, "sms": False, "email": True}
    pref = NotificationPreference.objects.get(user=seller)
    assert (pref.phone, pref.sms_enabled) == ("+919812345678", False)


def test_a_new_phone_number_is_active_again(seller, api_for):
    NotificationPreference.objects.create(user=seller, phone="+919800000000", phone_active=False)
    response = api_for(seller).patch("/api/notifications/preferences", {"phone": "+919811111111"}, format="json")
    assert response.json()["phoneActive"] is True


@pytest.mark.parametrize("body", [{"phone": "98123"}, {"phone": "+0123456789"}, {"sms": "maybe"}])
def test_bad_preferences_are_400_and_write_nothing(seller, api_for, body):
    response = api_for(seller).patch("/api/notifications/preferences", body, format="json")
    assert response.status_code == 400
    assert NotificationPreference.objects.count() == 0


def test_admin_retry_requeues_failed_and_sends_once_with_an_audit_row(db, admin_user, seller, scripted,
                                                                      django_capture_on_commit_callbacks):
    failed = _notification(seller, "f:email", status="failed", error="provider down")
    sent = _notification(seller, "s:email", status="sent")
    with django_capture_on_commit_callbacks(execute=True):
        ids = notifications_retry(notification_ids=[failed.pk, sent.pk], actor=admin_user)
    assert ids == [failed.pk]
    failed.refresh_from_db()
    assert (failed.status, failed.error) == ("sent", "")
    assert len(scripted["email"].calls) == 1
    assert list(AuditLog.objects.values_list("action", "entity_id", "metadata")) == [
        ("notification.retry", str(failed.pk), {"previousStatus": "failed"})]


def test_admin_retry_takes_stuck_sending_rows_only_when_stale(db, admin_user, seller, scripted, settings,
                                                              django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    settings.NOTIFICATION_STALE_SENDING_SECONDS = 600
    now = timezone.now()
    stuck = _notification(seller, "st:email", status="sending", claimed_at=now - timedelta(minutes=11))
    busy = _notification(seller, "bu:email", status="sending", claimed_at=now - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert notifications_retry(notification_ids=[stuck.pk, busy.pk], actor=admin_user) == [stuck.pk]
    assert dict(Notification.objects.values_list("pk", "status")) == {stuck.pk: "sent", busy.pk: "sending"}
    assert len(scripted["email"].calls) == 1


def test_admin_action_retries_through_the_service(db, admin_user, seller, client, scripted,
                                                  django_capture_on_commit_callbacks):
    failed = _notification(seller, "g:email", status="failed", error="provider down")
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/notifications/notification/",
                               {"action": "retry_failed", "_selected_action": [failed.pk]})
    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.status == "sent"
    assert AuditLog.objects.filter(action="notification.retry", entity_id=str(failed.pk)).count() == 1


@pytest.mark.parametrize("model", ["notification", "device", "notificationpreference"])
def test_admin_changelists_render(db, admin_user, seller, client, model):
    _notification(seller, "h:email")
    Device.objects.create(user=seller, token="t-admin")
    NotificationPreference.objects.create(user=seller, phone="+919800000002")
    client.force_login(admin_user)
    assert client.get(f"/admin/notifications/{model}/").status_code == 200
