"""`/ws/events/` (docs/realtime.md): a plain ASGI websocket application (socket.py) on the event
loop's hub (hub.py: one channel-layer subscription per process, local fan-out)."""
