"""outbox.transport is the one module that knows channels_redis internals; this pins them to the
installed channels-redis version, so an upgrade that changes them fails here, not in production."""
import asyncio
import re
from importlib.metadata import version
from pathlib import Path

from channels_redis.utils import _consistent_hash

from outbox.transport import CountingRedisPubSubChannelLayer, _BoundedShard, group_channel_name

ROOT = Path(__file__).resolve().parents[2]


def test_channels_redis_is_the_pinned_version():
    pin = re.search(r"^channels-redis==(\S+)", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert version("channels-redis") == pin == "4.3.0"


def test_group_channel_names_shards_and_buffers_match_the_layer():
    hosts = ["redis://127.0.0.1:1/0", "redis://127.0.0.1:2/0"]  # never connected: names and shards only
    proxy = CountingRedisPubSubChannelLayer(hosts=hosts, prefix="contract", capacity=7)

    async def inspect():
        layer = proxy._get_layer()
        name = layer._get_group_channel_name("user.42")
        assert name == group_channel_name("contract", "user.42")
        assert layer._get_shard(name) is layer._shards[_consistent_hash(name, len(hosts))]
        assert all(isinstance(shard, _BoundedShard) for shard in layer._shards)
        assert proxy._kwargs["prefix"] == "contract" and proxy._kwargs["hosts"] == hosts
        return layer.capacity

    assert asyncio.run(inspect()) == 7


def test_no_other_module_reads_channels_redis():
    # Parts below ROOT: the checkout's own folder may be called "tests" (a worktree).
    users = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("*/**/*.py")
                   if not {".venv", "tests", "bench"} & set(p.relative_to(ROOT).parts)
                   and re.search(r"^\s*(from|import) channels_redis", p.read_text(), re.M))
    assert users == ["outbox/transport.py"]
