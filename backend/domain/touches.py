"""Each visitor's latest help episode, kept for the longest attribution window: HELP offered,
then perhaps accepted, then perhaps a chat with a representative (core/attribution.py reads
it when an order arrives, which may be days later, on another device).

Written after the events by the rooms that make them (the broker, the offer's answer, the
claim), not inside their scripts: a touch only informs attribution, and a touch lost to a
failure between the two writes costs an order its credit, never a chat.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from backend.core.attribution import KINDS, WINDOW_DAYS_MAX, Touch
from backend.store import keys
from backend.store.keys import TouchHash as T

KEPT_S = (WINDOW_DAYS_MAX + 1) * 86_400  # the longest window, and a day to spare


class Touches:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def offered(self, site: str, vids: list[str], at_ms: int) -> None:
        """HELP offered: a new episode for each visitor (an earlier one is over)."""
        if not vids:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for vid in vids:
                key = keys.touch(site, vid)
                pipe.delete(key)
                pipe.hset(key, mapping={T.KIND: "offered", T.AT: at_ms})
                pipe.expire(key, KEPT_S)
            await pipe.execute()

    async def went_on(self, site: str, vid: str, kind: str, rep: str = "", chat: str = "") -> None:
        """The episode went further (``accepted``, or ``chatted`` with a rep); one with no
        offer before it (a request made another way) starts now."""
        assert kind in KINDS[1:]
        key = keys.touch(site, vid)
        fields: dict[str, str | int] = {T.KIND: kind}
        if rep:
            fields.update({T.REP: rep, T.CHAT: chat})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, T.AT, int(time.time() * 1000))
            pipe.hset(key, mapping=fields)
            pipe.expire(key, KEPT_S)
            await pipe.execute()

    async def of(self, site: str, vids: list[str]) -> list[Touch]:
        """The latest episode of each of these visitors that has one."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for vid in vids:
                pipe.hgetall(keys.touch(site, vid))
            raws = await pipe.execute()
        out = []
        for vid, raw in zip(vids, raws):
            try:
                at = int(raw.get(T.AT, ""))
            except ValueError:
                continue
            if raw.get(T.KIND) in KINDS:
                out.append(Touch(vid, raw[T.KIND], at, raw.get(T.REP, ""), raw.get(T.CHAT, "")))
        return out
