"""Reads the funnel's daily counters (core/counters.py), which the scripts count as events
happen: a range of days is one pipelined round trip of small hashes, whatever the traffic."""

from __future__ import annotations

import asyncio

from backend.core import counters
from backend.core.counters import DayCounts, Period
from backend.store import Client, keys

MAX_DAYS = 400  # one report's range at most (the counters' default retention)


class Counters:
    def __init__(self, redis: Client) -> None:
        self.redis = redis

    async def days(self, site: str, first: str, last: str) -> list[DayCounts]:
        """Each day from ``first`` to ``last`` (``YYYYMMDD``, UTC, both included), in order;
        a day with nothing counted is all zeros. ValueError for a malformed or too long range."""
        names = _range(first, last)
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(keys.day_counts(site, name))
            found = await pipe.execute()
        # PFCOUNT may not be pipelined on a cluster (redis-py refuses it): the days' counts
        # concurrently instead, each a single-key call
        visitors = await asyncio.gather(*(self.redis.pfcount(keys.day_visitors(site, n)) for n in names))
        return [counters.parse(name, int(visitors[i]), found[i]) for i, name in enumerate(names)]

    async def period(self, site: str, first: str, last: str) -> Period:
        """The days summed, per arm and band; visitors distinct over the whole period."""
        listed = await self.days(site, first, last)
        visitors = await self.redis.pfcount(*(keys.day_visitors(site, d.day) for d in listed)) if listed else 0
        return counters.summed(first, last, int(visitors), listed)


def _range(first: str, last: str) -> list[str]:
    names = counters.days(first, last)
    if len(names) > MAX_DAYS:
        raise ValueError(f"at most {MAX_DAYS} days at once")
    return names
