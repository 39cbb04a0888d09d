"""Real processes for the fault tests: a private redis-server the test may stop or freeze, and the
Procfile's web, worker and relay processes pointed at it (ports 19800-19839: this suite's range,
never the shared Redis)."""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ..outbox_servers import BIN, ROOT, process, services_env, wait_port
from ..outbox_servers import free_port as outbox_free_port

PORTS = range(19800, 19840)


def free_port(after: int = PORTS.start) -> int:
    """The first port of this suite's range (from `after`) nobody listens on."""
    return outbox_free_port(after, PORTS.stop)


class PrivateRedis:
    """A redis-server on its own port that the test starts, stops and freezes (SIGSTOP)."""

    def __init__(self, port: int, logs: Path):
        self.port, self.logs, self.proc, self.runs = port, logs, None, 0
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        self.runs += 1
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        log = open(self.logs / f"redis{self.runs}.log", "w")
        self.proc = subprocess.Popen([exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=log, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc)

    def stop(self) -> None:
        """Redis dies (SIGKILL: no goodbye to its clients, its queues are lost)."""
        self.proc.kill()
        self.proc.wait(10)

    def freeze(self) -> None:
        """Redis hangs: connections open, nothing answers."""
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)


@contextmanager
def private_redis(logs: Path):
    redis = PrivateRedis(free_port(), logs)
    redis.start()
    try:
        yield redis
    finally:
        redis.close()


@contextmanager
def dgt_stack(redis: PrivateRedis, logs: Path, **env_extra):
    """gunicorn (web), a Celery worker and the relay loop, all on `redis` and the test database."""
    env = services_env(REDIS_URL=redis.url, CELERY_BROKER_URL=redis.url, CHANNEL_PREFIX=f"dgt_faults_{redis.port}",
                       CELERY_TASK_ALWAYS_EAGER="0", **env_extra)
    http_port = free_port(redis.port + 1)
    with ExitStack() as stack:
        stack.enter_context(process([str(BIN / "gunicorn"), "dgt.wsgi:application", "-b", f"127.0.0.1:{http_port}",
                                     "-w", "2", "--timeout", "30"], env, logs / "web.log", port=http_port))
        stack.enter_context(process([str(BIN / "celery"), "-A", "dgt", "worker", "-P", "solo", "-l", "info",
                                     "-Q", "default,notifications,search,analytics"], env, logs / "worker.log"))
        stack.enter_context(process([str(BIN / "python"), str(ROOT / "manage.py"), "outbox_relay_loop"], env,
                                    logs / "relay.log"))
        base = f"http://127.0.0.1:{http_port}"
        # A loaded machine boots these slowly: the scenario starts once all three are serving.
        ready = eventually(lambda: _get_ok(f"{base}/healthz") and _logged(logs / "worker.log", "ready.")
                           and _logged(logs / "relay.log", "relay loop started"), within=300, every=1)
        assert ready, "the stack did not come up"
        yield base


def _get_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status == 200
    except OSError:
        return False


def _logged(path: Path, text: str) -> bool:
    return path.exists() and text in path.read_text(errors="replace")


def post(url: str, body: dict, *, token: str | None = None, headers: dict | None = None) -> tuple[int, dict, dict]:
    """POST JSON; (status, body, headers). A connection failure is status 0."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}"), dict(response.headers)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            payload = {"raw": raw[:200].decode(errors="replace")}
        return exc.code, payload, dict(exc.headers)
    except OSError as exc:
        return 0, {"error": str(exc)}, {}


def approvals_at_rate(base: str, token: str, listing_ids: list[int], *, rate: float,
                      on_tick=None) -> list[dict]:
    """POST approve for each listing at `rate` per second (each in its own thread, so a slow answer
    never delays the schedule); `on_tick(i)` runs before the i-th request. Returns one dict per
    request: {listingId, status, seconds, body}."""
    results: list[dict] = [None] * len(listing_ids)  # type: ignore[list-item]
    lock = threading.Lock()

    def one(i: int, listing_id: int) -> None:
        started = time.monotonic()
        status, body, _ = post(f"{base}/api/listings/{listing_id}/approve", {"reason": "ok"}, token=token)
        with lock:
            results[i] = {"listingId": listing_id, "status": status, "seconds": time.monotonic() - started,
                          "body": body}

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=64) as pool:
        for i, listing_id in enumerate(listing_ids):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if on_tick is not None:
                on_tick(i)
            pool.submit(one, i, listing_id)
    return results


def eventually(check, *, within: float, every: float = 0.5):
    """Poll `check()` until it returns a truthy value or `within` seconds pass; return its last value.
    (A deadline for an outcome to happen, not a timing assertion.)"""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else 0.0

