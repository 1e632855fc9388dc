"""Console sessions, held in Redis so they can be ended: at logout, when the password or
e-mail changes, when the account is deactivated, after SESSION_IDLE_S without a request, and
at the latest SESSION_MAX_S after login. The browser's (signed) cookie only names the
session."""

from __future__ import annotations

import secrets
import time

import redis.asyncio as aioredis

from backend.store import keys
from backend.store.keys import SessionHash as S

SESSION_MAX_S = 12 * 3600  # one long shift
SESSION_IDLE_S = 2 * 3600
REFRESH_EVERY_S = 60  # the idle clock is pushed back at most this often


class Sessions:
    def __init__(self, redis: aioredis.Redis, idle_s: int = SESSION_IDLE_S) -> None:
        self.redis = redis
        self.idle_s = idle_s

    async def start(self, site: str, rid: str) -> str:
        sid = secrets.token_urlsafe(24)
        now = int(time.time())
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.session(site, sid), mapping={S.REP: rid, S.CREATED: now, S.SEEN: now})
            pipe.expire(keys.session(site, sid), self.idle_s)
            pipe.sadd(keys.rep_sessions(site, rid), sid)
            pipe.expire(keys.rep_sessions(site, rid), SESSION_MAX_S)
            await pipe.execute()
        return sid

    async def rep_of(self, site: str, sid: str) -> str | None:
        """The session's representative while it is alive; pushes back its idle timeout."""
        rid, created, seen = await self.redis.hmget(keys.session(site, sid), S.REP, S.CREATED, S.SEEN)
        if not rid:
            return None
        now = int(time.time())
        if now - int(created or 0) > SESSION_MAX_S:
            await self.end(site, sid)
            return None
        if now - int(seen or 0) >= REFRESH_EVERY_S:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hset(keys.session(site, sid), S.SEEN, now)
                pipe.expire(keys.session(site, sid), self.idle_s)
                await pipe.execute()
        return str(rid)

    async def end(self, site: str, sid: str) -> None:
        rid = await self.redis.hget(keys.session(site, sid), S.REP)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.session(site, sid))
            if rid:
                pipe.srem(keys.rep_sessions(site, rid), sid)
            await pipe.execute()

    async def end_all(self, site: str, rid: str) -> None:
        sids = await self.redis.smembers(keys.rep_sessions(site, rid))
        async with self.redis.pipeline(transaction=True) as pipe:
            for sid in sids:
                pipe.delete(keys.session(site, sid))
            pipe.delete(keys.rep_sessions(site, rid))
            await pipe.execute()
