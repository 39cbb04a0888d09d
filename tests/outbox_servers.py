"""Real server processes for the outbox end-to-end tests (ports 19500-19599: the end-to-end tests' range)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


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
    """Wait until `port` accepts connections (an upper bound for start-up on a loaded machine:
    python-socketio alone imports aiohttp and requests, seconds when the 2 cores are busy)."""
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
    import urllib.error
    import urllib.request

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
    raise TimeoutError(f"daphne on {port} did not answer")


def services_env(**extra) -> dict:
    """Environment for a server on the test database, the test Redis and channel prefix."""
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
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",  # plain http on 127.0.0.1 (TLS ends at the proxy in production)
    }
    env.update(extra)
    return env


@contextmanager
def process(args: list[str], env: dict, log_path: Path, port: int | None = None, pass_fds: tuple = ()):
    """Run a server process for the duration of the block; SIGTERM (then kill) afterwards."""
    log = open(log_path, "w")
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, pass_fds=pass_fds)
    try:
        if port is not None:
            wait_port(port, proc)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        log.close()


@contextmanager
def daphne(port: int, env: dict, log_path: Path):
    """daphne serving `port` on a socket this process binds and hands over (`--fd`).

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
        with process([str(BIN / "daphne"), "--fd", str(sock.fileno()), "dgt.asgi:application"],
                     env, log_path, pass_fds=(sock.fileno(),)) as proc:
            wait_http(port, proc)  # the socket accepts at once: ready means daphne answers
            yield proc
    finally:
        sock.close()


def redis_server(port: int, log_path: Path):
    """A private redis-server (no persistence) that a test may stop: never the shared one."""
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    return process([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                   dict(os.environ), log_path, port)
