"""Ranking materials by outcome (issue 12, the pure part): smoothed so that one lucky use does
not outrank a long record, Thompson sampling so that new materials get tried; a simulation
with known true conversion rates finds the best, and a better material added late rises."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from backend.core.ranking import Outcomes, by_estimate, estimate, suggest, why


def test_one_lucky_use_does_not_outrank_a_long_record() -> None:
    lucky, steady = Outcomes("lucky", 1, 1), Outcomes("steady", 100, 30)
    assert round(estimate(lucky), 2) == 0.18 and round(estimate(steady), 2) == 0.28
    assert [r.material for r in by_estimate([lucky, steady])] == ["steady", "lucky"]
    with pytest.raises(ValueError):
        Outcomes("impossible", 3, 4)


def test_the_ranking_says_why() -> None:
    o = Outcomes("sizes", 40, 14, Decimal("4480.00"), ratings=10, stars=46)
    assert why(o, "EUR") == "sold in 14 of 40 chats like this one; 320.00 EUR on average; rated 4.6 of 5"
    assert why(Outcomes("fresh")) == "new: not used in a chat like this one yet"


def simulate(true: dict[str, float], chats: int, rng: random.Random, record: dict[str, Outcomes]) -> dict[str, int]:
    """Each chat uses the first suggestion; it sells with that material's true rate."""
    used = {m: 0 for m in true}
    for _ in range(chats):
        pick = suggest([record[m] for m in true], rng, k=1)[0].material
        used[pick] += 1
        sold = rng.random() < true[pick]
        o = record[pick]
        record[pick] = Outcomes(pick, o.uses + 1, o.sales + sold, o.revenue + (Decimal(100) if sold else 0))
    return used


def test_after_enough_chats_the_best_material_ranks_first_and_a_better_newcomer_rises() -> None:
    rng = random.Random(12)
    true = {"a": 0.05, "b": 0.10, "c": 0.20, "d": 0.15, "e": 0.08}
    record = {m: Outcomes(m) for m in true}
    used = simulate(true, 2000, rng, record)
    assert by_estimate(list(record.values()))[0].material == "c"
    assert max(used, key=used.get) == "c" and min(used.values()) >= 5  # every material was tried
    # a better material arrives late: it is tried at once (its posterior is wide) and rises
    true["new"], record["new"] = 0.30, Outcomes("new")
    used = simulate(true, 1500, rng, record)
    assert used["new"] > 0
    assert by_estimate(list(record.values()))[0].material == "new"
