"""End to end on real processes (services mode): gunicorn serves HTTP, daphne the websocket,
a Celery worker the notification; approve over real HTTP, receive the frame over a real socket."""
from __future__ import annotations

import asyncio
import json
from contextlib import ExitStack

import pytest
import websockets

from accounts.tokens import access_token_for
from notifications.models import Notification

from ..servers import celery_worker, daphne, eventually, gunicorn, held_port, http_json, services_env

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(transactional_db, tmp_path):
    """gunicorn + daphne + celery worker on the test database, same Redis and channel prefix."""
    env = services_env(CELERY_TASK_ALWAYS_EAGER="0")
    with ExitStack() as stack:
        http_port, ws_port = (stack.enter_context(held_port(19560)) for _ in range(2))
        stack.enter_context(gunicorn(http_port, env, tmp_path / "web.log"))
        stack.enter_context(daphne(ws_port, env, tmp_path / "ws.log"))
        stack.enter_context(celery_worker(env, tmp_path / "worker.log"))
        yield {"http": f"http://127.0.0.1:{http_port.number}", "ws": f"ws://127.0.0.1:{ws_port.number}/ws/events/",
               "logs": tmp_path}


@pytest.mark.e2e
def test_approval_reaches_a_real_websocket_through_real_processes(stack, seller, moderator, listing):
    async def scenario():
        async with websockets.connect(stack["ws"], open_timeout=10) as ws:
            await ws.send(json.dumps({"type": "auth", "token": access_token_for(seller)}))
            ready = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert ready["type"] == "ready"
            status, body, _ = await asyncio.to_thread(
                http_json, f"{stack['http']}/api/listings/{listing.pk}/approve", {"reason": "ok", "expiryDays": 30},
                token=access_token_for(moderator), headers={"X-Request-ID": "e2e-req-1"})
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
    eventually(lambda: Notification.objects.filter(user=seller, status="sent").exists(), within=20, every=0.2)
    assert list(Notification.objects.filter(user=seller).values_list("template_key", "status")) == [
        ("listing_approved", "sent")]
