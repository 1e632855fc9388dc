"""Per-site API keys: a site owner's systems reach that site's API and nothing else.

A key reads ``bks.<site>.<id>.<secret>``: the site and id say where to look, the secret is
32 random bytes of which only a SHA-256 is stored (a slow hash buys nothing against a secret
that was never guessable; it would only slow every API call). Shown whole once, at creation;
listed by ``bks.<site>.<id>`` afterwards.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from backend.store import keys

TOKEN_RE = re.compile(r"bks\.([A-Za-z0-9_-]{8,64})\.([0-9a-f]{8})\.([A-Za-z0-9_-]{43})")
LABEL_MAX = 60
KEYS_MAX = 20  # per site
USE_RECORDED_EVERY_S = 60


class ApiKeyError(ValueError):
    """Said to the site owner as it is."""


@dataclass(frozen=True)
class ApiKey:
    site: str
    id: str
    label: str
    created: int
    last_used: int

    @property
    def prefix(self) -> str:
        return f"bks.{self.site}.{self.id}"

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "prefix": self.prefix, "label": self.label, "created": self.created,
                "last_used": self.last_used or None}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeys:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def create(self, site: str, label: str) -> tuple[ApiKey, str]:
        """The new key and the whole token (never shown again)."""
        label = label.strip()
        if not label or len(label) > LABEL_MAX or not label.isprintable():
            raise ApiKeyError(f"give the key a name of 1-{LABEL_MAX} characters, such as 'shop backend'")
        if await self.redis.hlen(keys.api_keys(site)) >= KEYS_MAX:
            raise ApiKeyError(f"a site has at most {KEYS_MAX} keys; revoke one first")
        key_id, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
        now = int(time.time())
        record = {"label": label, "hash": _digest(secret), "created": now, "last_used": 0}
        await self.redis.hset(keys.api_keys(site), key_id, json.dumps(record))
        return ApiKey(site, key_id, label, now, 0), f"bks.{site}.{key_id}.{secret}"

    async def of_site(self, site: str) -> list[ApiKey]:
        raw = await self.redis.hgetall(keys.api_keys(site))
        found = [(kid, json.loads(v)) for kid, v in raw.items()]
        return sorted((ApiKey(site, kid, r["label"], r["created"], r["last_used"]) for kid, r in found),
                      key=lambda k: k.created)

    async def revoke(self, site: str, key_id: str) -> bool:
        return bool(await self.redis.hdel(keys.api_keys(site), key_id))

    async def site_of(self, token: str) -> str | None:
        """The site a token opens, or None (malformed, unknown, revoked)."""
        m = TOKEN_RE.fullmatch(token)
        if not m:
            return None
        site, key_id, secret = m.groups()
        raw = await self.redis.hget(keys.api_keys(site), key_id)
        if raw is None:
            return None
        record = json.loads(raw)
        if not hmac.compare_digest(record["hash"], _digest(secret)):
            return None
        now = int(time.time())
        if now - int(record.get("last_used") or 0) >= USE_RECORDED_EVERY_S:
            record["last_used"] = now
            await self.redis.hset(keys.api_keys(site), key_id, json.dumps(record))
        return site
