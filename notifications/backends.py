"""Delivery backends. The default writes each notification to the log; provider adapters
(FCM, Twilio, SendGrid through anymail) plug in behind the same `send()`."""
from __future__ import annotations

import logging

from django.conf import settings
from django.utils.module_loading import import_string

log = logging.getLogger("dgt.notifications")


class LogBackend:
    """Writes the notification to the `dgt.notifications` log; never fails."""

    def send(self, notification) -> None:
        log.info("notification %s to user %s via %s: %s", notification.template_key, notification.user_id,
                 notification.channel, notification.payload)


def get_backend():
    return import_string(settings.NOTIFICATION_BACKEND)()
