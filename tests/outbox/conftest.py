"""Fixtures of the outbox tests: a channel layer that fails every send."""
from __future__ import annotations

import pytest
from channels.layers import get_channel_layer


@pytest.fixture
def layer_down(monkeypatch):
    """Make the channel layer fail every send, as when Redis is unreachable (group_send, and the
    Redis pipeline services mode publishes through); calling the returned function brings it back."""
    layer = get_channel_layer()

    async def failing(group, message):
        raise ConnectionError("layer down (test)")

    def failing_pipeline(layer, rows):
        from outbox.transport import BatchResult

        return BatchResult(error=ConnectionError("layer down (test)"))

    monkeypatch.setattr(layer, "group_send", failing)
    monkeypatch.setattr("outbox.transport._publish_pipelined", failing_pipeline)
    return lambda: monkeypatch.undo()
