"""Real processes for the tests that need them (several apps): daphne, the Procfile's uvicorn and
Procfile.dev's daphne, gunicorn, a Celery worker, the relay loop, a private redis-server; their
environments, and the HTTP calls made to them.

Every process runs in its own session and is stopped with its children (SIGTERM, then SIGKILL)
when its `with` block ends. Ports: every checkout's suite on this machine starts from the same
ones, so each suite looks in its own range (docs/testing.md, "Ports"), and a server never binds a
port itself after a check that it was free: the test binds it (`held_port`) and holds it until
its block ends, and the servers serve that very socket, handed over by fd (docs/testing.md,
"Flakes": another suite's server could take a port in the seconds our server took to start).
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
BACKLOG = 128  # of a held socket the test listens on itself (daphne's)


class HeldPort:
    """A TCP port on 127.0.0.1 this test process binds and holds; the servers it starts serve that
    socket (`fd`, inherited by them), so no other process can take the port during a server's
    start-up or between two servers (a restart). `number` is the port (int).

    Bound without SO_REUSEADDR, so nobody can bind it while held (uvicorn, gunicorn and
    redis-server set SO_REUSEADDR, which only lets a socket share a port with sockets that set it
    too). After the bind, SO_REUSEPORT: the next server may listen on it again although the
    previous server's connections are in TIME_WAIT (a socket without it cannot); set only after
    the bind, it does not let anybody else bind the port (they would have to set it themselves
    before binding, which no server here does). TCP_NODELAY: accepted connections inherit it
    (Linux), as each server sets it on its own TCP sockets; without it uvicorn's `--fd`, which
    labels an adopted socket AF_UNIX so that uvloop serves it as a pipe, would serve them with
    Nagle's delay on.

    Not listening until a server listens: uvicorn (asyncio's or uvloop's create_server with
    `sock=`) and gunicorn (its arbiter, at start) call listen() themselves, so until then connects
    are refused as with no server at all; daphne (Twisted) adopts only a listening socket, so
    `daphne` listens first. After a server stops, `unlisten`: refused again, as in a real restart,
    instead of queued in the backlog for the next server.

    Raises RuntimeError when no port in [start, end) can be bound.
    """

    def __init__(self, start: int, end: int = 19600):
        for port in range(start, end):
            sock = socket.socket()
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:  # another process (or this one) holds it, listens on it, or has it in TIME_WAIT
                sock.close()
                continue
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.set_inheritable(True)
            self.sock, self.number = sock, port
            return
        raise RuntimeError(f"no free port in {start}-{end - 1}")

    @property
    def fd(self) -> int:
        return self.sock.fileno()

    def listening(self) -> bool:
        return bool(self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))

    def listen(self) -> None:
        """Listen (for a server that adopts only a listening socket: daphne)."""
        self.sock.listen(BACKLOG)

    def unlisten(self) -> None:
        """After the server serving this socket has stopped: connects are refused again, the port
        stays bound. The socket outlives the server (this process holds it), and would otherwise
        go on accepting connections into its backlog."""
        # gunicorn sets SO_REUSEADDR on the socket it adopts; without it, nobody can bind the port
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
        if self.listening():
            # Linux: shutdown(SHUT_RD) of a listening socket disconnects it (tcp_disconnect): it
            # stops listening, drops what its backlog held, and keeps its port
            self.sock.shutdown(socket.SHUT_RD)

    @contextmanager
    def shared(self):
        """For the block, a server that binds the port itself (redis-server cannot adopt a socket)
        may bind it next to this socket: SO_REUSEADDR, which such a server sets too, lets a socket
        bind a port whose other sockets set it and do not listen. Only from the server's start
        until it listens: then nobody else can bind the port, and after the block, nobody can."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            yield self
        finally:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)

    def close(self) -> None:
        self.sock.close()


@contextmanager
def held_port(start: int, end: int = 19600):
    """A `HeldPort`: the first port in [start, end) that can be bound (default: within
    19500-19599), held for the block and released after it."""
    port = HeldPort(start, end)
    try:
        yield port
    finally:
        port.close()


def wait_http(port: int, proc, timeout: float = 60) -> None:
    """Wait until GET /healthz on 127.0.0.1:`port` answers (any status) while `proc` runs."""
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
def process(args: list[str], env: dict, log_path: Path, port: HeldPort | None = None, *, ready_timeout: float = 90):
    """Run `args` (its output to `log_path`) for the block. With `port`, the process inherits its
    socket (`port.fd`, which `args` names), the block starts once the process answers HTTP on it
    (`wait_http`), and after the process has stopped the socket stops listening (`HeldPort.unlisten`:
    refused until the next server listens). Yields the Popen; stopped with its children afterwards."""
    log = open(log_path, "w")
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            pass_fds=(port.fd,) if port is not None else (), start_new_session=True)
    try:
        if port is not None:
            wait_http(port.number, proc, timeout=ready_timeout)
        yield proc
    finally:
        stop(proc)
        if port is not None:
            port.unlisten()
        log.close()


def daphne(port: HeldPort, env: dict, log_path: Path, flags: tuple[str, ...] = ()):
    """daphne (with extra `flags`) serving `port`'s socket (`--fd`) for the block, from when it
    answers HTTP. Twisted adopts only a listening socket (it never calls listen() on one it is
    given), so the socket listens before daphne starts: connects made before daphne serves wait in
    the backlog, hence the wait for an HTTP answer rather than a connect."""
    port.listen()
    return process([str(BIN / "daphne"), "--fd", str(port.fd), *flags, "dgt.asgi:application"], env, log_path, port)


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


def _bind_by_fd(cmd: str, address: str, port: str, fd: int) -> str:
    """`cmd` with its bind flags (`address` and `port`, each with its value) replaced by `--fd fd`;
    KeyError unless the line has each exactly once (the Procfile changed: look again)."""
    flags = [rf"\s{re.escape(flag)}\s+\S+" for flag in (address, port)]
    if any(len(re.findall(flag, cmd)) != 1 for flag in flags):
        raise KeyError(f"not one {address} and one {port} in {cmd!r}")
    return re.sub(flags[1], "", re.sub(flags[0], f" --fd {fd}", cmd))


def procfile_command(server: str, fd: int) -> str:
    """The shell command line of the project's own websocket server, serving the socket `fd`:
    "uvicorn" is the Procfile's `ws` line (production), "daphne" Procfile.dev's `web` line (the
    daphne and flags of `make run`). Every flag and variable of the line is kept exactly (the tests
    exist to test these lines); only the bind changes: `--host 0.0.0.0 --port ${WS_PORT:-8001}`
    (uvicorn) or `-b 127.0.0.1 -p $PORT` (daphne) becomes `--fd fd` (see `HeldPort`)."""
    if server == "uvicorn":
        cmd = _bind_by_fd(_procfile_line(ROOT / "Procfile", "ws"), "--host", "--port", fd)
    else:
        cmd = _bind_by_fd(_procfile_line(ROOT / "Procfile.dev", "web"), "-b", "-p", fd)
    return re.sub(r"(^|\s)(uvicorn|daphne)\s", lambda m: f"{m.group(1)}{BIN / m.group(2)} ", cmd, count=1)


def procfile_server(server: str, port: HeldPort, env: dict, log_path: Path):
    """Run `procfile_command(server, port.fd)` for the block, from when it answers HTTP; yields the
    Popen. uvicorn listens on the socket itself once its application is loaded (refused before);
    daphne adopts only a listening one, so for it the socket listens first (as in `daphne`)."""
    if server == "daphne":
        port.listen()
    return process(["/bin/bash", "-c", procfile_command(server, port.fd)], env, log_path, port, ready_timeout=180)


def gunicorn(port: HeldPort, env: dict, log_path: Path, *, workers: int = 2, timeout: int = 30):
    """gunicorn serving dgt.wsgi on `port`'s socket (`-b fd://N`; its arbiter calls listen() at
    start) with `workers` workers, `timeout` s per request, for the block, from when it answers HTTP."""
    return process([str(BIN / "gunicorn"), "dgt.wsgi:application", "-b", f"fd://{port.fd}", "-w", str(workers),
                    "--timeout", str(timeout)], env, log_path, port)


def celery_worker(env: dict, log_path: Path):
    """A Celery worker (solo pool) on the Procfile worker's queues for the block."""
    return process([str(BIN / "celery"), "-A", "dgt", "worker", "-P", "solo", "-l", "info", "-Q", WORKER_QUEUES],
                   env, log_path)


def relay_loop(env: dict, log_path: Path):
    """The Procfile's relay process (`manage.py outbox_relay_loop`) for the block."""
    return process([str(BIN / "python"), str(ROOT / "manage.py"), "outbox_relay_loop"], env, log_path)


class PrivateRedis:
    """A redis-server (no persistence) on a port this test holds (`port`, a `HeldPort`), that a test
    starts, stops and freezes (SIGSTOP): never the shared one. Its logs go to `logs`/redis<n>.log,
    one per start. redis-server cannot adopt a socket: it binds the port itself, next to the held
    socket (`HeldPort.shared`), and `start` returns once the server answering on the port reports
    this process's pid. Between a stop and a start the held socket keeps the port: connects are
    refused, as with Redis down, and no other process can take it. `self.port` is the number."""

    def __init__(self, port: HeldPort, logs: Path):
        self.held, self.port, self.logs, self.proc, self.runs = port, port.number, logs, None, 0
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.runs += 1
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        log = open(self.logs / f"redis{self.runs}.log", "w")
        with self.held.shared():
            self.proc = subprocess.Popen([exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                          "--appendonly", "no"], stdout=log, stderr=subprocess.STDOUT)
            log.close()
            self._wait_serving()

    def _wait_serving(self, timeout: float = 60) -> None:
        """Until the redis-server answering on the port is `self.proc` (INFO's process_id)."""
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=2)
        deadline = time.time() + timeout
        try:
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
                try:
                    pid = client.info("server")["process_id"]
                except redis.RedisError:
                    time.sleep(0.1)
                    continue
                if pid != self.proc.pid:
                    raise RuntimeError(f"another redis-server (pid {pid}) serves {self.port}")
                return
            raise TimeoutError(f"redis-server not serving {self.port}")
        finally:
            client.close()

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
def private_redis(logs: Path, start: int, end: int = 19600):
    """A started `PrivateRedis` on the first port of [start, end) this process can hold, for the
    block; killed afterwards and the port released."""
    with held_port(start, end) as port:
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
