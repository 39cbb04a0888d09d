"""Real processes for the tests that need them (several apps): daphne, the Procfile's uvicorn and
Procfile.dev's daphne, gunicorn, a Celery worker, the relay loop, a private redis-server; their
environments, and the HTTP calls made to them.

Every process runs in its own session and is stopped with its children (SIGTERM, then SIGKILL)
when its `with` block ends. Ports: each suite looks for a free one in its own range
(docs/testing.md, "Ports"), because every checkout's suite on this machine starts from the same ones.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from ops.management.commands.demo_data import PASSWORD as DEMO_PASSWORD

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORKER_QUEUES = "default,notifications,search,analytics"  # the Procfile's worker line


def free_port(start: int, end: int = 19600) -> int:
    """The first port in [start, end) nobody listens on (default: within 19500-19599)."""
    for port in range(start, end):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError(f"no free port in {start}-{end - 1}")


def wait_port(port: int, proc=None, timeout: float = 90) -> None:
    """Wait until `port` accepts connections while `proc` runs (an upper bound for start-up on a
    loaded machine: python-socketio alone imports aiohttp and requests, seconds when the 2 cores are busy)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {port}")


def wait_http(port: int, proc, timeout: float = 60) -> None:
    """Wait until GET /healthz on `port` answers (any status) while `proc` runs."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing answered HTTP on {port}")


def services_env(**extra) -> dict:
    """Environment for a server on the test database, the test Redis and channel prefix."""
    db = connection.settings_dict
    auth = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CHANNEL_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        "JWT_SECRET": settings.JWT_SECRET,
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "0",
        "DGT_TESTING": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",  # plain http on 127.0.0.1 (TLS ends at the proxy in production)
    }
    env.update(extra)
    return env


def embedded_env(folder: Path, **extra) -> dict:
    """Environment for a process in embedded mode (`make run`) on its own SQLite file in `folder`
    (created empty when missing), whatever mode the suite runs in."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "DGT_TESTING", "CELERY_BROKER_URL", "CHANNEL_PREFIX")}
    env.update(DEBUG="1", SQLITE_PATH=str(folder / "dgt.sqlite3"), STATIC_ROOT=str(folder / "static"))
    env.update(extra)
    return env


def manage(env: dict, *args: str, timeout: float = 180) -> str:
    """Run `manage.py *args` with `env`; its stdout. Fails the test when the command fails."""
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done.stdout


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop `proc` and its children (its process group): `sig`, then SIGKILL after 15 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@contextmanager
def process(args: list[str], env: dict, log_path: Path, port: int | None = None, *, pass_fds: tuple = (),
            ready_timeout: float = 90):
    """Run `args` (its output to `log_path`) for the block; with `port`, the block starts once the
    port accepts connections. Yields the Popen; stopped with its children afterwards."""
    log = open(log_path, "w")
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, pass_fds=pass_fds,
                            start_new_session=True)
    try:
        if port is not None:
            wait_port(port, proc, timeout=ready_timeout)
        yield proc
    finally:
        stop(proc)
        log.close()


@contextmanager
def daphne(port: int, env: dict, log_path: Path, flags: tuple[str, ...] = ()):
    """daphne (with extra `flags`) serving `port` on a socket this process binds and hands over (`--fd`).

    Letting daphne bind the port itself raced with the other checkouts' suites on this machine:
    they start from the same ports, so another daphne could take the port during our daphne's
    seconds of start-up; ours then failed to bind and exited while `wait_port` happily connected
    to the foreign server, and the test's requests were refused once that one stopped
    (docs/testing.md). Bound here, the port is ours before daphne starts, or we fail at once."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.set_inheritable(True)
    try:
        with process([str(BIN / "daphne"), "--fd", str(sock.fileno()), *flags, "dgt.asgi:application"],
                     env, log_path, pass_fds=(sock.fileno(),)) as proc:
            wait_http(port, proc)  # the socket accepts at once: ready means daphne answers
            yield proc
    finally:
        sock.close()


def _procfile_line(path: Path, name: str) -> str:
    for line in path.read_text().splitlines():
        key, sep, cmd = line.partition(":")
        if sep and key.strip() == name:
            return cmd.strip()
    raise KeyError(f"no {name!r} line in {path.name}")


def procfile_env(name: str, env: dict) -> dict:
    """The variables the Procfile's `name` line sets before its command (`DB_POOL_MAX_SIZE=${DB_POOL_MAX_SIZE:-4}`
    on `web`), each resolved against `env` as the shell would: a test runs that process as production does."""
    out: dict[str, str] = {}
    for word in _procfile_line(ROOT / "Procfile", name).split():
        match = re.fullmatch(r"([A-Z_][A-Z0-9_]*)=(?:\$\{([A-Z_][A-Z0-9_]*):-([^}]*)\}|(\S*))", word)
        if match is None:
            break
        key, ref, default, literal = match.groups()
        out[key] = literal if ref is None else (env.get(ref) or default)
    return out


def makefile_daphne_limits() -> str:
    """The flags `make run` gives daphne (DAPHNE_WS_LIMITS in the Makefile)."""
    match = re.search(r"^DAPHNE_WS_LIMITS\s*:?=\s*(.+)$", (ROOT / "Makefile").read_text(), re.M)
    return match.group(1).strip() if match else ""


def procfile_command(server: str, port: int) -> str:
    """The shell command line of the project's own websocket server on 127.0.0.1:`port`:
    "uvicorn" is the Procfile's `ws` line (production), "daphne" Procfile.dev's `web` line (the
    daphne and flags of `make run`)."""
    if server == "uvicorn":
        cmd = _procfile_line(ROOT / "Procfile", "ws").replace("0.0.0.0", "127.0.0.1")
        cmd = cmd.replace("${WS_PORT:-8001}", str(port))
    else:
        cmd = _procfile_line(ROOT / "Procfile.dev", "web").replace("$PORT", str(port))
    return re.sub(r"(^|\s)(uvicorn|daphne)\s", lambda m: f"{m.group(1)}{BIN / m.group(2)} ", cmd, count=1)


def procfile_server(server: str, port: int, env: dict, log_path: Path):
    """Run `procfile_command(server, port)` for the block, from when it listens; yields the Popen."""
    return process(["/bin/bash", "-c", procfile_command(server, port)], env, log_path, port, ready_timeout=180)


def gunicorn(port: int, env: dict, log_path: Path, *, workers: int = 2, timeout: int = 30):
    """gunicorn serving dgt.wsgi on `port` (`workers` workers, `timeout` s per request) for the block."""
    return process([str(BIN / "gunicorn"), "dgt.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", str(workers),
                    "--timeout", str(timeout)], env, log_path, port)


def celery_worker(env: dict, log_path: Path):
    """A Celery worker (solo pool) on the Procfile worker's queues for the block."""
    return process([str(BIN / "celery"), "-A", "dgt", "worker", "-P", "solo", "-l", "info", "-Q", WORKER_QUEUES],
                   env, log_path)


def relay_loop(env: dict, log_path: Path):
    """The Procfile's relay process (`manage.py outbox_relay_loop`) for the block."""
    return process([str(BIN / "python"), str(ROOT / "manage.py"), "outbox_relay_loop"], env, log_path)


class PrivateRedis:
    """A redis-server (no persistence) on its own port that a test starts, stops and freezes
    (SIGSTOP): never the shared one. Its logs go to `logs`/redis<n>.log, one per start."""

    def __init__(self, port: int, logs: Path):
        self.port, self.logs, self.proc, self.runs = port, logs, None, 0
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        self.runs += 1
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        log = open(self.logs / f"redis{self.runs}.log", "w")
        self.proc = subprocess.Popen([exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=log, stderr=subprocess.STDOUT)
        log.close()
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
def private_redis(logs: Path, port: int):
    """A started `PrivateRedis` on `port` for the block; killed afterwards."""
    redis = PrivateRedis(port, logs)
    try:
        redis.start()
        yield redis
    finally:
        redis.close()


def http_json(url: str, body=None, *, token: str | None = None, headers: dict | None = None,
              timeout: float = 60) -> tuple[int, object, dict]:
    """One JSON call to a server process: POST `body` (GET when None) with a Bearer `token`.
    Returns (status, decoded body, headers); a body that is not JSON is {"raw": text}, a
    connection failure is status 0 with {"error": ...}."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                     headers=all_headers, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, _decoded(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, _decoded(exc.read()), dict(exc.headers)
    except OSError as exc:
        return 0, {"error": str(exc)}, {}


def demo_token(base: str, username: str) -> str:
    """An access token of demo user `username` (ops demo_data) from the server at `base`."""
    status, body, _ = http_json(f"{base}/api/auth/token", {"username": username, "password": DEMO_PASSWORD})
    assert status == 200, body
    return body["access"]


def _decoded(raw: bytes):
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return {"raw": raw[:200].decode(errors="replace")}


def eventually(check, *, within: float, every: float = 0.5):
    """Poll `check()` until it returns a truthy value or `within` seconds pass; its last value.
    (A deadline for an outcome to happen, not a timing assertion.)"""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)
