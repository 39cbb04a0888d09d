"""Email through Django's mail API: EMAIL_BACKEND is anymail's SendGrid backend when
SENDGRID_API_KEY is set, the console backend otherwise (locmem under the tests).

Error mapping: AnymailRecipientsRefused (SendGrid rejected the address) and
SMTPRecipientsRefused -> permanent, address invalid; AnymailAPIError with HTTP 429/5xx or no
status (transport) and SMTP/OS errors -> transient; other API errors -> permanent.
"""
from __future__ import annotations

import smtplib

from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMessage

from .base import PermanentProviderError, TransientProviderError


class DjangoEmailProvider:
    def send(self, *, to: str, subject: str, body: str) -> str:
        """Send a plain-text email to `to`. Returns the provider's message id when it has one."""
        message = EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[to])
        try:
            message.send(fail_silently=False)
        except (AnymailRecipientsRefused, smtplib.SMTPRecipientsRefused) as exc:
            raise PermanentProviderError(f"email refused: {exc}", recipient_invalid=True) from exc
        except AnymailAPIError as exc:
            status = getattr(exc, "status_code", None)
            if status is None or status == 429 or status >= 500:
                raise TransientProviderError(f"email api {status}: {exc}") from exc
            raise PermanentProviderError(f"email api {status}: {exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientProviderError(f"email transport: {exc}") from exc
        status = getattr(message, "anymail_status", None)
        return (status.message_id or "") if status is not None else ""
