"""Message templates by templateKey, with the text of each channel (push, SMS, email).

The payload a service passes to `notification_record` is the template context. Values whose
key ends in `At` or `Until` and that hold an ISO 8601 time are shown in local time (TIME_ZONE,
Asia/Kolkata), money strings (`amount`) as "₹500.00". A missing variable renders empty.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.template import Context, Engine
from django.utils import timezone
from django.utils.dateparse import parse_datetime

_engine = Engine(autoescape=False, string_if_invalid="")


@dataclass(frozen=True)
class Template:
    push_title: str
    push_body: str
    sms: str
    email_subject: str
    email_body: str


@dataclass(frozen=True)
class Message:
    """Rendered text for one channel. `title` is the push title or the email subject; `body` the
    push body, the SMS text or the plain-text email body."""

    title: str
    body: str


_SIGN = "\n\n— dgt marketplace"

TEMPLATES: dict[str, Template] = {
    "listing_approved": Template(
        "Listing approved", "“{{ title }}” is live until {{ expiresAt }}.",
        "dgt: your listing “{{ title }}” is approved and live until {{ expiresAt }}.",
        "Your listing “{{ title }}” is approved",
        "Good news: your listing “{{ title }}” passed moderation and is live until {{ expiresAt }}."
        "{% if reason %}\n\nModerator's note: {{ reason }}{% endif %}" + _SIGN),
    "listing_rejected": Template(
        "Listing rejected", "“{{ title }}” was rejected: {{ reason }}",
        "dgt: your listing “{{ title }}” was rejected: {{ reason }}",
        "Your listing “{{ title }}” was rejected",
        "Your listing “{{ title }}” did not pass moderation.\n\nReason: {{ reason }}\n\n"
        "You can edit it and post it again." + _SIGN),
    "listing_expiring_3d": Template(
        "Listing expires in 3 days", "“{{ title }}” expires on {{ expiresAt }}.",
        "dgt: your listing “{{ title }}” expires in 3 days, on {{ expiresAt }}.",
        "“{{ title }}” expires in 3 days",
        "Your listing “{{ title }}” expires on {{ expiresAt }}, in 3 days." + _SIGN),
    "listing_expiring_1d": Template(
        "Listing expires tomorrow", "“{{ title }}” expires on {{ expiresAt }}.",
        "dgt: your listing “{{ title }}” expires within a day, on {{ expiresAt }}.",
        "“{{ title }}” expires within a day",
        "Your listing “{{ title }}” expires on {{ expiresAt }}, within a day." + _SIGN),
    "listing_expired": Template(
        "Listing expired", "“{{ title }}” has expired.",
        "dgt: your listing “{{ title }}” expired on {{ expiredAt }}.",
        "“{{ title }}” has expired",
        "Your listing “{{ title }}” expired on {{ expiredAt }} and is no longer shown to buyers." + _SIGN),
    "refund_issued": Template(
        "Refund issued", "{{ amount }} was credited to your wallet.",
        "dgt: a refund of {{ amount }} was credited to your wallet.{% if reason %} {{ reason }}{% endif %}",
        "Refund of {{ amount }} issued",
        "A refund of {{ amount }} was credited to your dgt wallet.{% if reason %}\n\nReason: {{ reason }}{% endif %}"
        + _SIGN),
    "payout_completed": Template(
        "Payout completed", "Your payout of {{ amount }} was sent to your bank.",
        "dgt: your payout of {{ amount }} was sent to your bank.",
        "Payout of {{ amount }} completed",
        "Your payout of {{ amount }} was sent to your bank account." + _SIGN),
    "payout_failed": Template(
        "Payout failed", "Your payout of {{ amount }} failed; the money is back in your wallet.",
        "dgt: your payout of {{ amount }} failed and was returned to your wallet.",
        "Payout of {{ amount }} failed",
        "Your payout of {{ amount }} could not be completed and the amount is back in your wallet."
        "{% if reason %}\n\nReason: {{ reason }}{% endif %}" + _SIGN),
    "topup_credited": Template(
        "Wallet topped up", "{{ amount }} was added to your wallet.",
        "dgt: {{ amount }} was added to your wallet (order {{ orderId }}).",
        "Top-up of {{ amount }} received",
        "Your payment of {{ amount }} (order {{ orderId }}) was credited to your dgt wallet." + _SIGN),
    "payout_account_changed": Template(
        "Payout account {{ change }}",
        "{% if change == 'added' %}Payouts will go to {{ account }} from {{ availableAt }}."
        "{% else %}{{ account }} was {{ change }}; no payout goes to it.{% endif %} Not you? Contact support now.",
        "dgt: payout account {{ account }} {{ change }}{% if change == 'added' %}, usable from {{ availableAt }}"
        "{% endif %}. Not you? Contact support now.",
        "Your payout account was {{ change }}",
        "{% if change == 'added' %}Your payouts will go to {{ account }} from {{ availableAt }} (new accounts wait "
        "before their first payout, to protect you).{% else %}The payout account {{ account }} was {{ change }}; "
        "no payout goes to it any more.{% endif %}\n\nIf you did not make this change, contact support at once."
        + _SIGN),
    "user_blocked": Template(
        "Account blocked", "Your account is blocked{% if blockUntil %} until {{ blockUntil }}{% endif %}.",
        "dgt: your account is blocked{% if blockUntil %} until {{ blockUntil }}{% endif %}. Reason: {{ reason }}",
        "Your dgt account is blocked",
        "Your account is blocked{% if blockUntil %} until {{ blockUntil }}{% endif %}.\n\nReason: {{ reason }}"
        + _SIGN),
}


# For a template key added by a service before its text is written here: still delivered, in
# generic words (and logged when recorded), rather than failing the caller's transaction.
FALLBACK = Template("dgt", "You have a new notification.", "dgt: you have a new notification.",
                    "A new notification from dgt", "You have a new notification. Open the dgt app to see it." + _SIGN)


def _display(key: str, value):
    if isinstance(value, str) and (key.endswith("At") or key.endswith("Until")):
        moment = parse_datetime(value)
        if moment is not None and timezone.is_aware(moment):
            # The marketplace's own time zone (TIME_ZONE, IST), whatever zone is active where the
            # text is rendered: the API activates UTC for its answers (docs/architecture.md), and a
            # text recorded in a request must read like one recorded by a job.
            return timezone.localtime(moment, timezone.get_default_timezone()).strftime("%d %b %Y, %H:%M %Z")
    if key == "amount" and value not in (None, ""):
        return f"₹{value}"
    return value


def render(*, template_key: str, channel: str, payload: dict) -> Message:
    """The text of `template_key` for `channel` ("push", "sms", "email") with `payload`; the
    generic FALLBACK text for a key without a template. Raises KeyError for an unknown channel."""
    template = TEMPLATES.get(template_key, FALLBACK)
    parts = {"push": (template.push_title, template.push_body), "sms": ("", template.sms),
             "email": (template.email_subject, template.email_body)}[channel]
    context = Context({key: _display(key, value) for key, value in payload.items()}, autoescape=False)
    title, body = (_engine.from_string(part).render(context).strip() if part else "" for part in parts)
    return Message(title=title, body=body)
