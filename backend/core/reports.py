"""What the reports show, from the daily counters (core/counters.py): the uplift of help over
the holdout, overall and per need band, with a look per day for the always-valid p-value;
each representative's day summed. Pure: no I/O.

A visitor who needed help in the period and bought counts as a conversion of their arm; the
counts are per event day, so over a short range that starts after someone needed help their
purchase may land without their need: a rate is never allowed above 1 (orders are capped at
the visitors who needed help).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from backend.core import counters, uplift
from backend.core.counters import BANDS, DayCounts, Funnel, Period
from backend.core.currencies import from_minor


def currency_of(period: Period) -> str:
    """The currency most of the period's revenue is in (by minor units; EUR when none)."""
    totals: dict[str, int] = {}
    for funnel in (period.treatment.total, period.holdout.total):
        for currency, minor in funnel.revenue:
            totals[currency] = totals.get(currency, 0) + minor
    return max(sorted(totals), key=lambda c: totals[c]) if totals else "EUR"


def _arm(f: Funnel, currency: str) -> uplift.Arm:
    return uplift.Arm(f.needing, min(f.purchased, f.needing), from_minor(f.revenue_in(currency), currency))


def looks(days: Iterable[DayCounts], band: str = "") -> list[uplift.Look]:
    """The cumulative counts after each day: one look a day for the always-valid p-value."""
    out: list[uplift.Look] = []
    t = h = Funnel()
    for d in days:
        t = t + (d.treatment.band(band) if band else d.treatment.total)
        h = h + (d.holdout.band(band) if band else d.holdout.total)
        out.append(uplift.Look(t.needing, min(t.purchased, t.needing), h.needing, min(h.purchased, h.needing)))
    return out


@dataclass(frozen=True)
class UpliftReport:
    first_day: str
    last_day: str
    currency: str
    overall: uplift.Uplift
    bands: tuple[tuple[str, uplift.Uplift], ...]  # in BANDS order


def uplift_report(period: Period, currency: str = "") -> UpliftReport:
    currency = currency or currency_of(period)
    overall = uplift.uplift(_arm(period.treatment.total, currency), _arm(period.holdout.total, currency),
                            looks(period.days))
    bands = tuple((b, uplift.uplift(_arm(period.treatment.band(b), currency), _arm(period.holdout.band(b), currency),
                                    looks(period.days, b))) for b in BANDS)
    return UpliftReport(period.first_day, period.last_day, currency, overall, bands)


# --- representatives ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepTotals:
    """One representative's days summed; money per currency in minor units."""

    rep: str
    chats: int = 0
    wait_ms: int = 0
    ended: int = 0
    handle_ms: int = 0
    rated: int = 0
    stars: int = 0
    conversions: int = 0
    no_sales: int = 0
    revenue: dict[str, int] = field(default_factory=dict)
    commission: dict[str, int] = field(default_factory=dict)

    @property
    def mean_wait_s(self) -> float | None:
        return self.wait_ms / self.chats / 1000 if self.chats else None

    @property
    def mean_handle_s(self) -> float | None:
        return self.handle_ms / self.ended / 1000 if self.ended else None

    @property
    def mean_stars(self) -> float | None:
        return self.stars / self.rated if self.rated else None


COUNTS = (counters.CHATS, counters.WAIT_MS, counters.ENDED, counters.HANDLE_MS, counters.RATED, counters.STARS,
          counters.CONVERSIONS, counters.NO_SALES)


def rep_totals(day_fields: Iterable[Mapping[str, str]]) -> list[RepTotals]:
    """Every rep named in the days' hashes (``rep:<rid>:<what>[:<currency>]``), by rep id."""
    sums: dict[str, dict[str, int]] = {}
    money_sums: dict[str, dict[str, dict[str, int]]] = {}
    for fields in day_fields:
        for name, value in fields.items():
            if not name.startswith("rep:"):
                continue
            parts = name.split(":")
            try:
                amount = int(value)
            except ValueError:
                continue
            if len(parts) == 3 and parts[2] in COUNTS:
                sums.setdefault(parts[1], {}).setdefault(parts[2], 0)
                sums[parts[1]][parts[2]] += amount
            elif len(parts) == 4 and parts[2] in (counters.REVENUE, counters.COMMISSION):
                per = money_sums.setdefault(parts[1], {}).setdefault(parts[2], {})
                per[parts[3]] = per.get(parts[3], 0) + amount
    out = []
    for rid in sorted(set(sums) | set(money_sums)):
        c, m = sums.get(rid, {}), money_sums.get(rid, {})
        out.append(RepTotals(rid, *(c.get(k, 0) for k in COUNTS),
                             revenue=dict(sorted(m.get(counters.REVENUE, {}).items())),
                             commission=dict(sorted(m.get(counters.COMMISSION, {}).items()))))
    return out



# --- per scoring reason and per page ------------------------------------------------------------


@dataclass(frozen=True)
class Struggle:
    """A scoring reason (or a page): who needed help with it in each arm, and who then bought."""

    name: str
    treated: int = 0
    treated_bought: int = 0
    held: int = 0
    held_bought: int = 0

    def uplift(self) -> uplift.Interval | None:
        """Treatment minus holdout conversion (Newcombe), once both arms have visitors."""
        if not self.treated or not self.held:
            return None
        return uplift.difference(min(self.treated_bought, self.treated), self.treated,
                                 min(self.held_bought, self.held), self.held)


def _struggles(counts: dict[str, dict[str, int]], limit: int) -> list[Struggle]:
    found = [Struggle(name, c.get("treatment:needing", 0), c.get("treatment:purchased", 0),
                      c.get("holdout:needing", 0), c.get("holdout:purchased", 0)) for name, c in counts.items()]
    found.sort(key=lambda s: (-(s.treated + s.held), s.name))
    return found[:limit]


def reasons(day_fields: Iterable[Mapping[str, str]], limit: int = 50) -> list[Struggle]:
    """The reasons' counts summed over the days (``reason:<rule>:<arm>:<stage>``), the most
    frequent first."""
    counts: dict[str, dict[str, int]] = {}
    for fields in day_fields:
        for name, value in fields.items():
            parts = name.split(":")
            if len(parts) == 4 and parts[0] == "reason" and value.isdigit():
                per = counts.setdefault(parts[1], {})
                per[f"{parts[2]}:{parts[3]}"] = per.get(f"{parts[2]}:{parts[3]}", 0) + int(value)
    return _struggles(counts, limit)


def pages(day_pages: Iterable[Mapping[str, str]], limit: int = 50) -> list[Struggle]:
    """The pages' counts summed over the days (``<arm>:<stage>:<path>``), the most frequent first."""
    counts: dict[str, dict[str, int]] = {}
    for fields in day_pages:
        for name, value in fields.items():
            parts = name.split(":", 2)
            if len(parts) == 3 and value.isdigit():
                per = counts.setdefault(parts[2], {})
                per[f"{parts[0]}:{parts[1]}"] = per.get(f"{parts[0]}:{parts[1]}", 0) + int(value)
    return _struggles(counts, limit)
