"""End to end on real processes (services mode): gunicorn serves HTTP, daphne the websocket,
a Celery worker the notification; approve over real HTTP, receive the frame over a real socket."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import websockets
from django.conf import settings
from django.db import connection

from accounts.tokens import access_token_for
from notifications.models import Notification

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listening on {port}")


@pytest.fixture
def stack(transactional_db, tmp_path):
    """gunicorn + daphne + celery worker on the test database, same Redis and channel prefix."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CHANNEL_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        "JWT_SECRET": settings.JWT_SECRET,
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "0",
        "DGT_TESTING": "0",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",  # production mode, but plain HTTP on loopback (TLS ends at the proxy)
    }
    http_port, ws_port = _free_port(), _free_port()
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("web", "ws", "worker")}
    procs = {
        "web": subprocess.Popen([str(BIN / "gunicorn"), "dgt.wsgi:application", "-b", f"127.0.0.1:{http_port}", "-w", "2"],
                                cwd=ROOT, env=env, stdout=logs["web"], stderr=subprocess.STDOUT),
        "ws": subprocess.Popen([str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(ws_port), "dgt.asgi:application"],
                               cwd=ROOT, env=env, stdout=logs["ws"], stderr=subprocess.STDOUT),
        "worker": subprocess.Popen([str(BIN / "celery"), "-A", "dgt", "worker", "-P", "solo", "-l", "info",
                                    "-Q", "default,notifications,search,analytics"],
                                   cwd=ROOT, env=env, stdout=logs["worker"], stderr=subprocess.STDOUT),
    }
    try:
        _wait_port(http_port, procs["web"])
        _wait_port(ws_port, procs["ws"])
        yield {"http": f"http://127.0.0.1:{http_port}", "ws": f"ws://127.0.0.1:{ws_port}/ws/events/", "logs": tmp_path}
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs.values():
            log.close()


def _post(url: str, body: dict, token: str, request_id: str):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}", "X-Request-ID": request_id})
    with urllib.request.urlopen(req, timeout=15) as response:
        return response.status, json.loads(response.read())


@pytest.mark.e2e
def test_approval_reaches_a_real_websocket_through_real_processes(stack, seller, moderator, listing):
    async def scenario():
        async with websockets.connect(stack["ws"], open_timeout=10) as ws:
            await ws.send(json.dumps({"type": "auth", "token": access_token_for(seller)}))
            ready = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert ready["type"] == "ready"
            status, body = await asyncio.to_thread(
                _post, f"{stack['http']}/api/listings/{listing.pk}/approve", {"reason": "ok", "expiryDays": 30},
                access_token_for(moderator), "e2e-req-1")
            frames = []
            while not any(f.get("channel") == "notifications.new" for f in frames):
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 20)))
            return status, body, frames

    status, body, frames = asyncio.run(scenario())
    assert status == 200 and body["status"] == "approved"
    update = next(f for f in frames if f.get("channel") == "listings.update")
    assert update["data"]["id"] == listing.pk and update["data"]["status"] == "approved"
    assert update["requestId"] == "e2e-req-1"
    assert update["data"]["expiresAt"]
    deadline = time.time() + 20
    while time.time() < deadline and not Notification.objects.filter(user=seller, status="sent").exists():
        time.sleep(0.2)
    assert list(Notification.objects.filter(user=seller).values_list("template_key", "status")) == [
        ("listing_approved", "sent")]
