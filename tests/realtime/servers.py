"""Real dgt server processes for the Socket.IO tests, on this suite's ports (19720-19759)."""
from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

from tests.outbox_servers import ROOT, daphne, process
from tests.outbox_servers import free_port as _free_port

BIN = Path(sys.executable).parent
PASSWORD = "demo-pass-123"  # ops demo_data


def free_port(start: int = 19720) -> int:
    """A free port of this suite's range."""
    return _free_port(start, 19760)


def uvicorn(port: int, env: dict, log_path: Path):
    """The Procfile's ws process."""
    return process([str(BIN / "uvicorn"), "dgt.asgi:application", "--host", "127.0.0.1", "--port", str(port),
                    "--loop", "uvloop", "--http", "httptools", "--lifespan", "off"], env, log_path, port)


def api(base: str, path: str, body=None, token: str | None = None, request_id: str | None = None, headers=None):
    """(status, JSON body) of one API call."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    if request_id:
        all_headers["X-Request-ID"] = request_id
    req = urllib.request.Request(base + path, data=json.dumps(body).encode() if body is not None else None,
                                 headers=all_headers, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=15) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


__all__ = ["ROOT", "api", "daphne", "free_port", "uvicorn", "PASSWORD"]
