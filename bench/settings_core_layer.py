"""dgt settings with the channels-redis core layer (RedisChannelLayer) instead of the pub/sub
layer, for the `uvicorn-core` variant of bench/event_latency.py only. The connection pool is
raised: redis-py's async pool stops at 100 connections by default, fewer than the run's sockets
need (docs/benchmarks.md, event latency)."""
from dgt.settings import *  # noqa: F403
from dgt.settings import REDIS_URL, env

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": REDIS_URL, "max_connections": 1200}],
                   "prefix": env.str("CHANNEL_PREFIX", default="dgt"), "capacity": 1000},
    }
}
