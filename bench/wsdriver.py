"""Drive bench/clients/ws_clients.js (the one client machinery for dgt and the Socket.IO peer)."""
from __future__ import annotations

import json
import queue
import subprocess
import threading
from pathlib import Path

from common import BENCH, ROOT, node_env


class WsClients:
    """A Node process holding many websockets; `connect(n)` and `dump()` speak its stdin protocol."""

    def __init__(self, *, mode: str, url: str, users_file: Path, workdir: Path, concurrency: int = 50,
                 max_seconds: int = 900):
        self.workdir = workdir
        cfg = workdir / f"clients-{mode}.json"
        cfg.write_text(json.dumps({"mode": mode, "url": url, "users": str(users_file), "concurrency": concurrency,
                                   "maxSeconds": max_seconds}))
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
