"""The reports: the funnel, the uplift over the holdout and the representatives, for a range of
UTC days, read from the daily counters in one round trip (core/reports.py decides what they
say). A report over 90 days reads 90 small hashes, whatever the traffic."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from backend.core import counters
from backend.core import reports as core
from backend.core.counters import Period
from backend.core.reports import RepTotals, Struggle, UpliftReport
from backend.core.validation import ValidationError
from backend.domain.counters import MAX_DAYS, Counters
from backend.domain.reps import Reps
from backend.store import Client, keys

DEFAULT_DAYS = 30


class RangeError(ValidationError):
    """The dates asked for cannot be read."""


def day_range(first: str | None, last: str | None, today: date | None = None) -> tuple[str, str]:
    """``from`` / ``to`` as YYYY-MM-DD (both included) -> YYYYMMDD; by default the last 30
    days to today (UTC). RangeError lists what is wrong."""
    today = today or datetime.now(timezone.utc).date()
    errors = []
    parsed = []
    for name, text, default in (("from", first, today - timedelta(DEFAULT_DAYS - 1)), ("to", last, today)):
        if not text:
            parsed.append(default)
            continue
        try:
            parsed.append(date.fromisoformat(text) if len(text) == 10 else None)
        except ValueError:
            parsed.append(None)
        if parsed[-1] is None:
            errors.append((name, "must be a date as YYYY-MM-DD"))
    if not errors:
        start, end = parsed
        if end < start:
            errors.append(("to", "must not be before from"))
        elif (end - start).days + 1 > MAX_DAYS:
            errors.append(("from", f"a report covers at most {MAX_DAYS} days"))
    if errors:
        raise RangeError(errors)
    return parsed[0].strftime("%Y%m%d"), parsed[1].strftime("%Y%m%d")


class Reports:
    def __init__(self, redis: Client, counters_: Counters, reps: Reps) -> None:
        self.redis = redis
        self.counters = counters_
        self.reps = reps

    async def funnel(self, site: str, first: str, last: str) -> Period:
        return await self.counters.period(site, first, last)

    async def uplift(self, site: str, first: str, last: str, currency: str = "") -> UpliftReport:
        return core.uplift_report(await self.counters.period(site, first, last), currency)

    async def struggles(self, site: str, first: str, last: str) -> tuple[list[Struggle], list[Struggle]]:
        """Per scoring reason and per page: who needed help with it in each arm, who bought."""
        names = counters.days(first, last)
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(keys.day_counts(site, name))
            for name in names:
                pipe.hgetall(keys.day_pages(site, name))
            found = await pipe.execute()
        return core.reasons(found[:len(names)]), core.pages(found[len(names):])

    async def reps_report(self, site: str, first: str, last: str) -> list[tuple[RepTotals, str]]:
        """Each rep who did anything in the range, with their name ("" for one since removed)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for name in counters.days(first, last):
                pipe.hgetall(keys.day_counts(site, name))
            found = await pipe.execute()
        names = {r.id: r.name for r in await self.reps.list(site)}
        return [(t, names.get(t.rep, "")) for t in core.rep_totals(found)]
