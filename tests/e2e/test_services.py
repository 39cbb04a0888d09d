"""End to end on real processes (services mode): gunicorn serves HTTP, daphne the websocket,
a Celery worker the notification; approve over real HTTP, receive the frame over a real socket."""
from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from contextlib import ExitStack

import pytest
import websockets

from accounts.tokens import access_token_for
from notifications.models import Notification

from ..outbox_servers import BIN, free_port, process, services_env

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(transactional_db, tmp_path):
    """gunicorn + daphne + celery worker on the test database, same Redis and channel prefix."""
    env = services_env(CELERY_TASK_ALWAYS_EAGER="0")
    http_port = free_port(19560)
    ws_port = free_port(http_port + 1)
    with ExitStack() as stack:
        stack.enter_context(process([str(BIN / "gunicorn"), "dgt.wsgi:application", "-b", f"127.0.0.1:{http_port}",
                                     "-w", "2"], env, tmp_path / "web.log", port=http_port))
        stack.enter_context(process([str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(ws_port), "dgt.asgi:application"],
                                    env, tmp_path / "ws.log", port=ws_port))
        stack.enter_context(process([str(BIN / "celery"), "-A", "dgt", "worker", "-P", "solo", "-l", "info",
                                     "-Q", "default,notifications,search,analytics"], env, tmp_path / "worker.log"))
        yield {"http": f"http://127.0.0.1:{http_port}", "ws": f"ws://127.0.0.1:{ws_port}/ws/events/", "logs": tmp_path}


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
