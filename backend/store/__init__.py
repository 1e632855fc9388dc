"""Redis access: key names (``keys``), Lua scripts (``scripts``) and the connection."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeoutError

from backend.config import Settings

# What Redis being unreachable looks like to callers (refused, reset, or not answering).
UNAVAILABLE: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError)


def unreachable(exc: BaseException) -> bool:
    """Redis unreachable (UNAVAILABLE), or uvloop's RuntimeError("... the handler is closed"),
    raised when redis-py writes to a connection whose socket closed under it as it reconnected
    while Redis went away (seen on a CI run): an outage, to be logged once as one, not a bug."""
    return isinstance(exc, UNAVAILABLE) or (isinstance(exc, RuntimeError) and "handler is closed" in str(exc))
# A connection idle this long is checked with a PING before it is used again (and a pub/sub
# connection pings this often), so a half-open socket is noticed.
HEALTH_CHECK_S = 15
# BECKON_REDIS_URL=redis+cluster://host:port (any node) selects a Redis Cluster.
CLUSTER_SCHEME = "redis+cluster://"
Client = aioredis.Redis | RedisCluster


def is_cluster(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEME)


async def prepare(client: Client) -> None:
    """Learn a cluster's slots before the first burst of commands: redis-py 8's cluster
    client, when many commands arrive while it is still discovering the nodes, can hand a
    connection it is replacing to a caller ('NoneType' has no 'writelines')."""
    if isinstance(client, RedisCluster):
        await client.initialize()


def connect_queue(settings: Settings) -> aioredis.Redis:
    """The job queue's own single Redis (BECKON_QUEUE_URL), where rq and the dead letters live."""
    return aioredis.Redis.from_url(settings.queue_url, decode_responses=True, health_check_interval=HEALTH_CHECK_S)


def connect(settings: Settings) -> Client:
    """A client whose pool makes callers wait for a free connection (up to 5 s) instead of
    failing: under overload that is latency, not dropped page connections
    (scripts/bench/chat.py saw 'Too many connections' cut sockets at 2,000 chats).

    After a Redis restart every pooled connection is stale; a command whose connection turns
    out closed (or cannot connect) is retried on a fresh one, three times 50-500 ms apart, so
    a restart costs no failed request and no crashed WebSocket handshake. Only connection
    errors are retried: after a timeout the command may have run.

    On a cluster the client follows the slots (MOVED, ASK, a replica promoted) and keeps a pool
    per node; every key of a site is in one slot (store/keys.py), so every script and
    transaction runs on one node."""
    retry = Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), 3, supported_errors=(RedisConnectionError,))
    if is_cluster(settings.redis_url):
        return RedisCluster.from_url("redis://" + settings.redis_url[len(CLUSTER_SCHEME):], decode_responses=True,
                                     retry=retry, health_check_interval=HEALTH_CHECK_S)
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url, decode_responses=True, max_connections=256, timeout=5,
        retry=retry, health_check_interval=HEALTH_CHECK_S,
    )
    return aioredis.Redis(connection_pool=pool)
