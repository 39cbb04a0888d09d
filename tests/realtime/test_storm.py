"""A small reconnect storm (services mode): 300 sockets on the Procfile's ws process, the process
restarts while events are published, every socket reconnects at once and resumes; every event
reaches its user once and in id order, and the ws process never holds more PostgreSQL
connections than its pool allows (docs/realtime.md, reconnect storm; bench/reconnect_storm.py
is the 10,000-socket version)."""
from __future__ import annotations

import asyncio
import json
import random
import re
import subprocess
import threading
from contextlib import ExitStack
from pathlib import Path

import psutil
import pytest
import redis
import websockets
from django.conf import settings
from django.db import connection, transaction

from accounts.models import User
from accounts.tokens import access_token_for
from outbox.services import publish, user_group

from ..accounts.factories import UserFactory
from ..servers import held_port, procfile_command, procfile_server, services_env

SOCKETS = 300


def _pool_bound() -> int:
    return int(re.search(r"DB_POOL_MAX_SIZE=\$\{\w+:-(\d+)\}", procfile_command("uvicorn", 1)).group(1))


def _listen_backlog(port: int) -> int:
    """The accept queue's size of the socket listening on `port`, as the kernel applies it (the
    Send-Q column of `ss` for a listening socket)."""
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return int(out.split()[2])


class PgWatch:
    """Peak PostgreSQL connections held by the ws process (its TCP connections to 5432), and peak
    backends of the test database, sampled in a thread until stopped."""

    def __init__(self, proc_ref: dict, dbname: str):
        self.proc_ref, self.dbname = proc_ref, dbname
        self.ws_peak = self.db_peak = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import psycopg

        db = connection.settings_dict
        with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
                             dbname="postgres", autocommit=True) as pg:
            while not self.done.wait(0.05):
                try:
                    root = psutil.Process(self.proc_ref["proc"].pid)
                    held = sum(1 for p in [root, *root.children(recursive=True)]
                               for c in p.net_connections(kind="tcp") if c.raddr and c.raddr.port == 5432)
                except psutil.Error:
                    held = 0
                self.ws_peak = max(self.ws_peak, held)
                n = pg.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [self.dbname]).fetchone()[0]
                self.db_peak = max(self.db_peak, n)


class Client:
    """One user's socket that reconnects when the server goes and resumes at connect after its last id."""

    def __init__(self, url: str, user: User):
        self.url, self.user, self.token = url, user, access_token_for(user)
        self.ids: list[int] = []
        self.resumed = 0

    async def connect(self, *, resume: bool):
        while True:
            try:
                url = f"{self.url}?after={self.ids[-1] if self.ids else 0}" if resume else self.url
                ws = await websockets.connect(url, additional_headers={"Authorization": f"Bearer {self.token}"},
                                              open_timeout=30)
            except (OSError, websockets.InvalidHandshake, asyncio.TimeoutError):
                await asyncio.sleep(random.uniform(0.05, 0.25))  # the server is still starting
                continue
            ready = json.loads(await asyncio.wait_for(ws.recv(), 60))
            assert ready["type"] == "ready", ready
            return ws

    async def run(self, sem: asyncio.Semaphore, on_ready):
        async with sem:  # at most 50 handshakes in flight for the first connect, none later (a storm)
            ws = await self.connect(resume=False)
        on_ready()
        while True:
            try:
                frame = json.loads(await ws.recv())
            except websockets.ConnectionClosed:
                ws = await self.connect(resume=True)
                continue
            if frame["type"] == "event":
                self.ids.append(frame["id"])
            elif frame["type"] == "resumed":
                self.resumed += 1


def _publish(users: list[User], n: int, sent: list, rnd: random.Random) -> None:
    try:
        for _ in range(n):
            user = rnd.choice(users)
            with transaction.atomic():
                rows = publish(channel="test.storm", groups=[user_group(user.pk)], data={"n": len(sent)})
            sent.append((rows[0].id, user.pk))
    finally:
        connection.close()  # this worker thread's connection: the test holds one at a time


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_reconnect_storm_resumes_every_event_once_in_order(tmp_path):
    # Built (unusable passwords: no hashing) and inserted in one statement.
    User.objects.bulk_create([UserFactory.build(username=f"storm{i}", password=None) for i in range(SOCKETS)])
    users = list(User.objects.filter(username__startswith="storm").order_by("id"))
    env = services_env()
    dbname = connection.settings_dict["NAME"]
    sent: list[tuple[int, int]] = []
    rnd = random.Random(5)
    ref: dict = {}
    connection.close()

    # Each server's block is its own ExitStack, so the first ends mid-scenario (its process stops
    # and the port, still held, refuses connects until the second listens: a real restart).
    with held_port(19560) as port, ExitStack() as second, ExitStack() as first:
        clients = [Client(f"ws://127.0.0.1:{port.number}/ws/events/", u) for u in users]
        ref["proc"] = first.enter_context(procfile_server("uvicorn", port, env, tmp_path / "ws-1.log"))
        # the listen queue holds a storm: the Procfile's backlog, as far as the kernel allows it
        # (a full queue drops SYNs, retried by clients after 1, 3, 7... s; docs/operations.md)
        backlog = int(re.search(r"--backlog \$\{WS_BACKLOG:-(\d+)\}", procfile_command("uvicorn", 1)).group(1))
        assert backlog >= 10_000
        somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
        assert _listen_backlog(port.number) == min(backlog, somaxconn)
        # both hubs (Socket.IO, /ws/events/) subscribed their channel at startup, before any socket:
        # the storm's first handshake does not open the Redis connection (realtime.fanout.hubs_started)
        prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
        hub_channels = redis.Redis.from_url(settings.REDIS_URL).pubsub_channels(f"{prefix}specific.*")
        assert len(hub_channels) == 2, hub_channels
        watch = PgWatch(ref, dbname)
        watch.thread.start()

        async def scenario():
            first_ready, counter, sem = asyncio.Event(), [0], asyncio.Semaphore(50)

            def on_ready():
                counter[0] += 1
                if counter[0] == SOCKETS:
                    first_ready.set()

            tasks = [asyncio.ensure_future(c.run(sem, on_ready)) for c in clients]
            await asyncio.wait_for(first_ready.wait(), 240)
            # given every socket ready and events flowing
            await asyncio.to_thread(_publish, users, 20, sent, rnd)
            # when the ws process stops, events keep being published, and it starts again
            await asyncio.to_thread(first.close)
            await asyncio.to_thread(_publish, users, 20, sent, rnd)
            ref["proc"] = await asyncio.to_thread(
                second.enter_context, procfile_server("uvicorn", port, env, tmp_path / "ws-2.log"))
            publisher = asyncio.ensure_future(asyncio.to_thread(_publish, users, 20, sent, rnd))
            # then every socket comes back and resumes (a bound against a hang, not a timing)
            for _ in range(3000):
                if all(c.resumed for c in clients) and publisher.done():
                    break
                await asyncio.sleep(0.1)
            await publisher
            want = {uid: [i for i, u in sent if u == uid] for uid in {u.pk for u in users}}
            for _ in range(600):
                if all(len(c.ids) >= len(want[c.user.pk]) for c in clients):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # a duplicate would arrive right behind
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.to_thread(second.close)
            return want

        want = asyncio.run(scenario())
        watch.done.set()
        watch.thread.join(5)

    assert len(sent) == 60
    assert all(c.resumed == 1 for c in clients)
    for c in clients:
        assert c.ids == want[c.user.pk], (c.user.pk, c.ids, want[c.user.pk])  # once each, in id order
    bound = _pool_bound()
    assert 0 < watch.ws_peak <= bound
    # the database's backends: the ws process's pool and the test's one publishing connection
    assert watch.db_peak <= bound + 1
