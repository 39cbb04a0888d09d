"""Which process may hand events to the channel layer (matters in embedded mode only).

With a shared layer (Redis) every process may send. With InMemoryChannelLayer the layer lives
inside one process: a row sent by `manage.py runjob ...` or `manage.py shell` would reach that
process's own (socket-less) layer and be marked sent though nobody got it. So in embedded mode
only the process that serves websockets (marked by `realtime.embedded.EmbeddedRelay` when the ASGI
app is first called) sends; any other process leaves its rows pending, due at once, and the
serving process's relay loop sends them within OUTBOX_EMBEDDED_RELAY_SECONDS. The test suite
runs publisher and sockets in one process (OUTBOX_SEND_FROM_ANY_PROCESS, default on in tests).
"""
from __future__ import annotations

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings

_serving = False


def mark_serving() -> None:
    """Record that this process serves the websockets (called by the ASGI app)."""
    global _serving
    _serving = True


def is_serving() -> bool:
    return _serving


def layer_is_process_local() -> bool:
    """True for InMemoryChannelLayer (embedded mode): only this process's sockets are reachable."""
    return isinstance(get_channel_layer(), InMemoryChannelLayer)


def may_send() -> bool:
    """Whether this process may send outbox rows to the channel layer and mark them sent."""
    return _serving or settings.OUTBOX_SEND_FROM_ANY_PROCESS or not layer_is_process_local()


def sends_after_commit() -> bool:
    """Whether this process sends its committed outbox rows and dispatches its follow-ups itself,
    after commit. False where it may not send (`may_send`) or OUTBOX_SEND_AFTER_COMMIT is off (the
    Procfile's `web` line): its rows are then written due at once and the relay loop sends them
    within OUTBOX_RELAY_POLL_SECONDS (outbox.due)."""
    return settings.OUTBOX_SEND_AFTER_COMMIT and may_send()
