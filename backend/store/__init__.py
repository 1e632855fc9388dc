"""Redis access: key names (``keys``), Lua scripts (``scripts``) and the connection."""

from __future__ import annotations

import redis.asyncio as aioredis

from backend.config import Settings


def connect(settings: Settings) -> aioredis.Redis:
    """A client whose pool makes callers wait for a free connection (up to 5 s) instead of
    failing: under overload that is latency, not dropped page connections
    (scripts/bench/chat.py saw 'Too many connections' cut sockets at 2,000 chats)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url, decode_responses=True, max_connections=256, timeout=5
    )
    return aioredis.Redis(connection_pool=pool)
