"""The throttle on failed console logins: counted per e-mail (guessing one rep's password)
and per address (trying many e-mails from one place), each with its own allowance."""

from __future__ import annotations

import hashlib

import redis.asyncio as aioredis

from backend.store import keys

FAILURES_ALLOWED = 10  # failed logins per e-mail ...
FAILURE_WINDOW_S = 15 * 60  # ... within this window
FAILURES_ALLOWED_PER_IP = 50  # failed logins from one address, any e-mails, in the window


def _digest(text: str) -> str:
    return hashlib.sha256(text.strip().lower().encode()).hexdigest()[:32]


def _counters(email: str, ip: str) -> list[tuple[str, int]]:
    return [(keys.login_failures("e:" + _digest(email)), FAILURES_ALLOWED),
            (keys.login_failures("ip:" + _digest(ip)), FAILURES_ALLOWED_PER_IP)]


class LoginThrottle:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def wait_s(self, email: str, ip: str) -> int:
        """Seconds until this e-mail, from this address, may try again (0: it may try now)."""
        for key, allowed in _counters(email, ip):
            if int(await self.redis.get(key) or 0) >= allowed:
                return max(1, int(await self.redis.ttl(key)))
        return 0

    async def failed(self, email: str, ip: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for key, _ in _counters(email, ip):
                pipe.incr(key)
                pipe.expire(key, FAILURE_WINDOW_S, nx=True)
            await pipe.execute()

    async def succeeded(self, email: str, ip: str) -> None:
        await self.redis.delete(_counters(email, ip)[0][0])
