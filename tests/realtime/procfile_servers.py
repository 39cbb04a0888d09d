"""The project's own websocket server command lines, run as real processes in tests.

`uvicorn`: the Procfile's `ws` line (production). `daphne`: Procfile.dev's `web` line, the same
daphne and flags as `make run` (its DAPHNE_WS_LIMITS). Both bound to 127.0.0.1 on a given port.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
from contextlib import contextmanager
from pathlib import Path

from tests.outbox_servers import BIN, ROOT, wait_port


def _line(path: Path, name: str) -> str:
    for line in path.read_text().splitlines():
        key, sep, cmd = line.partition(":")
        if sep and key.strip() == name:
            return cmd.strip()
    raise KeyError(f"no {name!r} line in {path.name}")


def makefile_daphne_limits() -> str:
    """The flags `make run` gives daphne (DAPHNE_WS_LIMITS in the Makefile)."""
    match = re.search(r"^DAPHNE_WS_LIMITS\s*:?=\s*(.+)$", (ROOT / "Makefile").read_text(), re.M)
    return match.group(1).strip() if match else ""


def command(server: str, port: int) -> str:
    """The shell command line of `server` ("uvicorn" or "daphne") listening on 127.0.0.1:`port`."""
    if server == "uvicorn":
        cmd = _line(ROOT / "Procfile", "ws").replace("0.0.0.0", "127.0.0.1").replace("${WS_PORT:-8001}", str(port))
    else:
        cmd = _line(ROOT / "Procfile.dev", "web").replace("$PORT", str(port))
    return re.sub(r"(^|\s)(uvicorn|daphne)\s", lambda m: f"{m.group(1)}{BIN / m.group(2)} ", cmd, count=1)


@contextmanager
def server_process(server: str, port: int, env: dict, log_path: Path):
    """Run the server for the block (its own process group); yields the Popen. SIGTERM, then kill."""
    log = open(log_path, "w")
    proc = subprocess.Popen(["/bin/bash", "-c", command(server, port)], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_port(port, proc, timeout=180)
        yield proc
    finally:
        stop(proc)
        log.close()


def stop(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
