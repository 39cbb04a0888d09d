from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    """The websocket server: `/ws/events/` consumer, origin check, bounded channel layers, the
    embedded relay loop and the admin stats push (docs/realtime.md)."""

    name = "realtime"
    verbose_name = "realtime"
