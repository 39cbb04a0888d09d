"""Drive bench/clients/ws_clients.js (the one client machinery for dgt and the Socket.IO peer)."""
from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from pathlib import Path

from common import BENCH, ROOT, node_env


class WsClients:
    """A Node process holding many websockets; `connect(n)` and `dump()` speak its stdin protocol."""

    def __init__(self, *, mode: str, url: str, users_file: Path, workdir: Path, concurrency: int = 50,
                 max_seconds: int = 900, reconnect: bool = False):
        self.workdir = workdir
        cfg = workdir / f"clients-{mode}.json"
        cfg.write_text(json.dumps({"mode": mode, "url": url, "users": str(users_file), "concurrency": concurrency,
                                   "maxSeconds": max_seconds, "reconnect": reconnect}))
        self.p = subprocess.Popen(["node", str(BENCH / "clients" / "ws_clients.js"), str(cfg)], cwd=ROOT,
                                  env=node_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=open(workdir / f"clients-{mode}.log", "wb"), text=True, bufsize=1,
                                  start_new_session=True)
        self.pid = self.p.pid
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.strip())
        self.lines.put("EOF")

    def _expect(self, prefix: str, timeout: float) -> str:
        while True:
            line = self.lines.get(timeout=timeout)
            if line.startswith(prefix):
                return line
            if line in ("EOF", "TIMEOUT") or line.startswith("ERROR"):
                raise RuntimeError(f"websocket clients: {line}")

    def connect(self, n: int, timeout: float = 600) -> tuple[int, int, float]:
        """Open `n` more sockets; returns (open, failed, seconds for this batch)."""
        self.p.stdin.write(f"connect {n}\n")
        _, open_, failed, secs = self._expect("READY", timeout).split()
        return int(open_), int(failed), float(secs)

    def count(self) -> int:
        self.p.stdin.write("count\n")
        return int(self._expect("COUNT", 60).split()[1])

    def storm(self) -> dict:
        """Reconnect figures (cfg reconnect): closed, readyAgain, resumed, lastReadyAt/lastResumedAt (epoch ms)."""
        self.p.stdin.write("storm\n")
        _, closed, again, resumed, ready_at, resumed_at, *at, attempts = self._expect("STORM", 60).split()
        return {"closed": int(closed), "readyAgain": int(again), "resumed": int(resumed),
                "lastReadyAt": float(ready_at), "lastResumedAt": float(resumed_at),
                "readyAgainAt": dict(zip(("first", "p10", "p50", "p90", "p99"), map(float, at))),
                "attempts": int(attempts)}

    def drain(self, expected: int, *, quiet: float = 3.0, limit: float = 60.0) -> float:
        """Wait until `expected` frames arrived, or none arrived for `quiet` s, or `limit` s passed.
        Returns the seconds waited (late frames are late, not lost, unless they never come)."""
        t0 = time.monotonic()
        last, last_change = self.count(), time.monotonic()
        while last < expected and time.monotonic() - last_change < quiet and time.monotonic() - t0 < limit:
            time.sleep(0.5)
            now = self.count()
            if now != last:
                last, last_change = now, time.monotonic()
        return time.monotonic() - t0

    def dump(self, name: str = "received.json") -> dict:
        path = self.workdir / name
        self.p.stdin.write(f"dump {path}\n")
        self._expect("DUMPED", 60)
        return json.loads(path.read_text())

    def close(self) -> None:
        if self.p.poll() is None:
            try:
                self.p.stdin.write("quit\n")
                self.p.stdin.flush()
                self.p.wait(timeout=10)
            except Exception:
                self.p.kill()
                self.p.wait(timeout=5)
