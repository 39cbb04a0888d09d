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


def free_port(start: int, stop: int = 19600) -> int:
    """The first port from `start` (below `stop`; the end-to-end range 19500-19599 by default) nobody listens on."""
    for port in range(start, stop):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError(f"no free port in {start}-{stop - 1}")


def wait_port(port: int, proc=None, timeout: float = 30) -> None:
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
def process(args: list[str], env: dict, log_path: Path, port: int | None = None):
    """Run a server process for the duration of the block; SIGTERM (then kill) afterwards."""
    log = open(log_path, "w")
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
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


def daphne(port: int, env: dict, log_path: Path):
    return process([str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "dgt.asgi:application"],
                   env, log_path, port)


def redis_server(port: int, log_path: Path):
    """A private redis-server (no persistence) that a test may stop: never the shared one."""
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    return process([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                   dict(os.environ), log_path, port)
