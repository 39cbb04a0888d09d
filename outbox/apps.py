from django.apps import AppConfig


class OutboxConfig(AppConfig):
    """The transactional outbox: table, publish, relay, transport to the channel layer, replay
    (docs/realtime.md). Knows no domain app and nothing of the websocket server."""

    name = "outbox"
