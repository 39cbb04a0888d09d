"""Development email backend: each message is one INFO line on the `dgt.notifications` log
(through LOGGING: UTC, request id, PII masked) instead of Django's console backend, which writes
whole MIME messages to stdout outside the log. The default EMAIL_BACKEND without SENDGRID_API_KEY."""
from __future__ import annotations

import logging

from django.core.mail.backends.base import BaseEmailBackend

log = logging.getLogger("dgt.notifications")


class LogEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        """Log each message (to, subject, body on one line); returns how many were "sent"."""
        for message in email_messages:
            body = " | ".join(line for line in str(message.body).splitlines() if line.strip())
            log.info("email to %s: %s — %s", ", ".join(message.to), message.subject, body)
        return len(email_messages)
