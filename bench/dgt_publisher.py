"""Publisher for dgt in bench/event_latency.py (a separate process, as in production).

Reads the shared schedule `[[atMs, eid, group], ...]` (the Socket.IO peer's emitter.js plays the
same one) and publishes each event at its time, writing `{"sent": [[eid, group, tMs], ...]}`:

* `--mode layer`: the channel-layer send that `outbox.services.send_rows` does for a committed
  row: `group_send(group, {"type": "outbox.event", "id", "group", "text": frame})`; comparable with the
  peer's redis-emitter.
* `--mode outbox`: the whole publish path of a service: `outbox.services.publish(...)` inside
  `transaction.atomic()`, the row committed to PostgreSQL, then sent after commit.

`data.t` is the time of the publish call (epoch ms) and `data.eid` the event number.
Environment: the bench process passes DATABASE_URL (a dgt_bench database), REDIS_URL,
CHANNEL_PREFIX and DJANGO_SETTINGS_MODULE.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import assert_bench_db  # noqa: E402


def _channel(group: str) -> str:
    return "admin.stats" if group == "admin" else "wallet.balance"


async def _layer(schedule, pad):
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    sent = []
    start = time.time() * 1000 + 200
    for at, eid, group in schedule:
        wait = (start + at - time.time() * 1000) / 1000
        if wait > 0.001:
            await asyncio.sleep(wait)
        t = time.time() * 1000
        frame = json.dumps({"type": "event", "id": eid, "channel": _channel(group),
                            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t / 1000)), "requestId": "",
                            "data": {"eid": eid, "t": t, "pad": pad}}, separators=(",", ":"))
        await layer.group_send(group, {"type": "outbox.event", "id": eid, "group": group, "text": frame})
        sent.append([eid, group, t])
    return sent


def _outbox(schedule, pad):
    from django.db import transaction

    from outbox.services import publish

    sent = []
    start = time.time() * 1000 + 200
    for at, eid, group in schedule:
        wait = (start + at - time.time() * 1000) / 1000
        if wait > 0.001:
            time.sleep(wait)
        t = time.time() * 1000
        with transaction.atomic():
            publish(channel=_channel(group), groups=[group], data={"eid": eid, "t": t, "pad": pad})
        sent.append([eid, group, t])
    return sent


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["layer", "outbox"], required=True)
    p.add_argument("--schedule", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--pad", default="")
    a = p.parse_args()
    assert_bench_db(os.environ["DATABASE_URL"])
    import django

    django.setup()
    schedule = json.loads(a.schedule.read_text())
    started = time.time()
    sent = asyncio.run(_layer(schedule, a.pad)) if a.mode == "layer" else _outbox(schedule, a.pad)
    late = (time.time() - started) * 1000 - 200 - (schedule[-1][0] if schedule else 0)
    a.out.write_text(json.dumps({"sent": sent, "lateMs": late}))


if __name__ == "__main__":
    main()
