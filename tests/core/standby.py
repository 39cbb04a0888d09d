"""A real PostgreSQL streaming replica of the test server, for the read-replica tests.

`start_standby(port)` copies the primary (DATABASE_URL's server) with `pg_basebackup -R` into a
temporary directory and starts it with `pg_ctl` as the `postgres` user on `port`, hot standby on.
The primary's pg_hba.conf must allow replication connections from 127.0.0.1 (.ci/run adds the line).
"""
from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

# The standby must allow at least as many of these as its primary (PostgreSQL's rule for hot standby).
_MIRRORED = ("max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions",
             "max_locks_per_transaction")


@dataclass
class Standby:
    port: int
    datadir: Path
    bindir: Path
    primary_dsn: str

    def dsn(self, dbname: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def stop(self) -> None:
        _as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop"],
                     check=False)
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


def _as_postgres(cmd: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=300)


def start_standby(*, primary_host: str, primary_port: int, port: int) -> Standby:
    """Base-backup the primary and start it as a hot standby on 127.0.0.1:`port`."""
    primary_dsn = f"host={primary_host} port={primary_port} user=postgres dbname=postgres"
    with psycopg.connect(primary_dsn, autocommit=True) as conn:
        version = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
        mirrored = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in _MIRRORED}
    bindir = Path(f"/usr/lib/postgresql/{version}/bin")
    if not bindir.exists():
        bindir = Path(shutil.which("pg_ctl")).resolve().parent
    root = Path(tempfile.mkdtemp(prefix="dgt_standby_"))
    datadir = root / "data"
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(root, pg.pw_uid, pg.pw_gid)
    standby = Standby(port=port, datadir=datadir, bindir=bindir, primary_dsn=primary_dsn)
    try:
        _as_postgres([str(bindir / "pg_basebackup"), "-h", primary_host, "-p", str(primary_port), "-U", "postgres",
                      "-D", str(datadir), "-R", "-X", "stream", "-c", "fast"])
        conf = {"port": port, "listen_addresses": "'127.0.0.1'", "unix_socket_directories": f"'{root}'",
                "hot_standby": "on", "shared_buffers": "'32MB'", "fsync": "off", "logging_collector": "off",
                **mirrored}
        conf_text = "".join(f"{k} = {v}\n" for k, v in conf.items())
        hba_text = "local all all trust\nhost all all 127.0.0.1/32 trust\n"
        for name, text in (("postgresql.conf", conf_text), ("pg_hba.conf", hba_text), ("pg_ident.conf", "")):
            (datadir / name).write_text(text)
            if os.geteuid() == 0:
                os.chown(datadir / name, pg.pw_uid, pg.pw_gid)
        _as_postgres([str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(root / "standby.log"), "-w", "-t", "120",
                      "start"])
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(psycopg.OperationalError), \
                    psycopg.connect(standby.dsn("postgres"), autocommit=True, connect_timeout=2) as conn:
                if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                    return standby
            if time.monotonic() > deadline:
                raise RuntimeError(f"standby on {port} did not come up:\n{(root / 'standby.log').read_text()[-2000:]}")
            time.sleep(0.2)
    except BaseException:
        standby.stop()
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
