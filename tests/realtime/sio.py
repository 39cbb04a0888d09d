"""One helper per kind of client: the real npm socket.io-client v4, driven through
sio_client/harness.js in a Node process that is always stopped (`node_harness`)."""
from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent / "sio_client"
WAIT_SECONDS = 30  # an upper bound for something that must happen, never a timed assertion


def node_ready() -> None:
    """Fail (CI, DGT_REQUIRE_SERVICES=1) or skip without Node; `npm ci` once when node_modules is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        msg = "needs Node and npm (apt-get install -y nodejs npm)"
        if os.environ.get("DGT_REQUIRE_SERVICES") == "1":
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    if not (HERE / "node_modules" / "socket.io-client").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, capture_output=True, timeout=300)


class Harness:
    """Commands to harness.js and the reports it writes (module doc of harness.js)."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.reports: list[dict] = []
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            try:
                self._queue.put(json.loads(line))
            except ValueError:
                continue
        self._queue.put(None)

    def send(self, **command) -> None:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        self.wait(lambda r: r.get("ev") == "ack" and r.get("cmd") == command["cmd"])

    def wait(self, predicate, what: str = "report") -> dict:
        """The first report (already seen or new) for which `predicate` is true."""
        for report in self.reports:
            if predicate(report):
                return report
        while True:
            try:
                report = self._queue.get(timeout=WAIT_SECONDS)
            except queue.Empty:
                raise AssertionError(f"no {what} within {WAIT_SECONDS}s; reports: {self.reports[-20:]}") from None
            if report is None:
                raise AssertionError(f"harness exited; reports: {self.reports[-20:]}")
            self.reports.append(report)
            if predicate(report):
                return report

    def of(self, name: str, ev: str) -> list[dict]:
        return [r for r in self.reports if r.get("name") == name and r.get("ev") == ev]

    def events(self, name: str, channel: str | None = None) -> list[dict]:
        return [r for r in self.of(name, "event") if channel is None or r["channel"] == channel]

    def wait_events(self, name: str, channel: str, count: int) -> list[dict]:
        self.wait(lambda r: len(self.events(name, channel)) >= count, f"{count} {channel} on {name}")
        return self.events(name, channel)

    def wait_connect(self, name: str, nth: int = 1) -> dict:
        self.wait(lambda r: len(self.of(name, "connect")) >= nth, f"connect #{nth} of {name}")
        return self.of(name, "connect")[nth - 1]


@contextmanager
def node_harness():
    node_ready()
    proc = subprocess.Popen(["node", str(HERE / "harness.js")], cwd=HERE, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        yield Harness(proc)
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
