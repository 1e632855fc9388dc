"""Redis access: key names (``keys``), Lua scripts (``scripts``) and the connection."""

from __future__ import annotations

import redis.asyncio as aioredis

from backend.config import Settings


def connect(settings: Settings) -> aioredis.Redis:
    return aioredis.Redis.from_url(settings.redis_url, decode_responses=True, max_connections=256)
