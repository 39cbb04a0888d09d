"""`manage.py outbox_relay_loop`: the Procfile's `relay` process (outbox.loop)."""
from django.core.management.base import BaseCommand

from outbox.loop import RelayLoop


class Command(BaseCommand):
    help = "Send due outbox events and dispatch due follow-up tasks every OUTBOX_RELAY_LOOP_SECONDS, forever."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=None, help="seconds between ticks")

    def handle(self, *args, interval=None, **options):
        RelayLoop().run(interval=interval)
