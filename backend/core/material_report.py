"""The owner's view of the materials library: which materials sell, in every chat or in one
facet of them (a product, a category, a reason, a representative, a service point, a
language), and which never get used or never sell, so the library can be weeded.

Rows follow the order the suggestions use without their draw (core/practices.py:rank): the
estimated conversion, not the raw one (1 sale in 1 use is luck, 30 in 100 is a result), times
what a sale of the material is worth against the average sale (value_weights), so by expected
revenue per use; ties by revenue, then id. The raw conversion is shown beside the estimate so
the owner sees what it rests on. The flags read the material's record in every
chat whatever facet is shown: a material that sells elsewhere is not "never sells" because it
has not sold to one representative's customers.

Pure: no I/O. The table, the chart and the CSV are made from the same rows.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Iterable, Mapping

from backend.core import ranking
from backend.core import practices as pr
from backend.core.currencies import from_minor, minor_units
from backend.core.materials import Material
from backend.core.practices import ALL, Record
from backend.core.scoring import RULE_LABELS

FLAG_AFTER_DAYS = 14  # a newer material has had no fair chance yet
NEVER_SELLS_USES = 20  # uses without a sale before a material is called one that never sells
NEVER_USED, NEVER_SELLS = "never used", "never sells"
FACET_TEXT_MAX = 200  # characters of a facet a client may ask for (pr.FACET_VALUE_MAX and the kind)

# The select's groups, in the order an owner looks for them.
GROUPS = (("product", "Per product"), ("category", "Per category"), ("reason", "Per reason"),
          ("rep", "Per representative"), ("sp", "Per service point"), ("lang", "Per language"))
_KIND_LABEL = {"product": "Product", "category": "Category", "reason": "Reason", "rep": "Representative",
               "sp": "Service point", "lang": "Language"}

HEADERS = ("Material", "Kind", "Status", "Created", "Uses", "Sales", "Conversion", "Estimated conversion",
           "Revenue", "Average per sale", "Rating", "Why", "Flag")


class FacetError(ValueError):
    """A facet that is not one of the site's; the message says so without repeating it."""


@dataclass(frozen=True)
class Row:
    id: str
    title: str
    kind: str
    status: str
    created_ms: int
    uses: int
    sales: int
    conversion: float | None  # sales / uses in this facet; None before a use
    estimate: float  # smoothed towards the material's record in every chat
    revenue: dict[str, str]  # currency -> Decimal text with the currency's minor units
    currency: str  # the one it sold most in
    average: str  # per sale, in that currency; "" before a sale
    rating: float | None  # mean stars
    why: str
    flag: str  # NEVER_USED | NEVER_SELLS | ""
    weight: float  # what its sale is worth against the average sale (pr.value_weights); rows follow estimate x this

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "title": self.title, "kind": self.kind, "status": self.status,
                "created_ms": self.created_ms, "uses": self.uses, "sales": self.sales,
                "conversion": self.conversion, "estimate": round(self.estimate, 6), "revenue": self.revenue,
                "currency": self.currency, "average": self.average, "rating": self.rating, "why": self.why,
                "flag": self.flag, "value_weight": round(self.weight, 6)}


@dataclass(frozen=True)
class Group:
    label: str
    options: tuple[tuple[str, str], ...]  # (facet, label)


def money(minor: int | Decimal, currency: str) -> str:
    """Minor units as the currency writes them: 12345 EUR -> "123.45", 500 JPY -> "500", 1 KWD
    -> "0.001" (a code that is no currency, as stored by an older version: whole units)."""
    return str(from_minor(minor, currency).quantize(Decimal(1).scaleb(-(minor_units(currency) or 0))))


def flag(everywhere: Record, created_ms: int, now_ms: int) -> str:
    """What to weed: never used after a fair chance, or used often and never sold."""
    if everywhere.uses == 0:
        return NEVER_USED if now_ms - created_ms > FLAG_AFTER_DAYS * 86_400_000 else ""
    if everywhere.uses >= NEVER_SELLS_USES and everywhere.sales == 0:
        return NEVER_SELLS
    return ""


def label(facet: str, names: Mapping[str, str]) -> str:
    """A facet for people: "Every chat", "Product: kayak", "Representative: Ria"."""
    if facet == ALL:
        return "Every chat"
    kind, _, value = facet.partition("=")
    if kind == "rep":
        value = names.get(value) or f"{value} (removed)"
    elif kind == "reason":
        value = RULE_LABELS.get(value, (value,))[0]
    return f"{_KIND_LABEL.get(kind, kind)}: {value}"


def described(facet: str, names: Mapping[str, str]) -> str:
    """pr.describe, with a representative named."""
    kind, _, value = facet.partition("=")
    if kind == "rep" and names.get(value):
        return f"chats of {names[value]}"
    return pr.describe(facet)


def choices(facets: Iterable[str], names: Mapping[str, str]) -> list[Group]:
    """The facets for a select, grouped by kind, each group by its labels (representatives
    since removed last)."""
    by_kind: dict[str, list[tuple[bool, str, str]]] = {}
    for f in set(facets) - {ALL}:
        kind, _, value = f.partition("=")
        by_kind.setdefault(kind, []).append((kind == "rep" and value not in names, label(f, names), f))
    groups = [Group("Every chat", ((ALL, label(ALL, names)),))]
    for kind, title in GROUPS:
        if by_kind.get(kind):
            ordered = sorted(by_kind[kind], key=lambda o: (o[0], o[1].lower(), o[2]))
            groups.append(Group(title, tuple((f, text) for _, text, f in ordered)))
    return groups


def check_facet(value: str, known: Iterable[str]) -> str:
    """The facet asked for, when it is one of the site's (``*`` always is); FacetError else."""
    if value == ALL:
        return ALL
    if len(value) > FACET_TEXT_MAX or not value.isprintable():
        raise FacetError(f"'facet' must be at most {FACET_TEXT_MAX} printable characters")
    if value not in set(known):
        raise FacetError("no such facet: '*' or one of 'facets' (kind=value, as counted)")
    return value


def rows(materials: Iterable[Material], facet: str, here: Mapping[str, Record], everywhere: Mapping[str, Record],
         now_ms: int, names: Mapping[str, str] | None = None) -> list[Row]:
    """Every material's row under ``facet``, best estimate first."""
    names = names or {}
    found: dict[str, Row] = {}
    outs = []
    for m in materials:
        rec_all = everywhere.get(m.id, Record())
        rec = rec_all if facet == ALL else here.get(m.id, Record())
        o_all = pr.outcomes(m.id, rec_all)
        o = o_all if facet == ALL else pr.shrunk(m.id, rec, rec_all)
        currency = pr.main_currency(rec) or pr.main_currency(rec_all)
        outs.append((o, currency))
        why = pr.why(o, o_all, facet, currency)
        if facet != ALL:
            why = why.replace(pr.describe(facet), described(facet, names))
        found[m.id] = Row(
            id=m.id, title=m.title, kind=m.kind, status=m.status, created_ms=m.created_ms, uses=rec.uses,
            sales=rec.sales, conversion=rec.sales / rec.uses if rec.uses else None, estimate=ranking.estimate(o),
            revenue={c: money(v, c) for c, v in sorted(rec.revenue.items())},
            currency=pr.main_currency(rec), average=_average(rec),
            rating=rec.stars / rec.ratings if rec.ratings else None, why=why,
            flag=flag(rec_all, m.created_ms, now_ms), weight=1.0)
    weights = pr.value_weights(outs)
    ordered = sorted(outs, key=lambda oc: (-ranking.estimate(oc[0]) * weights[oc[0].material], -oc[0].revenue,
                                           oc[0].material))
    return [replace(found[o.material], weight=weights[o.material]) for o, _ in ordered]


def _average(rec: Record) -> str:
    """Per sale, in the currency it sold most in (as ranking.why: a chat's sale is not split by currency)."""
    currency = pr.main_currency(rec)
    return money(Decimal(rec.revenue[currency]) / rec.sales, currency) if rec.sales and currency else ""


# --- as people read it ---------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.1%}"


def _day(ms: int) -> str:
    """A UTC day; "" for a time no calendar holds (a record written before created_ms was kept)."""
    return time.strftime("%Y-%m-%d", time.gmtime(ms / 1000)) if 0 < ms < 253_402_300_800_000 else ""


def cells(r: Row) -> tuple[str, ...]:
    """One row of the table and of its CSV, under HEADERS."""
    return (r.title, r.kind, r.status, _day(r.created_ms), str(r.uses), str(r.sales), _pct(r.conversion),
            _pct(r.estimate), " ".join(f"{v} {c}" for c, v in r.revenue.items()),
            f"{r.average} {r.currency}" if r.average else "", "" if r.rating is None else f"{r.rating:.1f}",
            r.why, r.flag)


def table(found: list[Row]) -> list[tuple[str, ...]]:
    return [cells(r) for r in found]
