"""The throttle on console logins.

Every attempt is counted (atomic INCRs) before the password is checked, so parallel guesses
cannot all slip under a limit. Three counters, each over a 15-minute window:
- per e-mail and address: 10 failures lock that address out of that account only, so
  guessing from elsewhere never locks the real representative out;
- per address: 50 attempts, whatever the e-mails (one place trying many accounts);
- per e-mail, from anywhere: past 10 failures each attempt waits, doubling up to 8 s, which
  slows a guess spread over many addresses without refusing the real user.
A success clears the account's counters. Addresses come from the connection, or from
X-Forwarded-For only when the peer is a configured proxy (BECKON_TRUSTED_PROXIES).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import redis.asyncio as aioredis

from backend.store import keys

WINDOW_S = 15 * 60
PAIR_ALLOWED = 10
ADDRESS_ALLOWED = 50
EMAIL_FREE = 10  # failures of one account, from anywhere, before attempts slow down
DELAY_MAX_S = 8.0


def _digest(text: str) -> str:
    return hashlib.sha256(text.strip().lower().encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    delay_s: float = 0.0
    retry_s: int = 0  # when refused: until the oldest counter's window ends


def verdict(pair_n: int, address_n: int, email_n: int) -> Verdict:
    """The attempt numbers (this one included) -> may it be checked, and after what delay."""
    if pair_n > PAIR_ALLOWED or address_n > ADDRESS_ALLOWED:
        return Verdict(False)
    over = email_n - 1 - EMAIL_FREE
    return Verdict(True, 0.0 if over < 0 else min(DELAY_MAX_S, 0.5 * 2 ** over))


class LoginThrottle:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    @staticmethod
    def _counters(email: str, ip: str) -> tuple[str, str, str]:
        e, a = _digest(email), _digest(ip)
        return (keys.login_failures(f"p:{e}:{a}"), keys.login_failures("ip:" + a), keys.login_failures("e:" + e))

    async def attempt(self, email: str, ip: str) -> Verdict:
        """Count this attempt (atomically with every other) and say whether to check it."""
        counters = self._counters(email, ip)
        # Each INCR is atomic on its own, which is all the count-before-check needs; the three
        # counters are in different cluster slots, so they cannot share one transaction.
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in counters:
                pipe.incr(key)
                pipe.expire(key, WINDOW_S, nx=True)
            pipe.ttl(counters[0])
            pipe.ttl(counters[1])
            *counts, pair_ttl, address_ttl = await pipe.execute()
        v = verdict(counts[0], counts[2], counts[4])
        if not v.allowed:
            return Verdict(False, retry_s=max(1, int(pair_ttl if counts[0] > PAIR_ALLOWED else address_ttl)))
        return v

    async def succeeded(self, email: str, ip: str) -> None:
        pair, _address, account = self._counters(email, ip)
        await self.redis.delete(pair, account)
