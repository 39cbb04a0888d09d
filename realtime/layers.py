"""Channel layers with a bounded per-socket buffer whose drops are counted, not silent.

Both layers Channels offers drop quietly: InMemoryChannelLayer's group_send swallows ChannelFull,
and RedisPubSubChannelLayer buffers without limit (a stuck socket grows memory until the process
dies). These subclasses bound every socket's buffer at `capacity` messages and count each message
they drop in `DROPS` (process-wide, shown on the admin dashboard) with a warning log. A dropped
frame is never an event lost: its outbox row stays in the database and the client gets it back
with `{"type": "resume", "after": <last id>}`.
"""
from __future__ import annotations

import logging

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

# The Redis layer subclasses channels_redis internals, so it lives in outbox.transport, the one
# module that knows them; DROPS is counted there too. Both are named here for settings and consumers.
from outbox.transport import DROPS, CountingRedisPubSubChannelLayer, DropCounter  # noqa: F401

log = logging.getLogger(__name__)


class CountingInMemoryChannelLayer(InMemoryChannelLayer):
    """InMemoryChannelLayer whose group_send counts the frames it drops on a full channel."""

    async def group_send(self, group, message):
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        for channel in list(self.groups.get(group, {}).keys()):
            try:
                await self.send(channel, message)
            except ChannelFull:
                DROPS.add(channel, message.get("id"))
