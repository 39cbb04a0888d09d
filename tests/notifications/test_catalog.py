"""Template texts: every key has push, SMS and email text rendered with its payload."""
import pytest

from notifications.catalog import TEMPLATES, render

PAYLOADS = {
    "listing_approved": {"title": "Sofa", "expiresAt": "2026-12-31T18:30:00+00:00", "reason": ""},
    "listing_rejected": {"title": "Sofa", "reason": "Blurry photos"},
    "listing_expiring_3d": {"title": "Sofa", "expiresAt": "2026-12-04T20:30:00Z"},
    "listing_expiring_1d": {"title": "Sofa", "expiresAt": "2026-12-04T20:30:00Z"},
    "listing_expired": {"title": "Sofa", "expiredAt": "2026-12-04T20:30:00Z"},
    "refund_issued": {"amount": "500.00", "reason": "Damaged item"},
    "payout_completed": {"amount": "1250.50"},
    "payout_failed": {"amount": "1250.50", "reason": "Bank rejected"},
    "user_blocked": {"reason": "Spam", "blockUntil": "2026-12-10T00:00:00+05:30"},
    "topup_credited": {"amount": "500.00", "orderId": "order_fake_1"},
    "payout_account_changed": {"change": "added", "account": "HDFC0000001 XXXXXXXX1234",
                               "availableAt": "2026-12-02T12:00:00+00:00"},
}


def test_the_catalog_has_every_template_key():
    assert sorted(TEMPLATES) == sorted(PAYLOADS)


@pytest.mark.parametrize("template_key", sorted(PAYLOADS))
@pytest.mark.parametrize("channel", ["push", "sms", "email"])
def test_every_template_renders_for_every_channel(template_key, channel):
    message = render(template_key=template_key, channel=channel, payload=PAYLOADS[template_key])
    assert message.body and "{" not in message.body and "None" not in message.body
    assert bool(message.title) is (channel != "sms")


def test_times_are_local_and_money_is_rupees():
    assert render(template_key="listing_expiring_3d", channel="sms", payload=PAYLOADS["listing_expiring_3d"]).body == (
        "dgt: your listing “Sofa” expires in 3 days, on 05 Dec 2026, 02:00 IST.")
    assert render(template_key="refund_issued", channel="push", payload=PAYLOADS["refund_issued"]).body == (
        "₹500.00 was credited to your wallet.")
    assert render(template_key="user_blocked", channel="sms", payload=PAYLOADS["user_blocked"]).body == (
        "dgt: your account is blocked until 10 Dec 2026, 00:00 IST. Reason: Spam")
    assert render(template_key="user_blocked", channel="push", payload={"reason": "Spam"}).body == (
        "Your account is blocked.")


def test_times_are_in_the_marketplaces_zone_whatever_zone_is_active():
    # The API answers in UTC (it activates UTC per request); texts recorded there read in IST too.
    from django.utils import timezone

    for zone in ("UTC", "America/New_York", None):
        with timezone.override(zone):
            assert render(template_key="user_blocked", channel="sms", payload=PAYLOADS["user_blocked"]).body == (
                "dgt: your account is blocked until 10 Dec 2026, 00:00 IST. Reason: Spam")


def test_payload_text_is_not_html_escaped_in_plain_text_channels():
    body = render(template_key="listing_rejected", channel="email", payload={"title": "A & B <new>", "reason": "x"}).body
    assert "“A & B <new>”" in body
