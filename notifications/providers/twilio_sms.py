"""SMS through Twilio's Messages API with the twilio SDK.

Switched on by TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER. Error mapping
(Twilio error dictionary, https://www.twilio.com/docs/api/errors): 21610 (recipient replied
STOP), 21211 (invalid To), 21614 (not a mobile number), 21612/21408 (cannot route / region not
enabled), 21217 — the number is unusable: permanent, deactivate it. HTTP 429 and 5xx and
transport errors: transient. Other 4xx (our request or account, e.g. 401): permanent for this
message, the number is kept.
"""
from __future__ import annotations

from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from .base import PermanentProviderError, TransientProviderError

RECIPIENT_INVALID_CODES = frozenset({21211, 21217, 21408, 21610, 21612, 21614})


class TwilioSmsProvider:
    def __init__(self, client: Client | None = None):
        self._client = client

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)
        return self._client

    def send(self, *, to: str, body: str) -> str:
        """Send `body` to `to` (E.164). Returns the message SID."""
        try:
            message = self.client.messages.create(to=to, from_=settings.TWILIO_FROM_NUMBER, body=body)
        except TwilioRestException as exc:
            detail = f"twilio {exc.status} code {exc.code}: {exc.msg}"
            if exc.status == 429 or exc.status >= 500:
                raise TransientProviderError(detail) from exc
            raise PermanentProviderError(detail, recipient_invalid=exc.code in RECIPIENT_INVALID_CODES) from exc
        except (TwilioException, OSError) as exc:
            raise TransientProviderError(f"twilio transport: {exc}") from exc
        return message.sid
