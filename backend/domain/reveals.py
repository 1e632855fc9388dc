"""Secrets shown once (a new API key, a webhook endpoint's signing secret) across a redirect.
The page that makes one answers with a redirect (so a reload never posts the form again and
makes a second key) to a URL naming a one-time token; the page it lands on takes the secret
once, and only for the person who made it. Kept a few minutes at most."""

from __future__ import annotations

import json
import secrets
from typing import Any

import redis.asyncio as aioredis

from backend.store import keys

TTL_S = 300
TOKEN_MAX = 64


class Reveals:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def put(self, site: str, rid: str, payload: dict[str, Any]) -> str:
        token = secrets.token_urlsafe(18)
        await self.redis.set(keys.reveal(site, token), json.dumps({"rep": rid, "payload": payload}), ex=TTL_S)
        return token

    async def take(self, site: str, rid: str, token: str) -> dict[str, Any] | None:
        """The payload, once, to the person who put it; None otherwise (gone, another's, odd)."""
        if not token or len(token) > TOKEN_MAX or not token.replace("-", "").replace("_", "").isalnum():
            return None
        raw = await self.redis.getdel(keys.reveal(site, token))
        found = json.loads(raw) if raw else None
        return found["payload"] if found and found.get("rep") == rid else None
