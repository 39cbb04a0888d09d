"""The benchmarks in bench/ still run (tiny size), refuse foreign databases, and write their table.

Benchmarks are not tests: nothing here asserts a time. The smoke runs need PostgreSQL, Redis and
Node (marked `services`/`e2e`: skipped embedded, required with DGT_REQUIRE_SERVICES=1); the guard
and table-writer tests run everywhere.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import common  # noqa: E402
import run_all  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("url", [
    "postgres://postgres@127.0.0.1:5432/dgt_main",
    "postgres://postgres@127.0.0.1:5432/dgt_i7",
    "postgres://postgres@127.0.0.1:5432/test_dgt_bench",
    "postgres://postgres@db.example.com:5432/dgt_bench_x",
    "sqlite:///dgt_bench.sqlite3",
])
def test_guard_refuses_databases_that_are_not_bench_databases(url):
    with pytest.raises(common.NotABenchDatabase):
        common.assert_bench_db(url)
    with pytest.raises(common.NotABenchDatabase):
        common.server_env(url)


def test_guard_accepts_a_bench_database_and_refuses_redis_db_0():
    assert common.assert_bench_db("postgres://postgres@127.0.0.1:5432/dgt_bench_api_1") == "dgt_bench_api_1"
    with pytest.raises(common.NotABenchDatabase):
        common.assert_bench_redis("redis://127.0.0.1:6379/0")
    with pytest.raises(common.NotABenchDatabase):
        common.assert_bench_redis("redis://127.0.0.1:6379")
    common.assert_bench_redis("redis://127.0.0.1:6379/7")


def test_publisher_refuses_a_database_that_is_not_a_bench_database(tmp_path):
    schedule = tmp_path / "s.json"
    schedule.write_text("[]")
    env = dict(os.environ, DATABASE_URL="postgres://postgres@127.0.0.1:5432/dgt_main")
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "dgt_publisher.py"), "--mode", "outbox", "--schedule",
                          str(schedule), "--out", str(tmp_path / "o.json")], env=env, capture_output=True, text=True)
    assert out.returncode != 0
    assert "refusing to run against 'dgt_main'" in out.stderr
    assert not (tmp_path / "o.json").exists()


def test_percentiles_are_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert common.pct(values, 50) == 50.0
    assert common.pct(values, 99) == 99.0
    assert common.pct(values, 100) == 100.0
    assert common.pct([], 99) is None
    assert common.summary([3.0, 1.0, 2.0])["max"] == 3.0


def test_pyspy_top_counts_inclusive_and_self_samples(tmp_path):
    collapsed = tmp_path / "p.collapsed"
    collapsed.write_text("main;a;b 6\nmain;a 2\nmain;c 2\n")
    top = {f: (inc, own) for f, inc, own in common.pyspy_top(collapsed)}
    assert top["main"] == (100.0, 0.0)
    assert top["a"] == (80.0, 20.0)
    assert top["b"] == (60.0, 60.0)


def test_table_keeps_the_hand_written_part_of_the_doc(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\nintro by hand\n\n{run_all.BEGIN}\nold table\n{run_all.END}\n\n## Notes by hand\n")
    meta = {"started": "2026-01-01 00:00", "seconds": 1.0, "smoke": False,
            "machine": {"cpu": "cpu", "cores": 2, "memoryGb": 1.0, "kernel": "k", "loadavg": "0 0 0"},
            "versions": {k: "v" for k in ["python", "packages", "postgres", "redis", "pgbench", "redisBenchmark", "node",
                                          "nodePackages"]}}
    results = {"expiry_job": {"status": "not available", "reason": "Celery task x is not registered"},
               "outbox_relay": {"status": "ok", "sent": 100, "drainSeconds": 0.5, "eventsPerSecond": 200.0, "left": 0,
                                "failed": 0, "redisPublish1": 1000.0, "redisPublish50": 4000.0, "ratio1": 0.2,
                                "ratio50": 0.05, "goalMet": False}}
    run_all.write_doc(doc, results, meta, ["cmd"])
    text = doc.read_text()
    assert "intro by hand" in text and "## Notes by hand" in text
    assert "old table" not in text
    assert text.count(run_all.BEGIN) == 1 and text.count(run_all.END) == 1
    run_all.write_doc(doc, results, meta, ["cmd"])  # a second run replaces the table again, keeps the rest
    assert doc.read_text() == text
    assert "not available in this build: Celery task x is not registered" in text
    assert "200 events/s" in text and "**NOT met**" in text


def bench_env() -> dict:
    """The smoke runs stay inside the caller's own slice: its Redis db (never db 0), a channel prefix
    of its own and, for engineer N's `dgt_iN` prefix, the upper half of its port range 19N00-19N99."""
    env = dict(os.environ)
    redis_url = os.environ.get("REDIS_URL", "")
    if redis_url and urlsplit(redis_url).path.strip("/") not in ("0", "") and "BENCH_REDIS_URL" not in env:
        env["BENCH_REDIS_URL"] = redis_url
    prefix = os.environ.get("CHANNEL_PREFIX", "")
    env.setdefault("BENCH_CHANNEL_PREFIX", f"{prefix or 'dgt'}_bench")
    m = re.fullmatch(r"dgt_i(\d)", prefix)
    if m:
        env.setdefault("BENCH_PORT_BASE", str(19000 + int(m.group(1)) * 100 + 40))
    elif prefix:
        # Any other prefix (CI's, a worktree's): a base of its own in 20000-23900, so suites of
        # different checkouts on this machine never start their benchmark servers on one port
        # (a foreign server answered 401 to every request of the api_writes smoke once).
        env.setdefault("BENCH_PORT_BASE", str(20000 + zlib.crc32(prefix.encode()) % 40 * 100))
    return env


@pytest.mark.services
@pytest.mark.e2e
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", run_all.BENCHMARKS)
def test_benchmark_runs_at_tiny_size(name, tmp_path):
    if shutil.which("node") is None or shutil.which("pgbench") is None:
        pytest.fail("benchmarks need node and pgbench (Debian packages nodejs, npm, postgresql-client)")
    out = tmp_path / f"{name}.json"
    proc = subprocess.Popen([str(common.VENV_BIN / "python"), f"bench/{name}.py", "--smoke", "--json", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=bench_env())
    stdout, stderr = proc.communicate(timeout=580)
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["benchmark"] == name and result["smoke"] is True
    assert result["status"] in ("ok", "not available")
    if result["status"] == "not available":
        # Only outside CI: where the tools and services exist (DGT_REQUIRE_SERVICES=1) every benchmark must run.
        assert os.environ.get("DGT_REQUIRE_SERVICES") != "1", stdout[-3000:] + stderr[-3000:]
        assert f"{name}: not available in this build: " in stdout
        return
    if name == "api_writes":
        assert result["pgbench"]["tps"] > 0
        assert set(result["endpoints"]) == {"approve", "refund", "wallet", "listings"}
        for endpoint, ok in (("approve", "200"), ("refund", "201"), ("wallet", "200"), ("listings", "200")):
            figures = result["endpoints"][endpoint]
            # dgt and the naive peer (bench/peers/naive) both answered, and the ratio to the peer is there
            assert figures["requests"] > 0 and figures["statuses"].get(ok, 0) > 0, (endpoint, figures)
            assert figures["naive"]["okRps"] > 0 and figures["naive"]["errors"] == 0, (endpoint, figures["naive"])
            assert figures["ratioNaive"] > 0
    elif name == "event_latency":
        assert [r["socketsReady"] for r in result["runs"]] == [result["users"]] * len(result["runs"])
        assert all(r["expectedDeliveries"] > 0 and r["delivered"] > 0 for r in result["runs"])
        assert result["fullPath"]["approvals"] > 0
    elif name == "idle_sockets":
        assert result["runs"][0]["sockets"] == result["target"]
    elif name == "reconnect_storm":
        assert result["storm"]["resumed"] == result["sockets"] == result["connect"]["ready"]
        assert result["delivery"]["expected"] > 0
        assert (result["delivery"]["lost"], result["delivery"]["duplicates"], result["delivery"]["outOfOrder"]) == (0, 0, 0)
        assert 0 < result["pgConnectionsPeak"] <= result["poolBound"]
    # bench databases are dropped afterwards
    names = common.psql(f"SELECT datname FROM pg_database WHERE datname LIKE '{common.BENCH_DB_PREFIX}%'", capture=True)
    assert f"_{proc.pid}" not in names


@pytest.mark.services
@pytest.mark.timeout(300)
def test_in_process_read_benchmark_runs_at_tiny_size():
    """bench/api_reads_inprocess.py: this checkout and the naive peer answer both reads, in rounds."""
    proc = subprocess.run([str(common.VENV_BIN / "python"), "bench/api_reads_inprocess.py", "--rounds", "2", "-n", "5"],
                          cwd=ROOT, capture_output=True, text=True, env=bench_env(), timeout=280)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = [line.split() for line in proc.stdout.splitlines() if line.startswith("  ")]
    assert {(words[0], words[1]) for words in lines} == {(kind, server) for kind in ("wallet", "listings")
                                                         for server in (str(ROOT), "naive")}
    assert all("x naive" in " ".join(words) for words in lines if words[1] != "naive")
