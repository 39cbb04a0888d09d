"""Shared machinery of the benchmarks in bench/ (see docs/benchmarks.md).

Every benchmark:
* works in its own PostgreSQL database whose name starts with `dgt_bench` (created, migrated,
  dropped at the end) and refuses any other database (`assert_bench_db`);
* uses a Redis database reserved for benchmarks (BENCH_REDIS_URL, default db 7; never db 0),
  flushed before and after, and its own channel prefix (BENCH_CHANNEL_PREFIX);
* starts its servers on loopback ports from BENCH_PORT_BASE (default 19700) upwards;
* prints its figures and ratios and, with `--json PATH`, writes them for `bench/run_all.py`.

A feature that this build lacks makes the benchmark print "not available in this build: ..."
and exit 0 with status "not available" in its JSON.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_BIN = ROOT / ".venv" / "bin"
NODE_DIR = BENCH / "peers" / "socketio"
BENCH_DB_PREFIX = "dgt_bench"
# Databases this run creates: `<BENCH_DB_NAME_PREFIX>_<tag>_<pid>` (e.g. dgt_bench_storm when two
# people benchmark on one PostgreSQL); always under BENCH_DB_PREFIX.
BENCH_DB_NAME_PREFIX = os.environ.get("BENCH_DB_NAME_PREFIX", BENCH_DB_PREFIX)

PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
# A prefix of its own per benchmark process, so two runs at once (two engineers, `make test` while
# `make bench` runs) never receive each other's events.
CHANNEL_PREFIX = os.environ.get("BENCH_CHANNEL_PREFIX", "dgt_i7") + f"_b{os.getpid()}"
PORT_BASE = int(os.environ.get("BENCH_PORT_BASE", "19700"))


def free_port(offset: int) -> int:
    """The first loopback port from PORT_BASE + offset (within PORT_BASE+10..+59) that nobody listens on."""
    for port in [*range(PORT_BASE + offset, PORT_BASE + 60), *range(PORT_BASE + 10, PORT_BASE + offset)]:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORT_BASE + 10}..{PORT_BASE + 59}")
JWT_SECRET = os.environ.get("BENCH_JWT_SECRET", "bench-jwt-secret-only-for-loopback-benchmarks-0123456789")
SECRET_KEY = "bench-secret-key-only-for-loopback-benchmarks-0123456789abcdef"


class NotAvailable(Exception):
    """The feature this benchmark measures does not exist in this build."""


class NotABenchDatabase(Exception):
    pass


# --- databases --------------------------------------------------------------------------------
def db_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def assert_bench_db(url: str) -> str:
    """Return the database name of `url`; raise unless it is a PostgreSQL bench database."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if parts.scheme not in ("postgres", "postgresql") or not name.startswith(BENCH_DB_PREFIX):
        raise NotABenchDatabase(
            f"refusing to run against {name or url!r}: benchmarks only touch PostgreSQL databases "
            f"whose name starts with {BENCH_DB_PREFIX!r}"
        )
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise NotABenchDatabase(f"refusing non-loopback database host {parts.hostname!r}")
    return name


def assert_bench_redis(url: str) -> None:
    parts = urlsplit(url)
    dbnum = parts.path.lstrip("/") or "0"
    if dbnum == "0" or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise NotABenchDatabase(f"refusing Redis {url!r}: benchmarks need a loopback Redis db other than 0")


def with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def psql(sql: str, *, url: str = PG_URL, capture: bool = False) -> str:
    out = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-Atqc", sql], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip() if capture else ""


def create_bench_db(tag: str) -> str:
    """Create an empty database `<BENCH_DB_NAME_PREFIX>_<tag>_<pid>` and return its URL."""
    name = f"{BENCH_DB_NAME_PREFIX}_{tag}_{os.getpid()}"
    url = with_db(PG_URL, name)
    assert_bench_db(url)
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{name}"')
    return url


def drop_bench_db(url: str) -> None:
    name = assert_bench_db(url)
    with contextlib.suppress(subprocess.CalledProcessError):
        psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flush_bench_redis() -> None:
    assert_bench_redis(REDIS_URL)
    subprocess.run(["redis-cli", "-u", REDIS_URL, "FLUSHDB"], check=True, capture_output=True)


def server_env(db_url: str, **extra: str) -> dict[str, str]:
    """Environment of a dgt process in services mode against the bench database (DEBUG off)."""
    assert_bench_db(db_url)
    assert_bench_redis(REDIS_URL)
    env = {k: v for k, v in os.environ.items() if k not in ("DGT_TESTING", "DEBUG", "CELERY_TASK_ALWAYS_EAGER")}
    env.update(
        DATABASE_URL=db_url, REDIS_URL=REDIS_URL, CHANNEL_PREFIX=CHANNEL_PREFIX, DEBUG="0",
        SECRET_KEY=SECRET_KEY, JWT_SECRET=JWT_SECRET, LOG_LEVEL="WARNING", ALLOWED_HOSTS="127.0.0.1,localhost",
        PATH=f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}", PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        # Production mode, but plain HTTP on loopback (TLS ends at the proxy in production).
        SECURE_SSL_REDIRECT="0",
    )
    # The rate limits stay on (their Redis round trip is part of the cost measured) but high
    # enough that 16 clients of one admin are never refused.
    env.update({f"RATELIMIT_{name}": "1000000/m" for name in
                ("TOKEN_IP", "TOKEN_USERNAME", "TOKEN_REFRESH", "USER_BLOCK", "WALLET_REFUND", "WALLET_PAYOUT",
                 "ANALYTICS_INGEST")})
    env.update(extra)
    return env


def django_setup(db_url: str, settings_module: str = "dgt.settings", **extra: str) -> None:
    """Configure Django in this process for the bench database, then migrate it."""
    os.environ.update(server_env(db_url, DJANGO_SETTINGS_MODULE=settings_module, **extra))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def close_django_connections() -> None:
    with contextlib.suppress(Exception):
        from django.db import connections

        connections.close_all()


@contextlib.contextmanager
def bench_database(tag: str, *, keep: bool = False, stop: Sequence = ()) -> Iterator[str]:
    """A fresh bench database (`create_bench_db(tag)`; its URL is yielded), the bench Redis flushed
    and Django set up and migrated on it. On the way out, whatever happened: the processes in `stop`
    (a list the caller may fill inside the block; anything with `stop()`) are stopped, Django's
    connections closed, the bench Redis flushed and the database dropped unless `keep` (--keep-db)."""
    db_url = create_bench_db(tag)
    try:
        flush_bench_redis()
        django_setup(db_url)
        yield db_url
    finally:
        for proc in stop:
            proc.stop()
        close_django_connections()
        flush_bench_redis()
        if not keep:
            drop_bench_db(db_url)


# --- processes --------------------------------------------------------------------------------
def raise_nofile(n: int = 20000) -> int:
    """Raise this process's open-files limit (inherited by the servers and clients it starts)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(n, hard) if hard != resource.RLIM_INFINITY else n
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def procfile_command(process: str) -> str:
    """The command line of `process` (web, ws, worker...) in the Procfile: production layout."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, sep, cmd = line.partition(":")
        if sep and name.strip() == process:
            return cmd.strip()
    raise KeyError(f"no {process!r} process in Procfile")


def server_program(cmd: str) -> str:
    """The program a command line runs, past leading `NAME=value` environment assignments."""
    return next((w for w in cmd.split() if "=" not in w), "")


class Proc:
    """A child process in its own process group, logged to a file, stopped by pid at exit."""

    def __init__(self, cmd: str | list[str], *, env: dict | None = None, log: Path | None = None,
                 cwd: Path = ROOT, shell: bool = False, stdin=None, pass_fds: tuple[int, ...] = ()):
        self.cmd = cmd
        self.log_path = log
        self._log = open(log, "wb") if log else subprocess.DEVNULL
        args = cmd if shell or isinstance(cmd, list) else shlex.split(cmd)
        self.p = subprocess.Popen(args, env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                  shell=shell, start_new_session=True, stdin=stdin, pass_fds=pass_fds,
                                  executable="/bin/bash" if shell else None)
        self.pid = self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def log_tail(self, n: int = 20) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self, sig=signal.SIGTERM, timeout: float = 10) -> int | None:
        if self.p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.p.wait(timeout=5)
        if self._log is not subprocess.DEVNULL:
            self._log.close()
        return self.p.returncode


def wait_port(port: int, *, timeout: float = 60, proc: Proc | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"server exited before listening on {port}:\n{proc.log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def wait_http_ok(url: str, *, timeout: float = 60, proc: Proc | None = None) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"server exited:\n{proc.log_tail()}")
        with contextlib.suppress(Exception), urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                return
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready after {timeout}s")


def npm_install() -> None:
    """`npm install` the Node peer and clients once (node_modules is git-ignored)."""
    lock = NODE_DIR / "node_modules" / ".package-lock.json"
    if lock.exists() and lock.stat().st_mtime >= (NODE_DIR / "package.json").stat().st_mtime:
        return
    cmd = ["npm", "ci"] if (NODE_DIR / "package-lock.json").exists() else ["npm", "install"]
    subprocess.run([*cmd, "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR, check=True, timeout=600)


def node_env() -> dict[str, str]:
    env = dict(os.environ)
    env["NODE_PATH"] = str(NODE_DIR / "node_modules")
    return env


class ProcStats:
    """CPU seconds and RSS of a process tree (psutil), sampled around a measured window."""

    def __init__(self, pid: int):
        import psutil

        self.root = psutil.Process(pid)

    def _procs(self):
        import psutil

        procs = [self.root]
        with contextlib.suppress(psutil.Error):
            procs += self.root.children(recursive=True)
        return procs

    def cpu_seconds(self) -> float:
        import psutil

        total = 0.0
        for p in self._procs():
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def rss_mb(self) -> float:
        import psutil

        total = 0
        for p in self._procs():
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total / 2**20


# --- figures ----------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100, nearest rank) of `values`, None when empty."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50": pct(values, 50), "p99": pct(values, 99),
            "max": max(values) if values else None, "mean": statistics.fmean(values) if values else None}


def fmt(v, unit: str = "", nd: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{nd}f}{unit}"
    return f"{v:,}{unit}"


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", type=Path, help="write the results here (for bench/run_all.py)")
    p.add_argument("--smoke", action="store_true", help="tiny size: proves the benchmark still runs")
    p.add_argument("--keep-db", action="store_true", help="do not drop the bench database at the end")
    return p


def emit(args, result: dict) -> None:
    """Print the result as JSON on the last line and write it to --json."""
    result.setdefault("status", "ok")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str))
    print("RESULT " + json.dumps(result, default=str))


def run_main(name: str, args, body) -> int:
    """Run `body(args) -> dict`, turning NotAvailable into a clean 'not available' result."""
    started = time.time()
    try:
        result = body(args)
    except NotAvailable as e:
        print(f"{name}: not available in this build: {e}")
        result = {"status": "not available", "reason": str(e)}
    except NotABenchDatabase as e:
        print(f"{name}: {e}", file=sys.stderr)
        return 2
    result["benchmark"] = name
    result["seconds"] = round(time.time() - started, 1)
    result["smoke"] = bool(getattr(args, "smoke", False))
    emit(args, result)
    return 0


def make_token(user_id: int, role: str, ttl: int = 3 * 3600) -> str:
    """An HS256 access token as the Node apps mint them (claims sub, role, exp, iat, jti; docs/architecture.md, Authentication)."""
    import uuid

    import jwt

    now = int(time.time())
    return jwt.encode({"sub": str(user_id), "role": role, "iat": now, "exp": now + ttl, "jti": uuid.uuid4().hex},
                      JWT_SECRET, algorithm="HS256")


def log_dir(tag: str) -> Path:
    d = ROOT / "var" / "bench" / tag
    d.mkdir(parents=True, exist_ok=True)
    return d


# --- profiles ---------------------------------------------------------------------------------
def pyspy_start(pid: int, out: Path, seconds: float) -> Proc:
    """Sample `pid` and its children with py-spy for `seconds`, as collapsed stacks in `out`."""
    return Proc([str(VENV_BIN / "py-spy"), "record", "--pid", str(pid), "--subprocesses", "--duration",
                 str(int(seconds)), "--rate", "200", "--format", "raw", "--output", str(out), "--nonblocking"],
                log=out.with_suffix(".log"))


def pyspy_top(collapsed: Path, n: int = 25) -> list[tuple[str, float, float]]:
    """[(frame, inclusive %, self %)] of the hottest frames in a py-spy raw (collapsed) profile."""
    if not collapsed.exists():
        return []
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        c = int(count)
        total += c
        frames = stack.split(";")
        for f in set(frames):
            inclusive[f] = inclusive.get(f, 0) + c
        own[frames[-1]] = own.get(frames[-1], 0) + c
    if not total:
        return []
    top = sorted(inclusive.items(), key=lambda kv: -kv[1])
    return [(f, 100 * c / total, 100 * own.get(f, 0) / total) for f, c in top[:n]]


def pyspy_self_top(collapsed: Path, n: int = 15) -> list[tuple[str, float]]:
    """[(frame, self %)]: where the samples end (the leaf frames)."""
    if not collapsed.exists():
        return []
    own: dict[str, int] = {}
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit():
            own[stack.split(";")[-1]] = own.get(stack.split(";")[-1], 0) + int(count)
            total += int(count)
    return [(f, 100 * c / total) for f, c in sorted(own.items(), key=lambda kv: -kv[1])[:n]] if total else []


# --- data and feature checks ------------------------------------------------------------------
def task_or_unavailable(task_name: str, what: str):
    """The registered Celery task `task_name`, or NotAvailable naming what is missing."""
    from celery import current_app

    current_app.loader.import_default_modules()
    task = current_app.tasks.get(task_name)
    if task is None:
        raise NotAvailable(f"{what}: Celery task {task_name} is not registered")
    return task


def sql_fill(model, n: int, exprs: dict[str, str], *, start: int = 0) -> None:
    """INSERT `n` rows of `model` with one statement (generate_series, `g` is the row number).

    `exprs` gives SQL expressions by field name; any other column gets NULL when nullable, else
    the field's default (the same value for every row), so columns added later do not break it.
    """
    from django.db import connection

    cols, values, params = [], [], []
    for f in model._meta.concrete_fields:
        if f.primary_key and f.name not in exprs:
            continue
        cols.append(connection.ops.quote_name(f.column))
        if f.name in exprs:
            values.append(exprs[f.name].replace("%", "%%"))  # params follow: % is a placeholder
        elif f.null:
            values.append("NULL")
        elif f.has_default() or getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            default = f.get_default() if f.has_default() else None
            if default is None:
                values.append("now()")
            else:
                values.append("%s")
                params.append(f.get_db_prep_save(default, connection))
        else:
            raise RuntimeError(f"sql_fill: no value for required column {model.__name__}.{f.name}")
    sql = (f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({', '.join(cols)}) "
           f"SELECT {', '.join(values)} FROM generate_series({start}, {start + n - 1}) AS g")
    with connection.cursor() as cur:
        cur.execute(sql, params)  # with params (even none) "%%" is the modulo operator, "%s" a value
