"""dgt's ASGI application with ONE change, measured by bench/event_latency.py (`*-fast` variants):
the websocket consumer writes `outbox.event` frames without channels' per-message database
clean-up.

Why: channels' `AsyncConsumer.dispatch` awaits `aclose_old_connections()` before every handler,
i.e. `sync_to_async(close_old_connections)` — a hop through asgiref's ONE thread-sensitive
executor thread. Every event for every socket of the process queues for that thread, so an
`admin` event to 100 sockets is 100 serialized thread hops. `outbox_event` touches no database
(the frame text is ready), so skipping the hop for it is safe; other messages (auth, access
recheck) keep it. The same override belongs in realtime/consumers.py (owned by the realtime work);
this module only lets the benchmark measure it before that lands.
"""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dgt.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from realtime.consumers import EventsConsumer  # noqa: E402
from realtime.origin import OriginCheck  # noqa: E402


class FastPathEventsConsumer(EventsConsumer):
    async def dispatch(self, message):
        if message.get("type") == "outbox.event":  # no database work: no close_old_connections thread hop
            return await self.outbox_event(message)
        return await super().dispatch(message)


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": OriginCheck(AuthMiddlewareStack(URLRouter([path("ws/events/", FastPathEventsConsumer.as_asgi())]))),
    }
)

if os.environ.get("BENCH_GC_LOG"):  # diagnostic: log every garbage collection that takes >= 5 ms
    import gc
    import sys
    import time

    _gc_started = [0.0]

    def _gc_log(phase, info):
        if phase == "start":
            _gc_started[0] = time.perf_counter()
        elif (ms := (time.perf_counter() - _gc_started[0]) * 1000) >= 5:
            print(f"GC gen{info['generation']} {ms:.1f} ms collected {info['collected']} at {time.time():.3f}",
                  file=sys.stderr, flush=True)

    gc.callbacks.append(_gc_log)

if os.environ.get("BENCH_GC") == "off":  # diagnostic only: are the remaining stalls garbage collections?
    import gc

    gc.disable()
