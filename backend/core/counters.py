"""The daily counters of the funnel, defined once: the day, the arms, the stages, the need
bands, the hash field names, and the holdout split.

Counted as events happen, inside the atomic scripts (lua/ingest.lua, broker.lua,
respond.lua, claim.lua), one hash per site and day, so that a report over 90 days reads 90
small hashes instead of every event. ``arm`` and ``band`` are the Python twins of what
ingest.lua decides when a visitor first needs help (tests/test_holdout_twin.py).

Money is counted in integer minor units per currency (cents for EUR), never floats.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Iterable, Mapping

TREATMENT, HOLDOUT = "treatment", "holdout"
ARMS: tuple[str, ...] = (TREATMENT, HOLDOUT)

# The funnel after "visitors" (the day's distinct visitors, a HyperLogLog beside the hash).
# ``purchased`` and revenue are counted by the orders' attribution.
NEEDING, OFFERED, ACCEPTED, CHATTED, PURCHASED = "needing", "offered", "accepted", "chatted", "purchased"
STAGES: tuple[str, ...] = (NEEDING, OFFERED, ACCEPTED, CHATTED, PURCHASED)
REVENUE = "revenue"

# Need bands: the score at first need over the site's threshold. Those who need help most
# may gain most from it, so reports break the uplift down by band. The twin in ingest.lua
# has these floors written out; tests/test_holdout_twin.py holds the two equal.
BANDS: tuple[str, ...] = ("b1", "b2", "b3")
BAND_FLOORS: tuple[float, ...] = (1.0, 1.5, 2.0)
BAND_LABELS: dict[str, str] = {"b1": "1-1.5x threshold", "b2": "1.5-2x threshold", "b3": "2x threshold and over"}

PAGES_MAX = 500  # distinct page paths counted a day (the rest still count in the funnel)

HOLDOUT_MAX = 0.5  # a site may hold back at most half of those who need help
_SPLIT_SPACE = 16 ** 8  # the first 8 hex digits of the SHA-1


def day(ms: int) -> str:
    """The UTC day of a moment, ``YYYYMMDD``: the counters' one clock."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y%m%d")


def parse_day(text: str) -> date:
    """``YYYYMMDD`` -> date; ValueError for anything else."""
    if len(text) != 8 or not text.isdigit():
        raise ValueError(f"not a day as YYYYMMDD: {text!r}")
    return datetime.strptime(text, "%Y%m%d").date()


def days(first: str, last: str) -> list[str]:
    """Every day from ``first`` to ``last``, both included (empty when last < first)."""
    start, end = parse_day(first), parse_day(last)
    return [(start + timedelta(d)).strftime("%Y%m%d") for d in range((end - start).days + 1)]


def arm(site: str, vid: str, share: float) -> str:
    """Holdout or treatment, the same every time for one visitor of one site: the first 8 hex
    digits of SHA-1(site:vid) as a fraction of 16^8, below ``share`` -> holdout. Twin of
    ingest.lua (redis.sha1hex)."""
    digest = hashlib.sha1(f"{site}:{vid}".encode()).hexdigest()
    return HOLDOUT if int(digest[:8], 16) / _SPLIT_SPACE < share else TREATMENT


def band(score: float, threshold: float) -> str:
    """The need band of a score (at or above the threshold). Twin of ingest.lua."""
    ratio = score / threshold
    found = BANDS[0]
    for name, floor in zip(BANDS, BAND_FLOORS):
        if ratio >= floor:
            found = name
    return found


def field_name(arm_name: str, stage: str, band_name: str = "") -> str:
    """``treatment:offered``, ``holdout:b2:needing``: the day hash's field of one count."""
    return f"{arm_name}:{band_name}:{stage}" if band_name else f"{arm_name}:{stage}"


def revenue_field(arm_name: str, currency: str, band_name: str = "") -> str:
    """``treatment:revenue:EUR``, ``treatment:b1:revenue:EUR``: minor units of one currency."""
    return field_name(arm_name, f"{REVENUE}:{currency}", band_name)


# A representative's day in the same hash: chats taken (lua/claim.lua) with the customers'
# waits summed, chats ended with their length summed (end_chat.lua), ratings with their stars
# summed (outcome.lua), and credited sales (domain/attribution.py): ``rep:<rid>:conversions``,
# ``rep:<rid>:revenue:EUR`` / ``rep:<rid>:commission:EUR`` in minor units.
CHATS, WAIT_MS, ENDED, HANDLE_MS, RATED, STARS = "chats", "wait_ms", "ended", "handle_ms", "rated", "stars"
CONVERSIONS, COMMISSION, NO_SALES = "conversions", "commission", "no_sales"


def reason_field(reason: str, arm_name: str, stage: str) -> str:
    """``reason:form_errors:treatment:needing``: a scoring reason's count (lua/ingest.lua, at
    the first need; domain/attribution.py, at the first purchase after it)."""
    return f"reason:{reason}:{arm_name}:{stage}"


def page_field(arm_name: str, stage: str, path: str) -> str:
    """``treatment:needing:/checkout`` in the day's pages hash: the path last (it may hold colons)."""
    return f"{arm_name}:{stage}:{path}"


def rep_field(rid: str, what: str, currency: str = "") -> str:
    return f"rep:{rid}:{what}:{currency}" if currency else f"rep:{rid}:{what}"


@dataclass(frozen=True)
class Funnel:
    """One arm's (or one arm and band's) counts; revenue as (currency, minor units), sorted."""

    needing: int = 0
    offered: int = 0
    accepted: int = 0
    chatted: int = 0
    purchased: int = 0
    revenue: tuple[tuple[str, int], ...] = ()

    def revenue_in(self, currency: str) -> int:
        return dict(self.revenue).get(currency, 0)

    def __add__(self, other: "Funnel") -> "Funnel":
        money = dict(self.revenue)
        for currency, minor in other.revenue:
            money[currency] = money.get(currency, 0) + minor
        return Funnel(self.needing + other.needing, self.offered + other.offered, self.accepted + other.accepted,
                      self.chatted + other.chatted, self.purchased + other.purchased, tuple(sorted(money.items())))


@dataclass(frozen=True)
class ArmCounts:
    """An arm's funnel, whole and per band (in BANDS order). A band's counts may sum to less
    than the whole: a visitor whose band is not known is counted only in the whole."""

    total: Funnel = Funnel()
    bands: tuple[Funnel, ...] = tuple(Funnel() for _ in BANDS)

    def band(self, name: str) -> Funnel:
        return self.bands[BANDS.index(name)]

    def __add__(self, other: "ArmCounts") -> "ArmCounts":
        return ArmCounts(self.total + other.total, tuple(a + b for a, b in zip(self.bands, other.bands)))


@dataclass(frozen=True)
class DayCounts:
    day: str
    visitors: int = 0  # distinct, estimated (HyperLogLog, about 0.8% standard error)
    treatment: ArmCounts = ArmCounts()
    holdout: ArmCounts = ArmCounts()

    def arm(self, name: str) -> ArmCounts:
        return self.treatment if name == TREATMENT else self.holdout


@dataclass(frozen=True)
class Period:
    """Days summed: ``visitors`` are distinct over the whole period (one visitor seen on two
    days counts once)."""

    first_day: str
    last_day: str
    visitors: int = 0
    treatment: ArmCounts = ArmCounts()
    holdout: ArmCounts = ArmCounts()
    days: tuple[DayCounts, ...] = field(default=(), repr=False)

    def arm(self, name: str) -> ArmCounts:
        return self.treatment if name == TREATMENT else self.holdout


def _funnel(fields: Mapping[str, str], arm_name: str, band_name: str) -> Funnel:
    counts = [int(fields.get(field_name(arm_name, s, band_name), 0) or 0) for s in STAGES]
    prefix = revenue_field(arm_name, "", band_name)
    money = tuple(sorted((k[len(prefix):], int(v)) for k, v in fields.items() if k.startswith(prefix)))
    return Funnel(*counts, revenue=money)


def parse(day_name: str, visitors: int, fields: Mapping[str, str]) -> DayCounts:
    """A day's hash (as stored) -> DayCounts; fields it does not know are left alone."""
    arms = [ArmCounts(_funnel(fields, a, ""), tuple(_funnel(fields, a, b) for b in BANDS)) for a in ARMS]
    return DayCounts(day_name, visitors, *arms)


def summed(first: str, last: str, visitors: int, found: Iterable[DayCounts]) -> Period:
    listed = tuple(found)
    treatment, holdout = ArmCounts(), ArmCounts()
    for d in listed:
        treatment, holdout = treatment + d.treatment, holdout + d.holdout
    return Period(first, last, visitors, treatment, holdout, listed)
