"""Redis access: key names (``keys``), Lua scripts (``scripts``) and the connection."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeoutError

from backend.config import Settings

# What Redis being unreachable looks like to callers (refused, reset, or not answering).
UNAVAILABLE: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError)
# A connection idle this long is checked with a PING before it is used again (and a pub/sub
# connection pings this often), so a half-open socket is noticed.
HEALTH_CHECK_S = 15


def connect(settings: Settings) -> aioredis.Redis:
    """A client whose pool makes callers wait for a free connection (up to 5 s) instead of
    failing: under overload that is latency, not dropped page connections
    (scripts/bench/chat.py saw 'Too many connections' cut sockets at 2,000 chats).

    After a Redis restart every pooled connection is stale; a command whose connection turns
    out closed (or cannot connect) is retried on a fresh one, three times 50-500 ms apart, so
    a restart costs no failed request and no crashed WebSocket handshake. Only connection
    errors are retried: after a timeout the command may have run."""
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url, decode_responses=True, max_connections=256, timeout=5,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), 3,
                    supported_errors=(RedisConnectionError,)),
        health_check_interval=HEALTH_CHECK_S,
    )
    return aioredis.Redis(connection_pool=pool)
