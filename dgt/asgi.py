"""ASGI entry point: HTTP, the `/ws/events/` websocket and Socket.IO at `/socket.io/` in one
application (daphne in `make run`, uvicorn in the Procfile's ws process).

Websockets pass the Origin check first (browsers only; see realtime.origin), then go by path
(realtime.routing): `/ws/events/` is a plain ASGI application (realtime.wsevents; it reads an
admin's Django session itself), any other path is refused.
"""
import gc
import os
import sys

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dgt.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402  (needs the app registry)

from realtime.embedded import EmbeddedRelay  # noqa: E402
from realtime.origin import OriginCheck  # noqa: E402
from realtime.routing import websocket_app  # noqa: E402
from realtime.socketio.server import socketio_app  # noqa: E402
from core.pools import pools_prepared  # noqa: E402

pools_prepared()

# EmbeddedRelay marks this process as the websocket server; in embedded mode it also runs the
# outbox relay loop here, the only process whose in-memory layer reaches the sockets.
# `/socket.io/` (websocket and long-polling) goes to Socket.IO (realtime.socketio), the rest on.
application = EmbeddedRelay(socketio_app(ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": OriginCheck(websocket_app),
    }
)))


if settings.ASGI_SWITCH_INTERVAL_SECONDS > 0:
    # The loop thread is busy through a reconnect or a connect wave; the handshakes' batched reads
    # run in database threads, and each of their socket calls hands the GIL back to wait for it
    # again: up to the switch interval each time. At 5 ms (Python's default) a batch read of 3
    # users took ~6 ms with 10 handshakes in flight; at 0.5 ms the connect rate rose 26-42 %
    # (docs/benchmarks.md, "The connect path: the GIL").
    sys.setswitchinterval(settings.ASGI_SWITCH_INTERVAL_SECONDS)

if settings.ASGI_GC_TUNING:
    # A long-lived process holding thousands of sockets: the objects of start-up (Django, the
    # URL conf, every library) are frozen out of the collector's scans, and gen-0 collections run
    # every 50,000 allocations instead of 700, so full collections that walk every socket's
    # objects stop landing in the middle of a fan-out. Measured: Socket.IO p99 25.8-33.9 ms ->
    # 18.8-20.5 ms at 1,000 sockets, 200 ev/s (docs/benchmarks.md, "GC").
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
