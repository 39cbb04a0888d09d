"""Realtime numbers for the live admin dashboard (core.stats registry, auto-discovered)."""
from core.stats import register_stat
from outbox.transport import DROPS

register_stat("layerDrops", lambda: DROPS.count)
