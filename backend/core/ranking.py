"""Ranking materials (canned replies, documents, links, winning conversations) by what they sold
in chats like the one at hand, while still trying new ones.

Each material has, for a context, the chats that used it, the sales among them, their revenue
and their ratings. Two orders come from that:

- the **estimate**: the conversion smoothed towards a prior, a Beta(prior_rate x prior_uses,
  (1 - prior_rate) x prior_uses), so 1 sale in 1 use (about 0.18 with the default prior) does
  not outrank 30 in 100 (0.28);
- the **suggestion order**: Thompson sampling, a draw from each material's Beta posterior,
  highest first. A material with few uses has a wide posterior and is drawn high now and then,
  so a new material gets tried and can rise; one with many uses is drawn near its estimate.
  Suggestions follow the draw; lists an owner reads (which materials sell) follow the estimate.

Suggestions and the owner's list weigh the conversion by what a sale is worth (``value_weights``),
so the order is by expected revenue per use. Every ranking says why ("sold in 14 of 40 chats
like this one; 320.00 EUR on average"). core/practices.py:rank puts these together for a
conversation.

Pure: no I/O. Randomness comes from the ``random.Random`` passed in, so a seed replays a run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

PRIOR_RATE, PRIOR_USES = 0.1, 10.0  # as if every material had sold once in ten chats before its own


@dataclass(frozen=True)
class Outcomes:
    """A material's record in one context."""

    material: str
    uses: int = 0
    sales: int = 0
    revenue: Decimal = Decimal(0)  # of those sales, in the context's currency
    ratings: int = 0
    stars: int = 0
    # What the conversion is shrunk towards: PRIOR_RATE for a material with no record, its own
    # record across every context when this is one context (core/practices.py:shrunk).
    prior_rate: float = PRIOR_RATE

    def __post_init__(self) -> None:
        if self.uses < 0 or not 0 <= self.sales <= self.uses:
            raise ValueError(f"need 0 <= sales <= uses, got {self.sales} of {self.uses}")
        if not 0 < self.prior_rate < 1:
            raise ValueError(f"need 0 < prior_rate < 1, got {self.prior_rate}")



def estimate(o: Outcomes, prior_uses: float = PRIOR_USES) -> float:
    """The posterior mean: (sales + prior_rate x prior_uses) / (uses + prior_uses)."""
    return (o.sales + o.prior_rate * prior_uses) / (o.uses + prior_uses)


def why(o: Outcomes, currency: str = "", where: str = "chats like this one") -> str:
    """What the ranking rests on, in words a representative reads at a glance; ``where``: the
    chats the record is of."""
    if o.uses == 0:
        return "new: not used in a chat like this one yet"
    text = f"sold in {o.sales} of {o.uses} {where}"
    if o.sales and o.revenue:
        text += f"; {(o.revenue / o.sales).quantize(Decimal('0.01'))}{' ' + currency if currency else ''} on average"
    if o.ratings:
        text += f"; rated {o.stars / o.ratings:.1f} of 5"
    return text


VALUE_PRIOR_SALES = 3.0  # a material's average sale is shrunk towards everyone's by this many sales


def value_weights(found: list[Outcomes]) -> dict[str, float]:
    """What a sale of each material is worth against the others' average sale, smoothed:
    (revenue + average x VALUE_PRIOR_SALES) / (sales + VALUE_PRIOR_SALES) / average. Ranking
    on conversion x this orders by expected revenue per use, so a reply that sells the €800
    kayak outranks one that sells €20 of wax as often. All revenue in one currency; 1.0 for
    everyone while nothing has sold."""
    sales = sum(o.sales for o in found)
    total = sum((o.revenue for o in found), Decimal(0))
    if not sales or total <= 0:
        return {o.material: 1.0 for o in found}
    average = float(total) / sales
    return {o.material: (float(o.revenue) + average * VALUE_PRIOR_SALES) / (o.sales + VALUE_PRIOR_SALES) / average
            for o in found}


def draw(o: Outcomes, rng: random.Random, prior_uses: float = PRIOR_USES) -> float:
    """One draw from the material's Beta posterior."""
    a0, b0 = o.prior_rate * prior_uses, (1 - o.prior_rate) * prior_uses
    return rng.betavariate(o.sales + a0, o.uses - o.sales + b0)
