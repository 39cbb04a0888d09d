"""The real provider adapters against recorded HTTP (`responses`): FCM (firebase-admin), Twilio,
SendGrid (django-anymail). Nothing reaches the network: `responses` fails any unmatched call."""
from __future__ import annotations

import json

import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core import mail

from notifications.models import Device, Notification, NotificationPreference
from notifications.providers import PermanentProviderError, TransientProviderError, _provider
from notifications.providers.email import DjangoEmailProvider
from notifications.providers.fcm import FcmPushProvider
from notifications.providers.twilio_sms import TwilioSmsProvider
from notifications.sending import notification_send

from ..accounts.factories import UserFactory

FCM_SEND = "https://fcm.googleapis.com/v1/projects/dgt-test/messages:send"
TOKEN_URL = "https://oauth2.googleapis.com/token"
TWILIO_SID = "AC" + "0" * 32
TWILIO_URL = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
SENDGRID_URL = "https://api.sendgrid.com/v3/mail/send"


@pytest.fixture(scope="module")
def service_account_json() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return json.dumps({"type": "service_account", "project_id": "dgt-test", "private_key_id": "k1",
                       "private_key": pem, "client_email": "fcm@dgt-test.iam.gserviceaccount.com",
                       "client_id": "1", "token_uri": TOKEN_URL})


@pytest.fixture
def fcm(settings, service_account_json):
    import firebase_admin

    settings.FCM_CREDENTIALS_FILE = ""
    settings.FCM_CREDENTIALS_JSON = service_account_json
    yield FcmPushProvider()
    try:
        firebase_admin.delete_app(firebase_admin.get_app("dgt"))
    except ValueError:
        pass


def _fcm_error(status: int, grpc_status: str, fcm_code: str | None) -> dict:
    details = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcm_code}] if fcm_code else []
    return {"error": {"code": status, "message": f"{grpc_status} from test", "status": grpc_status, "details": details}}


def _fcm_by_token(outcomes: dict[str, tuple[int, dict]]):
    def callback(request):
        token = json.loads(request.body)["message"]["token"]
        status, body = outcomes[token]
        return status, {"Content-Type": "application/json"}, json.dumps(body)
    return callback


@responses.activate
def test_fcm_sorts_tokens_into_sent_invalid_and_transient(fcm):
    responses.add(responses.POST, TOKEN_URL, json={"access_token": "ya29.test", "expires_in": 3600, "token_type": "Bearer"})
    responses.add_callback(responses.POST, FCM_SEND, callback=_fcm_by_token({
        "good": (200, {"name": "projects/dgt-test/messages/1"}),
        "gone": (404, _fcm_error(404, "NOT_FOUND", "UNREGISTERED")),
        "garbled": (400, _fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT")),
        "busy": (503, _fcm_error(503, "UNAVAILABLE", "UNAVAILABLE")),
    }))

    result = fcm.send(tokens=["good", "gone", "garbled", "busy"], title="T", body="B", data={"k": "v"})

    assert result.sent == ["good"]
    assert sorted(result.invalid) == ["garbled", "gone"]
    assert result.invalid["gone"].startswith("UnregisteredError")
    assert list(result.transient) == ["busy"]
    sent = [json.loads(c.request.body)["message"] for c in responses.calls if c.request.url == FCM_SEND]
    assert {m["token"] for m in sent} == {"good", "gone", "garbled", "busy"}
    assert sent[0]["notification"] == {"title": "T", "body": "B"} and sent[0]["data"] == {"k": "v"}
    assert all(c.request.headers["Authorization"] == "Bearer ya29.test" for c in responses.calls
               if c.request.url == FCM_SEND)


@responses.activate
def test_fcm_unregistered_token_through_the_service_fails_and_deactivates_the_device(db, fcm, settings):
    settings.NOTIFICATION_PROVIDERS = {**settings.NOTIFICATION_PROVIDERS,
                                       "push": "notifications.providers.fcm.FcmPushProvider"}
    _provider.cache_clear()
    responses.add(responses.POST, TOKEN_URL, json={"access_token": "ya29.test", "expires_in": 3600, "token_type": "Bearer"})
    responses.add(responses.POST, FCM_SEND, status=404, json=_fcm_error(404, "NOT_FOUND", "UNREGISTERED"))
    user = UserFactory()
    Device.objects.create(user=user, token="stale-token")
    notification = Notification.objects.create(user=user, template_key="listing_expired", channel="push",
                                               payload={"title": "Sofa"}, dedupe_key="e:1:push")

    assert notification_send(notification_id=notification.pk) == "failed"
    notification.refresh_from_db()
    assert "UnregisteredError" in notification.error
    device = Device.objects.get(token="stale-token")
    assert device.active is False and device.deactivated_at is not None


@pytest.fixture
def twilio(settings):
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN, settings.TWILIO_FROM_NUMBER = TWILIO_SID, "secret", "+15005550006"
    return TwilioSmsProvider()


@responses.activate
def test_twilio_sends_the_message(twilio):
    responses.add(responses.POST, TWILIO_URL, status=201, json={"sid": "SM123", "status": "queued", "to": "+919812345678",
                                                                "account_sid": TWILIO_SID})
    assert twilio.send(to="+919812345678", body="hello") == "SM123"
    sent = responses.calls[0].request
    assert "To=%2B919812345678" in sent.body and "From=%2B15005550006" in sent.body and "Body=hello" in sent.body


@pytest.mark.parametrize(("status", "code", "kind", "recipient_invalid"), [
    (400, 21610, PermanentProviderError, True),    # recipient replied STOP
    (400, 21211, PermanentProviderError, True),    # invalid To number
    (400, 21602, PermanentProviderError, False),   # our request (empty body): keep the number
    (429, 20429, TransientProviderError, None),
    (503, 20500, TransientProviderError, None),
])
@responses.activate
def test_twilio_errors_are_classified(twilio, status, code, kind, recipient_invalid):
    responses.add(responses.POST, TWILIO_URL, status=status,
                  json={"code": code, "message": "from test", "more_info": "", "status": status})
    with pytest.raises(kind) as caught:
        twilio.send(to="+919812345678", body="hello")
    if recipient_invalid is not None:
        assert caught.value.recipient_invalid is recipient_invalid


@responses.activate
def test_twilio_unsubscribed_number_through_the_service_deactivates_the_phone(db, twilio, settings):
    settings.NOTIFICATION_PROVIDERS = {**settings.NOTIFICATION_PROVIDERS,
                                       "sms": "notifications.providers.twilio_sms.TwilioSmsProvider"}
    _provider.cache_clear()
    responses.add(responses.POST, TWILIO_URL, status=400,
                  json={"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400})
    user = UserFactory()
    NotificationPreference.objects.create(user=user, phone="+919812345678")
    notification = Notification.objects.create(user=user, template_key="payout_failed", channel="sms",
                                               payload={"amount": "500.00"}, dedupe_key="p:1:sms")

    assert notification_send(notification_id=notification.pk) == "failed"
    assert NotificationPreference.objects.get(user=user).phone_active is False
    assert "21610" in Notification.objects.get(pk=notification.pk).error


@pytest.fixture
def sendgrid(settings):
    settings.EMAIL_BACKEND = "anymail.backends.sendgrid.EmailBackend"
    settings.ANYMAIL = {"SENDGRID_API_KEY": "SG.test"}
    settings.DEFAULT_FROM_EMAIL = "dgt <no-reply@dgt.example>"
    return DjangoEmailProvider()


@responses.activate
def test_sendgrid_through_anymail_sends_the_email(sendgrid):
    responses.add(responses.POST, SENDGRID_URL, status=202, headers={"X-Message-Id": "sg-1"})
    sendgrid.send(to="asha@example.com", subject="Payout", body="Your payout ...")
    request = responses.calls[0].request
    body = json.loads(request.body)
    assert request.headers["Authorization"] == "Bearer SG.test"
    assert body["personalizations"][0]["to"] == [{"email": "asha@example.com"}]
    assert body["subject"] == "Payout" and body["from"] == {"email": "no-reply@dgt.example", "name": "dgt"}


@pytest.mark.parametrize(("status", "kind"), [(400, PermanentProviderError), (401, PermanentProviderError),
                                              (429, TransientProviderError), (500, TransientProviderError)])
@responses.activate
def test_sendgrid_errors_are_classified(sendgrid, status, kind):
    responses.add(responses.POST, SENDGRID_URL, status=status, json={"errors": [{"message": "from test"}]})
    with pytest.raises(kind):
        sendgrid.send(to="asha@example.com", subject="S", body="B")


def test_console_email_in_development_lands_in_the_mail_outbox(db):
    DjangoEmailProvider().send(to="asha@example.com", subject="S", body="B")  # locmem under pytest
    assert [(m.to, m.subject) for m in mail.outbox] == [(["asha@example.com"], "S")]
