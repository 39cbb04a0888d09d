"""Provider adapters, one per channel, chosen by settings.NOTIFICATION_PROVIDERS (which the
environment switches: FCM credentials, Twilio keys, SendGrid key; console/log otherwise)."""
from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string

from .base import PermanentProviderError, PushResult, TransientProviderError

__all__ = ["PermanentProviderError", "PushResult", "TransientProviderError", "get_provider"]


@lru_cache(maxsize=16)
def _provider(path: str):
    return import_string(path)()


def get_provider(channel: str):
    """The provider instance for `channel` ("push", "sms", "email"); one per process."""
    return _provider(settings.NOTIFICATION_PROVIDERS[channel])
