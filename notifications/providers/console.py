"""Development providers: write each message to the `dgt.notifications` log and keep the last
ones in memory (`sent`), so a developer sees what would have gone out. Never fail."""
from __future__ import annotations

import logging
from collections import deque

from .base import PushResult

log = logging.getLogger("dgt.notifications")


class ConsolePushProvider:
    def __init__(self):
        self.sent: deque = deque(maxlen=1000)

    def send(self, *, tokens: list[str], title: str, body: str, data: dict[str, str]) -> PushResult:
        log.info("push to %d device(s): %s — %s %s", len(tokens), title, body, data)
        self.sent.append({"tokens": list(tokens), "title": title, "body": body, "data": data})
        return PushResult(sent=list(tokens))


class ConsoleSmsProvider:
    def __init__(self):
        self.sent: deque = deque(maxlen=1000)

    def send(self, *, to: str, body: str) -> str:
        log.info("sms to %s: %s", to, body)
        self.sent.append({"to": to, "body": body})
        return f"console-{len(self.sent)}"
