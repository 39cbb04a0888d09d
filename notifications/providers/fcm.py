"""Push through Firebase Cloud Messaging with firebase-admin.

Switched on by FCM_CREDENTIALS_FILE (path of a service-account JSON) or FCM_CREDENTIALS_JSON
(its content). One multicast per notification to the user's active tokens; FCM answers per
token. Error mapping (FCM v1 error codes, firebase-admin exception classes):
UNREGISTERED, SENDER_ID_MISMATCH and INVALID_ARGUMENT (malformed token) -> that token is
invalid; UNAVAILABLE, INTERNAL, QUOTA_EXCEEDED and transport errors -> transient.
"""
from __future__ import annotations

import json
import threading
import warnings

import firebase_admin
from django.conf import settings
from firebase_admin import credentials, exceptions, messaging

from .base import PermanentProviderError, PushResult, TransientProviderError

APP_NAME = "dgt"
_INVALID_TOKEN = (messaging.UnregisteredError, messaging.SenderIdMismatchError, exceptions.InvalidArgumentError)
_lock = threading.Lock()


def _firebase_app():
    with _lock:
        try:
            return firebase_admin.get_app(APP_NAME)
        except ValueError:
            source = settings.FCM_CREDENTIALS_FILE or json.loads(settings.FCM_CREDENTIALS_JSON)
            return firebase_admin.initialize_app(credentials.Certificate(source), name=APP_NAME)


class FcmPushProvider:
    def __init__(self, app=None):
        self._app = app

    @property
    def app(self):
        if self._app is None:
            self._app = _firebase_app()
        return self._app

    def send(self, *, tokens: list[str], title: str, body: str, data: dict[str, str]) -> PushResult:
        """Send one notification to `tokens` (at most 500, FCM's multicast limit). `data` values
        must be strings. Raises TransientProviderError when the whole request failed in a way
        worth retrying, PermanentProviderError when the request itself is refused."""
        with warnings.catch_warnings():
            # firebase-admin 7.7 deprecates registration tokens in favour of installation ids
            # (fids); the apps still register tokens, which FCM v1 keeps accepting.
            warnings.filterwarnings("ignore", "MulticastMessage.tokens is deprecated", DeprecationWarning)
            message = messaging.MulticastMessage(tokens=list(tokens), data=data,
                                                 notification=messaging.Notification(title=title, body=body))
        try:
            batch = messaging.send_each_for_multicast(message, app=self.app)
        except (exceptions.UnavailableError, exceptions.InternalError, exceptions.DeadlineExceededError,
                exceptions.ResourceExhaustedError, exceptions.UnknownError, messaging.QuotaExceededError) as exc:
            raise TransientProviderError(f"fcm: {exc}") from exc
        except (exceptions.UnauthenticatedError, exceptions.PermissionDeniedError,
                messaging.ThirdPartyAuthError) as exc:
            # Our credentials, not the recipient: retry (and alert) rather than drop the device.
            raise TransientProviderError(f"fcm auth: {exc}") from exc
        except exceptions.FirebaseError as exc:
            raise PermanentProviderError(f"fcm: {exc}") from exc
        except OSError as exc:  # requests.RequestException is an OSError
            raise TransientProviderError(f"fcm transport: {exc}") from exc
        result = PushResult()
        for token, response in zip(tokens, batch.responses):
            if response.success:
                result.sent.append(token)
            elif isinstance(response.exception, _INVALID_TOKEN):
                result.invalid[token] = f"{type(response.exception).__name__}: {response.exception}"
            else:
                result.transient[token] = f"{type(response.exception).__name__}: {response.exception}"
        return result
