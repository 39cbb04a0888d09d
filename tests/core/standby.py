"""Private PostgreSQL clusters for the tests, run with `pg_ctl` (as the `postgres` user when the
suite runs as root) on their own port and unix socket directory, in a temporary directory:

- `start_standby(...)`: a real streaming replica of the test server (`pg_basebackup -R`, hot
  standby on), for the read-replica tests (tests/core/test_replica.py). The primary's pg_hba.conf
  must allow replication connections from 127.0.0.1 (.ci/run adds the line).
- `private_cluster(port)`: a fresh, empty cluster (`initdb`) that a test may restart or crash
  under load (tests/ops/test_faults_postgres.py), never the shared server.

Both trust every connection from 127.0.0.1 and from their socket directory, as user `postgres`.
"""
from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

# The standby must allow at least as many of these as its primary (PostgreSQL's rule for hot standby).
_MIRRORED = ("max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions",
             "max_locks_per_transaction")


@dataclass
class Cluster:
    """A cluster in `datadir` (whose parent, the cluster's temporary root, also holds its socket and
    its server log) served on 127.0.0.1:`port` by the binaries in `bindir`."""

    port: int
    datadir: Path
    bindir: Path

    @property
    def log(self) -> Path:
        return self.datadir.parent / "postgres.log"

    def dsn(self, dbname: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def url(self, dbname: str) -> str:
        """DATABASE_URL of `dbname` on this cluster."""
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return _as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args], check=check)

    def start(self) -> None:
        """Start the server; returns once it accepts connections (pg_ctl -w)."""
        self.pg_ctl("-l", str(self.log), "-w", "-t", "120", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server with pg_ctl's shutdown `mode`: "fast" (sessions are terminated, open
        transactions roll back, a checkpoint is written) or "immediate" (every process quits at once,
        as in a crash: the next start recovers from the WAL)."""
        self.pg_ctl("-m", mode, "-w", "-t", "120", "stop")

    def restart(self, mode: str = "fast") -> None:
        """`pg_ctl restart -m mode`: stop as `stop(mode)`, start again, return once it accepts connections."""
        self.pg_ctl("-l", str(self.log), "-m", mode, "-w", "-t", "120", "restart")

    def remove(self) -> None:
        """Stop the server at once (if it runs) and delete its files."""
        self.pg_ctl("-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


@dataclass
class Standby(Cluster):
    primary_dsn: str = ""


def _as_postgres(cmd: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=300)


def _bindir(version: int | None = None) -> Path:
    """The binaries of PostgreSQL `version` (Debian's /usr/lib/postgresql/<v>/bin; the newest
    installed one without `version`), else the pg_ctl on PATH."""
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
                       if p.parent.name.isdigit() else 0)
    wanted = [p for p in installed if version is None or p.parent.name == str(version)]
    if wanted:
        return wanted[-1]
    return Path(shutil.which("pg_ctl")).resolve().parent


def _new_root(prefix: str) -> Path:
    """A temporary directory the `postgres` user owns (the cluster's data, socket and log go in it)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    _chown(root)
    return root


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(path, pg.pw_uid, pg.pw_gid)


def _configure(cluster: Cluster, settings: dict) -> None:
    """Write the cluster's postgresql.conf (its port, 127.0.0.1 and its own socket directory, small
    and unsynced, plus `settings`), a pg_hba.conf trusting 127.0.0.1 and the socket, and no ident map."""
    conf = {"port": cluster.port, "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{cluster.datadir.parent}'", "shared_buffers": "'32MB'", "fsync": "off",
            "logging_collector": "off", **settings}
    conf_text = "".join(f"{k} = {v}\n" for k, v in conf.items())
    hba_text = "local all all trust\nhost all all 127.0.0.1/32 trust\n"
    for name, text in (("postgresql.conf", conf_text), ("pg_hba.conf", hba_text), ("pg_ident.conf", "")):
        (cluster.datadir / name).write_text(text)
        _chown(cluster.datadir / name)


def _start_or_remove(cluster: Cluster) -> None:
    try:
        cluster.start()
    except subprocess.CalledProcessError as exc:
        log = cluster.log.read_text(errors="replace")[-2000:] if cluster.log.exists() else ""
        cluster.remove()
        raise RuntimeError(f"PostgreSQL on {cluster.port} did not start: {exc.stderr}\n{log}") from None


@contextlib.contextmanager
def private_cluster(port: int, *, logs: Path | None = None) -> Iterator[Cluster]:
    """A fresh cluster (initdb: UTF8, C locale, superuser `postgres`) serving 127.0.0.1:`port` for
    the block; stopped and deleted afterwards, its server log copied to `logs`/postgres.log first."""
    root = _new_root("dgt_cluster_")
    cluster = Cluster(port=port, datadir=root / "data", bindir=_bindir())
    try:
        _as_postgres([str(cluster.bindir / "initdb"), "-D", str(cluster.datadir), "-U", "postgres", "-A", "trust",
                      "-E", "UTF8", "--locale=C", "--no-sync"])
    except BaseException:
        cluster.remove()
        raise
    _configure(cluster, {})
    _start_or_remove(cluster)
    try:
        yield cluster
    finally:
        if logs is not None and cluster.log.exists():
            shutil.copy(cluster.log, logs / "postgres.log")
        cluster.remove()


def start_standby(*, primary_host: str, primary_port: int, port: int) -> Standby:
    """Base-backup the primary and start it as a hot standby on 127.0.0.1:`port`."""
    primary_dsn = f"host={primary_host} port={primary_port} user=postgres dbname=postgres"
    with psycopg.connect(primary_dsn, autocommit=True) as conn:
        version = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
        mirrored = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in _MIRRORED}
    root = _new_root("dgt_standby_")
    standby = Standby(port=port, datadir=root / "data", bindir=_bindir(version), primary_dsn=primary_dsn)
    try:
        _as_postgres([str(standby.bindir / "pg_basebackup"), "-h", primary_host, "-p", str(primary_port),
                      "-U", "postgres", "-D", str(standby.datadir), "-R", "-X", "stream", "-c", "fast"])
        _configure(standby, {"hot_standby": "on", **mirrored})
        standby.start()
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(psycopg.OperationalError), \
                    psycopg.connect(standby.dsn("postgres"), autocommit=True, connect_timeout=2) as conn:
                if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                    return standby
            if time.monotonic() > deadline:
                raise RuntimeError(f"standby on {port} did not come up:\n{standby.log.read_text()[-2000:]}")
            time.sleep(0.2)
    except BaseException:
        standby.remove()
        raise


def wait_replayed(standby: Standby, dbname: str, *, timeout: float = 60) -> None:
    """Block until the standby has replayed everything the primary wrote so far (bounded wait)."""
    with psycopg.connect(standby.primary_dsn, autocommit=True) as primary:
        lsn = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    deadline = time.monotonic() + timeout
    with psycopg.connect(standby.dsn(dbname), autocommit=True) as replica:
        while not replica.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn]).fetchone()[0]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"standby did not replay up to {lsn} within {timeout} s")
            time.sleep(0.05)


def replay_pause(standby: Standby, dbname: str) -> None:
    """Stop applying WAL on the standby (it keeps receiving it): the replica now lags."""
    with psycopg.connect(standby.dsn(dbname), autocommit=True) as replica:
        replica.execute("SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + 30
        while replica.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] != "paused":
            if time.monotonic() > deadline:
                raise TimeoutError("standby replay did not pause")
            time.sleep(0.05)


def replay_resume(standby: Standby, dbname: str) -> None:
    with psycopg.connect(standby.dsn(dbname), autocommit=True) as replica:
        replica.execute("SELECT pg_wal_replay_resume()")
