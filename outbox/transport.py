"""Handing committed outbox rows to the channel layer, fast.

`send_batch(rows)` sends rows in id order and reports how far it got. With the Redis pub/sub
layer it writes every row's PUBLISH in one pipelined round trip from a plain (sync) Redis
client -- the same channel names and serializer the layer uses, so consumers cannot tell the
difference -- instead of one `async_to_sync(group_send)` per row, which costs an event loop hop
and a round trip each (docs/benchmarks.md measures the relay). Other layers get one `async_to_sync` call
per batch.

It is also the one module that knows channels_redis internals (`layer._kwargs`,
`_consistent_hash`, the group channel name, the shard connection class): the pipelined publish
here and the bounded Redis layer (`CountingRedisPubSubChannelLayer`, used by realtime) subclass
or read them. The bounded in-memory layer of embedded mode (`CountingInMemoryChannelLayer`) lives
here too, so both layers and their drop counter (`DROPS`) are in one place. tests/outbox/test_transport_contract.py pins them to the installed channels-redis
version, so an upgrade that changes them fails the suite instead of dropping frames.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis
from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _consistent_hash, _wrap_close, decode_hosts
from django.conf import settings

from .frames import layer_message
from .models import EventOutbox

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """`sent`: ids handed to the layer, a prefix of the batch in id order. `error`: why the
    rest were not (None when all were)."""

    sent: list[int] = field(default_factory=list)
    error: Exception | None = None


_clients: dict[str, redis.Redis] = {}


def _sync_client(host: dict) -> redis.Redis:
    """A sync client for one `hosts` entry as channels_redis decodes it (url or host/port kwargs)."""
    key = repr(sorted(host.items()))
    client = _clients.get(key)
    if client is None:
        kwargs = dict(host)
        kwargs.setdefault("socket_connect_timeout", settings.REDIS_CONNECT_TIMEOUT_SECONDS)
        kwargs.setdefault("socket_timeout", settings.REDIS_SOCKET_TIMEOUT_SECONDS)
        address = kwargs.pop("address", None)
        client = redis.Redis.from_url(address, **kwargs) if address else redis.Redis(**kwargs)
        _clients[key] = client
    return client


def group_channel_name(prefix: str, group: str) -> str:
    """The Redis pub/sub channel channels_redis publishes a group's messages on."""
    return f"{prefix}__group__{group}"


def _publish_pipelined(layer: RedisPubSubChannelLayer, rows: Sequence[EventOutbox]) -> BatchResult:
    # channels_redis internals (layer._kwargs, _consistent_hash) are read here and nowhere else.
    hosts = decode_hosts(layer._kwargs.get("hosts"))
    prefix = layer._kwargs.get("prefix", "asgi")
    pipes = {}
    for row in rows:
        channel = group_channel_name(prefix, row.group)
        shard = _consistent_hash(channel, len(hosts)) if len(hosts) > 1 else 0
        pipe = pipes.get(shard)
        if pipe is None:
            pipe = pipes[shard] = _sync_client(hosts[shard]).pipeline(transaction=False)
        pipe.publish(channel, layer.serialize(layer_message(row)))
    try:
        for pipe in pipes.values():
            pipe.execute()
    except Exception as exc:  # Redis down or timing out: nothing counts as sent (at least once)
        return BatchResult(sent=[], error=exc)
    return BatchResult(sent=[row.id for row in rows])


async def send_batch_async(rows: Sequence[EventOutbox]) -> BatchResult:
    """Send `rows` (sorted by id) with the layer's own `group_send`, stopping at the first error."""
    layer = get_channel_layer()
    result = BatchResult()
    for row in rows:
        try:
            await layer.group_send(row.group, layer_message(row))
        except Exception as exc:
            result.error = exc
            break
        result.sent.append(row.id)
    return result


def send_batch(rows: Sequence[EventOutbox]) -> BatchResult:
    """Send committed rows to their groups in id order (sync callers). Never raises."""
    rows = sorted(rows, key=lambda r: r.id)
    if not rows:
        return BatchResult()
    layer = get_channel_layer()
    if isinstance(layer, RedisPubSubChannelLayer):
        return _publish_pipelined(layer, rows)
    try:
        return async_to_sync(send_batch_async)(rows)
    except Exception as exc:
        return BatchResult(error=exc)


def layer_ping() -> bool:
    """Whether the channel layer's Redis answers now (True for a process-local layer). Bounded by
    REDIS_SOCKET_TIMEOUT_SECONDS; never raises. The relay loop probes with it to notice recovery."""
    layer = get_channel_layer()
    if not isinstance(layer, RedisPubSubChannelLayer):
        return True
    try:
        for host in decode_hosts(layer._kwargs.get("hosts")):
            _sync_client(host).ping()
    except Exception:
        return False
    return True


# The bounded channel layers (docs/realtime.md, "Channel layer"): each socket's buffer holds
# `capacity` frames; a frame that does not fit is counted in DROPS (process-wide, shown on the admin
# dashboard) with a warning log, and replayed from the outbox by the socket's resume. Channels' own
# layers drop quietly: InMemoryChannelLayer's group_send swallows ChannelFull, and
# RedisPubSubChannelLayer buffers without limit (a stuck socket grows memory until the process dies).

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


def _event_id(layer, data) -> int | None:
    """The outbox id of a serialized layer message (drop path only)."""
    try:
        return layer.channel_layer.deserialize(data).get("id")
    except Exception:
        return None


class _BoundedShard(RedisSingleShardConnection):
    async def subscribe_many(self, channels: Sequence[str]) -> None:
        """SUBSCRIBE to those of `channels` not yet subscribed, in one command under one hold of
        the shard's lock (channels_redis's `subscribe` takes the lock and sends once per channel:
        10,000 handshakes of a storm queued on it, one loop pass each)."""
        async with self._lock:
            new = [c for c in dict.fromkeys(channels) if c not in self._subscribed_to]
            if new:
                self._ensure_redis()
                self._ensure_receiver()
                await self._pubsub.subscribe(*new)
                self._subscribed_to.update(new)

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

    async def group_add_many(self, groups: Sequence[str], channel: str) -> None:
        """`group_add(group, channel)` for every one of `groups`, one SUBSCRIBE per shard."""
        if channel not in self.channels:
            raise RuntimeError("You can only call group_add_many() on channels that exist in-process.")
        by_shard: dict[_BoundedShard, list[str]] = {}
        for group in groups:
            group_channel = self._get_group_channel_name(group)
            self.groups.setdefault(group_channel, set()).add(channel)
            by_shard.setdefault(self._get_shard(group_channel), []).append(group_channel)
        for shard, names in by_shard.items():
            await shard.subscribe_many(names)


class CountingRedisPubSubChannelLayer(RedisPubSubChannelLayer):
    """RedisPubSubChannelLayer with each socket's buffer bounded at `capacity` (drops counted).

    Redis pub/sub itself has no capacity or expiry: a message reaches the processes subscribed
    at the moment it is published, or nobody. That is why delivery rests on the outbox + resume.
    """

    def __init__(self, *args, capacity: int = 1000, **kwargs):
        self.capacity = capacity
        super().__init__(*args, **kwargs)

    async def group_add_many(self, groups: Sequence[str], channel: str) -> None:
        """Add `channel` to every one of `groups` with one SUBSCRIBE per Redis shard (realtime.fanout
        batches the groups of the handshakes of one moment). Raises what the SUBSCRIBE raised."""
        await self._get_layer().group_add_many(groups, channel)

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = _BoundedLoopLayer(*self._args, capacity=self.capacity, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
        return layer


class CountingInMemoryChannelLayer(InMemoryChannelLayer):
    """InMemoryChannelLayer (embedded mode) whose group_send counts the frames it drops on a full channel."""

    async def group_add_many(self, groups: Sequence[str], channel: str) -> None:
        """`group_add` for every one of `groups` (the Redis layer's batched form; nothing to batch here)."""
        for group in groups:
            await self.group_add(group, channel)

    async def group_send(self, group, message):
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        for channel in list(self.groups.get(group, {}).keys()):
            try:
                await self.send(channel, message)
            except ChannelFull:
                DROPS.add(channel, message.get("id"))
