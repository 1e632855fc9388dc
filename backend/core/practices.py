"""Which materials suit a conversation, and how they rank in it (issue 12, the pure part;
domain/practices.py stores the uses and outcomes, core/ranking.py does the statistics).

A conversation's **context** is what Beckon knows when a representative uses a material: the
product and category of the customer's page (the site's page map), the page's path, the
scoring reasons that made the customer need help, the service point, the customer's language
and the representative. Every use is counted under each **facet** of its context
(``*``, ``product=kayak``, ``reason=form_errors``, ``rep=r1`` ...), and so is every outcome
of the chat it was used in (a sale, its revenue, a rating), which gives the owner's views per
product, per reason and per representative from the same counts.

"Chats like this one" are those of the conversation's most specific facet: the product when
the page names one, else its category, else the service point, else every chat (``*``). A
material's record there is shrunk towards its record everywhere (itself shrunk towards
ranking.PRIOR_RATE), so a material that sells in general starts high on a new product, and
one that has never been used in this context is still drawn now and then.

Pure: no I/O.
"""

from __future__ import annotations

import fnmatch
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Mapping

from backend.core import ranking
from backend.core.currencies import from_minor
from backend.core.materials import Material, Tags, fill
from backend.core.ranking import Outcomes

ALL = "*"
FACET_VALUE_MAX = 100
SUGGESTED = 3  # beside each chat
SEARCH_MAX = 20  # materials a search answers
# The counters kept per material and facet (domain/practices.py's hash fields are
# "<material>|<counter>", revenue "<material>|rev|<currency>" in minor units).
USES, SALES, RATINGS, STARS, REV = "uses", "sales", "ratings", "stars", "rev"


@dataclass(frozen=True)
class Context:
    """What is known of a conversation when a material is used in it. Empty: unknown."""

    product: str = ""
    category: str = ""
    path: str = "/"
    reasons: tuple[str, ...] = ()  # scoring rule names
    service_point: str = ""
    language: str = ""  # BCP 47
    rep: str = ""
    values: Mapping[str, str] = field(default_factory=dict)  # placeholder -> value (core/materials.py:fill)


def _clean(value: str) -> str:
    value = " ".join(value.split()).lower()
    return value if value.isprintable() and len(value) <= FACET_VALUE_MAX else ""


def facet(kind: str, value: str) -> str:
    """``kind=value`` with the value folded as tags are (lower case, single spaces); "" when
    the value cannot be a facet (empty, too long, unprintable)."""
    clean = _clean(value) if kind != "rep" else (value if value.isprintable() and len(value) <= 64 else "")
    if kind == "lang":
        clean = clean.split("-")[0]
    return f"{kind}={clean}" if clean else ""


def facets(ctx: Context) -> list[str]:
    """Every facet a use in this context counts under, ``*`` first."""
    found = [ALL, facet("product", ctx.product), facet("category", ctx.category), facet("sp", ctx.service_point),
             facet("lang", ctx.language), facet("rep", ctx.rep), *(facet("reason", r) for r in ctx.reasons)]
    return list(dict.fromkeys(f for f in found if f))


def similar(ctx: Context) -> str:
    """The facet of "chats like this one": product, else category, else service point, else all."""
    for kind, value in (("product", ctx.product), ("category", ctx.category), ("sp", ctx.service_point)):
        found = facet(kind, value)
        if found:
            return found
    return ALL


def describe(facet_name: str) -> str:
    """A facet in words: "chats about kayak", "every chat"."""
    if facet_name == ALL:
        return "every chat"
    kind, _, value = facet_name.partition("=")
    return {"product": f"chats about {value}", "category": f"chats in {value}", "sp": f"chats at {value}",
            "lang": f"chats in language {value}", "rep": f"chats of rep {value}",
            "reason": f"chats after {value.replace('_', ' ')}"}.get(kind, facet_name)


def suits(tags: Tags, ctx: Context) -> bool:
    """Whether a material tagged so suits the conversation: each tag list that is not empty
    must name what the conversation has (a reason in common; a language by its primary
    subtag; a path pattern matching the page). An unknown fact never matches a tag."""
    def named(tag_list: tuple[str, ...], value: str) -> bool:
        return not tag_list or (value != "" and value.strip().lower() in tag_list)

    primary = ctx.language.split("-")[0].lower()
    return (named(tags.products, ctx.product) and named(tags.categories, ctx.category)
            and named(tags.service_points, ctx.service_point)
            and (not tags.languages or (primary != "" and any(t.split("-")[0] == primary for t in tags.languages)))
            and (not tags.reasons or bool(set(tags.reasons) & set(ctx.reasons)))
            and (not tags.url_patterns or any(fnmatch.fnmatchcase(ctx.path, p) for p in tags.url_patterns)))


def tag_fit(tags: Tags) -> int:
    """How many tag lists a material names: of two that suit, the more specific is preferred
    when their draws tie (it was made for this)."""
    return sum(1 for name in ("products", "categories", "url_patterns", "reasons", "service_points", "languages")
               if getattr(tags, name))


# --- counts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One material's counts under one facet."""

    uses: int = 0
    sales: int = 0
    ratings: int = 0
    stars: int = 0
    revenue: Mapping[str, int] = field(default_factory=dict)  # currency -> minor units


def records(raw: Mapping[str, str]) -> dict[str, Record]:
    """A facet's hash read back, per material; fields that do not read are skipped, and
    counts are clamped so a half-applied update never yields more sales than uses."""
    found: dict[str, dict[str, int]] = {}
    money: dict[str, dict[str, int]] = {}
    for name, value in raw.items():
        parts = name.split("|")
        try:
            number = int(value)
        except ValueError:
            continue
        if len(parts) == 2 and parts[1] in (USES, SALES, RATINGS, STARS):
            found.setdefault(parts[0], {})[parts[1]] = max(number, 0)
        elif len(parts) == 3 and parts[1] == REV:
            money.setdefault(parts[0], {})[parts[2]] = number
    out = {}
    for mid in found.keys() | money.keys():
        c = found.get(mid, {})
        uses = c.get(USES, 0)
        ratings = c.get(RATINGS, 0)
        out[mid] = Record(uses, min(c.get(SALES, 0), uses), ratings, min(c.get(STARS, 0), 5 * ratings),
                          money.get(mid, {}))
    return out


def main_currency(rec: Record) -> str:
    return max(sorted(rec.revenue), key=lambda c: rec.revenue[c]) if rec.revenue else ""


def outcomes(mid: str, rec: Record, prior_rate: float = ranking.PRIOR_RATE) -> Outcomes:
    """A record as the ranking reads it; revenue in its main currency (a material selling in
    several currencies is averaged over the sales, in the currency it sold most in)."""
    currency = main_currency(rec)
    revenue = from_minor(rec.revenue.get(currency, 0), currency) if currency else Decimal(0)
    return Outcomes(mid, rec.uses, rec.sales, revenue, rec.ratings, rec.stars, prior_rate)


def shrunk(mid: str, here: Record, everywhere: Record) -> Outcomes:
    """The record in this context, with the material's record everywhere as its prior."""
    overall = ranking.estimate(outcomes(mid, everywhere))
    return outcomes(mid, here, prior_rate=overall)


def why(o: Outcomes, everywhere: Outcomes, where: str, currency: str) -> str:
    """ranking.why, naming the context; a material new here says how it did elsewhere."""
    if where == ALL or o.uses:
        return ranking.why(o, currency) if where == ALL else ranking.why(o, currency, describe(where))
    if everywhere.uses:
        return f"not used in {describe(where)} yet; " + ranking.why(everywhere, currency, "all chats")
    return ranking.why(o, currency)


@dataclass(frozen=True)
class Suggestion:
    material: Material
    text: str  # a reply's text with the placeholders filled; else the material's note
    estimate: float
    draw: float  # what it was ordered by: the conversion (drawn, for suggestions) x value_weights
    why: str

    def as_json(self) -> dict[str, object]:
        m = self.material
        return {"id": m.id, "kind": m.kind, "title": m.title, "text": self.text, "url": m.url,
                "document": {"filename": m.document.filename, "size": m.document.size,
                             "content_type": m.document.content_type} if m.document else None,
                "estimate": round(self.estimate, 4), "why": self.why}


def rank(ctx: Context, materials: list[Material], here: Mapping[str, Record], everywhere: Mapping[str, Record],
         where: str, rng: random.Random | None, k: int) -> list[Suggestion]:
    """The top ``k`` materials for the conversation: by a Thompson draw when ``rng`` is given
    (the rep's suggestions), else by the estimate (a search, a training list); ties go to the
    material tagged more specifically, then to the newer."""
    rows = []
    for m in materials:
        o_all = outcomes(m.id, everywhere.get(m.id, Record()))
        o = o_all if where == ALL else shrunk(m.id, here.get(m.id, Record()), everywhere.get(m.id, Record()))
        currency = main_currency(here.get(m.id, Record())) or main_currency(everywhere.get(m.id, Record()))
        rows.append((m, o, o_all, currency))
    weights = value_weights([(o, currency) for _, o, _, currency in rows])
    out = []
    for m, o, o_all, currency in rows:
        est = ranking.estimate(o)
        score = (ranking.draw(o, rng) if rng else est) * weights[m.id]
        out.append(Suggestion(m, fill(m.text, ctx.values) if m.kind == "reply" else m.text, est, score,
                              why(o, o_all, where, currency)))
    out.sort(key=lambda s: (-s.draw, -tag_fit(s.material.tags), -s.material.created_ms, s.material.id))
    return out[:k]


def value_weights(found: list[tuple[Outcomes, str]]) -> dict[str, float]:
    """ranking.value_weights among the materials whose sales are in the currency most of the
    revenue is in; the others (another currency, or none) weigh 1."""
    by_currency: dict[str, int] = {}
    for o, currency in found:
        if currency and o.sales:
            by_currency[currency] = by_currency.get(currency, 0) + o.sales
    main = max(sorted(by_currency), key=lambda c: by_currency[c]) if by_currency else ""
    weights = {o.material: 1.0 for o, _ in found}
    weights.update(ranking.value_weights([o for o, currency in found if currency == main and main]))
    return weights


def matches(m: Material, query: str) -> bool:
    """A search over the whole library: every word of the query in the title, text, URL, file
    name or tags, case-insensitively."""
    words = query.lower().split()
    hay = " ".join([m.title, m.text, m.url, m.document.filename if m.document else "",
                    *(t for name in m.tags.as_json().values() for t in name)]).lower()
    return all(w in hay for w in words)
