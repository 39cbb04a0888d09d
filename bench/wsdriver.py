"""Drive bench/clients/ws_clients.js (the one client machinery for dgt and the Socket.IO peer).

`WsClients(processes=K)` spreads the users over K Node processes (one slice of the users file
each): a single Node process opens ~1,000-1,500 websockets a second on this machine and, in a
reconnect storm, is itself the bottleneck (docs/benchmarks.md, "Reconnect storm: the clients").
"""
from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from pathlib import Path

from common import BENCH, ROOT, node_env


class _NodeClients:
    """One Node process of ws_clients.js and its stdin/stdout protocol."""

    def __init__(self, cfg: dict, workdir: Path, name: str):
        cfg_path = workdir / f"{name}.json"
        cfg_path.write_text(json.dumps(cfg))
        self.p = subprocess.Popen(["node", str(BENCH / "clients" / "ws_clients.js"), str(cfg_path)], cwd=ROOT,
                                  env=node_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=open(workdir / f"{name}.log", "wb"), text=True, bufsize=1,
                                  start_new_session=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.strip())
        self.lines.put("EOF")

    def send(self, line: str) -> None:
        self.p.stdin.write(line + "\n")

    def expect(self, prefix: str, timeout: float) -> str:
        while True:
            line = self.lines.get(timeout=timeout)
            if line.startswith(prefix):
                return line
            if line in ("EOF", "TIMEOUT") or line.startswith("ERROR"):
                raise RuntimeError(f"websocket clients: {line}")

    def close(self) -> None:
        if self.p.poll() is None:
            try:
                self.send("quit")
                self.p.stdin.flush()
                self.p.wait(timeout=10)
            except Exception:
                self.p.kill()
                self.p.wait(timeout=5)


class WsClients:
    """Node processes holding many websockets (`processes`, one slice of the users each; every
    command goes to all and their answers are summed); `connect(n)` and `dump()` speak their
    stdin protocol. `pids`: the Node processes (their CPU is the clients' CPU)."""

    def __init__(self, *, mode: str, url: str, users_file: Path, workdir: Path, concurrency: int = 50,
                 max_seconds: int = 900, reconnect: bool = False, processes: int = 1):
        self.workdir = workdir
        users = json.loads(users_file.read_text())
        self.nodes = []
        for k in range(processes):
            part = users_file if processes == 1 else workdir / f"{users_file.stem}-{k}.json"
            if processes > 1:
                part.write_text(json.dumps(users[k::processes]))
            name = f"clients-{mode}" + (f"-{k}" if processes > 1 else "")
            cfg = {"mode": mode, "url": url, "users": str(part), "concurrency": concurrency,
                   "maxSeconds": max_seconds, "reconnect": reconnect}
            self.nodes.append(_NodeClients(cfg, workdir, name))
        self.pids = [n.p.pid for n in self.nodes]

    def _all(self, line: str, prefix: str, timeout: float) -> list[list[str]]:
        for n in self.nodes:
            n.send(line)
        return [n.expect(prefix, timeout).split()[1:] for n in self.nodes]

    def connect(self, n: int, timeout: float = 600) -> tuple[int, int, float]:
        """Open `n` more sockets (split evenly over the processes); returns (open, failed, seconds
        until the last process's batch was ready)."""
        k = len(self.nodes)
        for i, node in enumerate(self.nodes):
            node.send(f"connect {n // k + (1 if i < n % k else 0)}")
        answers = [node.expect("READY", timeout).split()[1:] for node in self.nodes]
        return (sum(int(a[0]) for a in answers), sum(int(a[1]) for a in answers),
                max(float(a[2]) for a in answers))

    def count(self) -> int:
        return sum(int(a[0]) for a in self._all("count", "COUNT", 60))

    def storm(self) -> dict:
        """Reconnect figures (cfg reconnect): closed, readyAgain, resumed, attempts, open (sums) and
        lastReadyAt/lastResumedAt (epoch ms, the latest)."""
        answers = self._all("storm", "STORM", 60)
        return {"closed": sum(int(a[0]) for a in answers), "readyAgain": sum(int(a[1]) for a in answers),
                "resumed": sum(int(a[2]) for a in answers), "lastReadyAt": max(float(a[3]) for a in answers),
                "lastResumedAt": max(float(a[4]) for a in answers), "attempts": sum(int(a[5]) for a in answers),
                "open": sum(int(a[6]) for a in answers)}

    def phases(self) -> dict[str, list[float]]:
        """Every close of a ready socket, reconnect 101 and ready-again of the storm: epoch ms lists."""
        out: dict[str, list[float]] = {"closed": [], "upgraded": [], "ready": []}
        for k, node in enumerate(self.nodes):
            path = self.workdir / f"phases-{k}.json"
            node.send(f"phases {path}")
            node.expect("PHASES", 60)
            for key, values in json.loads(path.read_text()).items():
                out[key] += values
        return out

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
        """Everything received (events and approvals concatenated over the processes, counts summed)."""
        merged: dict = {}
        for k, node in enumerate(self.nodes):
            path = self.workdir / (name if len(self.nodes) == 1 else f"{k}-{name}")
            node.send(f"dump {path}")
            node.expect("DUMPED", 60)
            for key, value in json.loads(path.read_text()).items():
                merged[key] = merged.get(key, type(value)()) + value
        return merged

    def close(self) -> None:
        for node in self.nodes:
            node.close()
