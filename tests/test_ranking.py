"""Ranking materials by outcome (issue 12, the pure part): smoothed so that one lucky use does
not outrank a long record, Thompson sampling so that new materials get tried; a simulation
through practices.rank, what the console's suggestions run, with known true conversion rates
finds the best, and a better material added late rises."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from backend.core import practices
from backend.core.materials import Material
from backend.core.practices import ALL, Context, Record
from backend.core.ranking import Outcomes, estimate, why


def test_one_lucky_use_does_not_outrank_a_long_record() -> None:
    lucky, steady = Outcomes("lucky", 1, 1), Outcomes("steady", 100, 30)
    assert round(estimate(lucky), 2) == 0.18 and round(estimate(steady), 2) == 0.28
    assert best({"lucky": Record(1, 1, revenue={"EUR": 100}), "steady": Record(100, 30, revenue={"EUR": 3000})}) \
        == "steady"
    with pytest.raises(ValueError):
        Outcomes("impossible", 3, 4)


def test_the_ranking_says_why() -> None:
    o = Outcomes("sizes", 40, 14, Decimal("4480.00"), ratings=10, stars=46)
    assert why(o, "EUR") == "sold in 14 of 40 chats like this one; 320.00 EUR on average; rated 4.6 of 5"
    assert why(Outcomes("fresh")) == "new: not used in a chat like this one yet"


def best(record: dict[str, Record]) -> str:
    """The owner's view: the best estimate (no draw) among materials with these records."""
    materials = [Material(m, "reply", m.title()) for m in record]
    return practices.rank(Context(), materials, record, record, ALL, None, 1)[0].material.id


def simulate(true: dict[str, float], chats: int, rng: random.Random, record: dict[str, Record]) -> dict[str, int]:
    """Each chat uses the first suggestion; it sells with that material's true rate, for 100 EUR."""
    materials = [Material(m, "reply", m.title()) for m in true]
    used = {m: 0 for m in true}
    for _ in range(chats):
        pick = practices.rank(Context(), materials, record, record, ALL, rng, 1)[0].material.id
        used[pick] += 1
        sold = rng.random() < true[pick]
        r = record[pick]
        record[pick] = Record(r.uses + 1, r.sales + sold, revenue={"EUR": r.revenue.get("EUR", 0) + 10000 * sold})
    return used


def test_after_enough_chats_the_best_material_ranks_first_and_a_better_newcomer_rises() -> None:
    rng = random.Random(12)
    true = {"a": 0.05, "b": 0.10, "c": 0.20, "d": 0.15, "e": 0.08}
    record = {m: Record() for m in true}
    used = simulate(true, 2000, rng, record)
    assert best(record) == "c"
    assert max(used, key=used.get) == "c" and min(used.values()) >= 5  # every material was tried
    # a better material arrives late: it is tried at once (its posterior is wide) and rises
    true["new"], record["new"] = 0.30, Record()
    used = simulate(true, 1500, rng, record)
    assert used["new"] > 0
    assert best(record) == "new"
