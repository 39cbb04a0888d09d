"""Socket.IO v4 at `/socket.io/` for the apps written against the Node guide (docs/realtime.md,
"Socket.IO clients"): python-socketio + python-engineio on dgt's token auth, Origin check,
rooms, outbox and control messages.

Modules: `auth` (handshake token -> user), `pid` (signed recovery session ids), `packets`
(outbox frame -> Socket.IO event packet), `hub` (one channel-layer channel per process, fan-out
to rooms, control), `server` (the AsyncServer subclass and the ASGI mount).
"""
