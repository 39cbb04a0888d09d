"""Channel layers with a bounded per-socket buffer whose drops are counted, not silent.

Both layers Channels offers drop quietly: InMemoryChannelLayer's group_send swallows ChannelFull,
and RedisPubSubChannelLayer buffers without limit (a stuck socket grows memory until the process
dies). These subclasses bound every socket's buffer at `capacity` messages and count each message
they drop in `DROPS` (process-wide, shown on the admin dashboard) with a warning log. A dropped
frame is never an event lost: its outbox row stays in the database and the client gets it back
with `{"type": "resume", "after": <last id>}`.
"""
from __future__ import annotations

import asyncio
import logging
import threading

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection

log = logging.getLogger(__name__)


class DropCounter:
    """A thread-safe count of frames dropped by this process's channel layer."""

    def __init__(self):
        self._lock = threading.Lock()
        self.count = 0
        self._first_dropped: dict[str, int] = {}

    def add(self, channel: str, event_id: int | None = None) -> None:
        """Count a frame dropped for `channel`; remember the smallest outbox id it lost."""
        with self._lock:
            self.count += 1
            total = self.count
            if event_id is not None:
                known = self._first_dropped.get(channel)
                self._first_dropped[channel] = event_id if known is None else min(known, event_id)
        log.warning("channel layer full for %s: frame dropped (%d dropped in this process); the socket replays "
                    "it from the outbox", channel, total)

    def take(self, channel: str) -> int | None:
        """The smallest event id dropped for `channel` since the last call, or None (and forget it)."""
        if channel not in self._first_dropped:  # the hot path: no lock when nothing was dropped
            return None
        with self._lock:
            return self._first_dropped.pop(channel, None)


DROPS = DropCounter()


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


def _event_id(layer, data) -> int | None:
    """The outbox id of a serialized layer message (drop path only)."""
    try:
        return layer.channel_layer.deserialize(data).get("id")
    except Exception:
        return None


class _BoundedShard(RedisSingleShardConnection):
    def _receive_message(self, message):
        if message is None:
            return
        name = message["channel"]
        name = name.decode() if isinstance(name, bytes) else name
        layer = self.channel_layer
        targets = [name] if name in layer.channels else list(layer.groups.get(name, ()))
        for channel_name in targets:
            queue = layer.channels.get(channel_name)
            if queue is None:
                continue
            try:
                queue.put_nowait(message["data"])
            except asyncio.QueueFull:
                DROPS.add(channel_name, _event_id(layer, message["data"]))


class _BoundedLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, capacity: int = 1000, **kwargs):
        super().__init__(*args, **kwargs)
        self.capacity = capacity
        self._shards = [_BoundedShard(shard.host, self) for shard in self._shards]

    async def _subscribe_to_channel(self, channel):
        self.channels[channel] = asyncio.Queue(maxsize=self.capacity)
        await self._get_shard(channel).subscribe(channel)


class CountingRedisPubSubChannelLayer(RedisPubSubChannelLayer):
    """RedisPubSubChannelLayer with each socket's buffer bounded at `capacity` (drops counted).

    Redis pub/sub itself has no capacity or expiry: a message reaches the processes subscribed
    at the moment it is published, or nobody. That is why delivery rests on the outbox + resume.
    """

    def __init__(self, *args, capacity: int = 1000, **kwargs):
        self.capacity = capacity
        super().__init__(*args, **kwargs)

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = _BoundedLoopLayer(*self._args, capacity=self.capacity, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            from channels_redis.utils import _wrap_close

            _wrap_close(self, loop)
        return layer
