"""Rate limits are shared by every server process (services mode: Redis cache) (docs/access-and-hardening.md).

Starts two gunicorn servers (2 workers each) on this worktree's ports against the test database
and Redis, and sends alternating login attempts to both: together they allow exactly the limit.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from .helpers import clear_rate_counters

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PORT_RANGE = range(19440, 19499)  # the rate-limit tests' own ports, 19400-19499


def _free_port(taken: set[int]) -> int:
    for port in PORT_RANGE:
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 19440-19498")


def _db_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _post(port: int, path: str, body: dict, headers: dict | None = None) -> tuple[int, dict, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


def _wait_ready(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn on {port} exited: {proc.stdout.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn on {port} did not become ready")


@pytest.fixture
def two_servers(db):
    clear_rate_counters()
    env = {**os.environ, "DATABASE_URL": _db_url(), "REDIS_URL": settings.REDIS_URL, "DGT_TESTING": "1", "DEBUG": "1",
           "RATELIMIT_ENABLE": "1", "RATELIMIT_TOKEN_IP": "4/d", "RATELIMIT_TOKEN_USERNAME": "1000/d",
           "TRUSTED_PROXIES": "127.0.0.1", "DB_CONN_MAX_AGE": "0"}
    ports: list[int] = []
    procs: list[subprocess.Popen] = []
    try:
        for _ in range(2):
            port = _free_port(set(ports))
            ports.append(port)
            procs.append(subprocess.Popen(
                [str(Path(sys.executable).parent / "gunicorn"), "dgt.wsgi:application", "-b", f"127.0.0.1:{port}",
                 "--workers", "2", "--timeout", "60"],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True))
        for port, proc in zip(ports, procs):
            _wait_ready(port, proc)
        yield ports
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        clear_rate_counters()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_server_processes_share_the_login_limit(two_servers, make_user):
    make_user(username="victim")
    a, b = two_servers
    results = []
    for i in range(10):
        port = a if i % 2 == 0 else b
        # The trusted proxy (127.0.0.1) appended the real client 203.0.113.77; the client rotates
        # forged entries to its left, and every request comes from a new username.
        status, headers, body = _post(port, "/api/auth/token", {"username": f"victim{i}", "password": "nope"},
                                      {"X-Forwarded-For": f"10.66.0.{i}, 203.0.113.77"})
        results.append((port, status, headers.get("Retry-After"), body))

    statuses = [status for _, status, _, _ in results]
    assert statuses == [401] * 4 + [429] * 6
    assert {port for port, status, _, _ in results if status == 429} == {a, b}
    for _, status, retry_after, body in results[4:]:
        assert body["error"]["code"] == "rate_limited" and 1 <= int(retry_after) <= 86400

    # Another client behind the same proxy still gets in (its own budget), on either server.
    assert _post(b, "/api/auth/token", {"username": "victim", "password": "demo-pass-123"},
                 {"X-Forwarded-For": "203.0.113.78"})[0] == 200
