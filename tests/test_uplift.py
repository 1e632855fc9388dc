"""The uplift statistics (core/uplift.py): Newcombe's published intervals, the properties an
owner relies on, and the always-valid p-value's promise that looking every day does not make
a difference appear where there is none."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from backend.core.uplift import (
    Arm, Look, always_valid_p, difference, incremental_orders, per_visitor, uplift, wilson,
)

# Newcombe (1998), Table II, method 10 (hybrid score, no continuity correction).
NEWCOMBE = [
    ((56, 70, 48, 80), 0.2000, 0.0524, 0.3339),
    ((9, 10, 3, 10), 0.6000, 0.1705, 0.8090),
    ((6, 7, 2, 7), 0.5714, 0.0582, 0.8062),
    ((5, 56, 0, 29), 0.0893, -0.0381, 0.1926),
    ((0, 10, 0, 20), 0.0, -0.1611, 0.2775),
    ((0, 10, 0, 10), 0.0, -0.2775, 0.2775),
    ((10, 10, 0, 20), 1.0, 0.6791, 1.0),
    ((10, 10, 0, 10), 1.0, 0.6075, 1.0),
]


@pytest.mark.parametrize("counts, estimate, low, high", NEWCOMBE)
def test_the_difference_interval_is_newcombes_method_10(counts, estimate, low, high) -> None:
    got = difference(*counts)
    assert (round(got.estimate, 4), round(got.low, 4), round(got.high, 4)) == (estimate, low, high)


def test_wilsons_interval_matches_the_textbook() -> None:
    got = wilson(81, 263)  # Newcombe (1998) "Two-sided confidence intervals for the single proportion", ex.
    assert (round(got.low, 4), round(got.high, 4)) == (0.2553, 0.3662)
    assert wilson(0, 10).low == 0 and wilson(10, 10).high == 1


def test_counts_that_cannot_be_are_refused() -> None:
    for x, n in ((1, 0), (-1, 5), (6, 5)):
        with pytest.raises(ValueError):
            wilson(x, n)


@st.composite
def two_arms(draw: st.DrawFn) -> tuple[int, int, int, int]:
    n1, n2 = draw(st.integers(1, 5000)), draw(st.integers(1, 5000))
    return draw(st.integers(0, n1)), n1, draw(st.integers(0, n2)), n2


@given(two_arms())
def test_the_interval_lies_in_minus_one_to_one_and_holds_the_estimate(arms) -> None:
    got = difference(*arms)
    assert -1 <= got.low <= got.estimate <= got.high <= 1


@given(two_arms(), st.integers(2, 20))
def test_the_interval_narrows_as_the_same_rates_are_seen_on_more_visitors(arms, k) -> None:
    x1, n1, x2, n2 = arms
    small, large = difference(x1, n1, x2, n2), difference(k * x1, k * n1, k * x2, k * n2)
    assert large.high - large.low < small.high - small.low
    assert large.estimate == pytest.approx(small.estimate)


def test_a_report_of_one_site() -> None:
    """4,000 treated visitors converting at 5%, 400 held out at 3%: two points of uplift, 80
    more orders at the average order of 50.00; revenue per visitor is exact."""
    got = uplift(Arm(4000, 200, Decimal("10000.00")), Arm(400, 12, Decimal("600.00")))
    assert got.difference.estimate == pytest.approx(0.02)
    assert got.difference.low < 0 < got.difference.high  # 400 held out cannot tell yet
    assert got.incremental_orders.estimate == pytest.approx(80)
    assert got.incremental_revenue.estimate == Decimal("4000.00")
    assert got.incremental_revenue.low < 0 < got.incremental_revenue.high
    assert got.treatment_per_visitor == Decimal("2.5") and got.holdout_per_visitor == Decimal("1.5")
    assert got.p_value is None  # no looks given


def test_without_a_holdout_there_is_no_uplift_to_tell() -> None:
    got = uplift(Arm(1000, 30, Decimal("90.00")), Arm(0, 0))
    assert got.difference is None and got.incremental_orders is None and got.incremental_revenue is None
    assert got.treatment_rate.estimate == 0.03 and got.holdout_rate is None and got.holdout_per_visitor is None
    assert per_visitor(Decimal("0.10"), 3) == Decimal("0.10") / 3


def test_incremental_orders_scale_the_interval_by_the_treated() -> None:
    d = difference(56, 70, 48, 80)
    got = incremental_orders(70, d)
    assert (got.estimate, got.low, got.high) == pytest.approx((14, 70 * d.low, 70 * d.high))


def days(seed: int, rate_treated: float, rate_held: float, treated: int = 270, held: int = 30,
         n_days: int = 30) -> list[Look]:
    """Cumulative counts after each of ``n_days`` days of a site with a 10% holdout."""
    rng = random.Random(seed)
    looks, t, to, h, ho = [], 0, 0, 0, 0
    for _ in range(n_days):
        t, h = t + treated, h + held
        to += sum(rng.random() < rate_treated for _ in range(treated))
        ho += sum(rng.random() < rate_held for _ in range(held))
        looks.append(Look(t, to, h, ho))
    return looks


def test_the_difference_interval_covers_the_true_difference_95_times_in_100() -> None:
    """1,000 seeded experiments like a month of a 20% holdout (2,400 helped at 12%, 600 held
    out at 8%): the 95% interval holds the true 4 points in 93-97% of them (the binomial
    spread of 1,000 trials at 95% is 0.7 points either way)."""
    rng = random.Random(11)
    covered = 0
    for _ in range(1000):
        helped = sum(rng.random() < 0.12 for _ in range(2400))
        held = sum(rng.random() < 0.08 for _ in range(600))
        d = difference(helped, 2400, held, 600)
        covered += d.low <= 0.04 <= d.high
    assert 930 <= covered <= 970, covered


def test_looking_every_day_under_no_effect_rarely_shows_one() -> None:
    """300 seeded sites with no true difference, 30 daily looks each: the always-valid
    p-value dips below 0.05 at any look in well under 5% of them (a fixed-sample test looked
    at daily would in far more)."""
    runs = [always_valid_p(days(seed, 0.10, 0.10)) for seed in range(300)]
    assert sum(min(ps) < 0.05 for ps in runs) / len(runs) < 0.05
    assert sum(ps[-1] > 0.05 for ps in runs) / len(runs) > 0.9  # most stay far above alpha
    balanced = [always_valid_p(days(seed, 0.05, 0.05, 150, 150)) for seed in range(300, 500)]
    assert sum(min(ps) < 0.05 for ps in balanced) / len(balanced) < 0.05


def test_a_real_effect_is_found_and_the_p_value_never_rises() -> None:
    runs = [always_valid_p(days(1000 + seed, 0.15, 0.10)) for seed in range(100)]
    assert all(a >= b for ps in runs for a, b in zip(ps, ps[1:]))
    assert sum(ps[-1] < 0.05 for ps in runs) >= 70  # five points on 10%, a month of a 10% holdout
    got = uplift(Arm(8100, 1215), Arm(900, 90), looks=days(7, 0.15, 0.10))
    assert got.p_value == always_valid_p(days(7, 0.15, 0.10))[-1]


def test_the_readme_worked_example() -> None:
    """The figures README.md shows under "How the uplift is computed"."""
    from decimal import Decimal

    from backend.core.uplift import Arm, Look, uplift

    def run(scale: int):
        t, h = Arm(1800 * scale, 162 * scale, Decimal(16200 * scale)), Arm(200 * scale, 12 * scale, Decimal(1200 * scale))
        looks = [Look(round(t.visitors * d / 30), round(t.orders * d / 30), round(h.visitors * d / 30),
                      round(h.orders * d / 30)) for d in range(1, 31)]
        return uplift(t, h, looks)

    small = run(1)
    assert [round(x, 3) for x in (small.treatment_rate.low, small.treatment_rate.high, small.holdout_rate.low,
                                  small.holdout_rate.high)] == [0.078, 0.104, 0.035, 0.102]
    assert [round(x, 3) for x in (small.difference.estimate, small.difference.low, small.difference.high)] == [
        0.03, -0.014, 0.059]
    assert [round(x) for x in (small.incremental_orders.estimate, small.incremental_orders.low,
                               small.incremental_orders.high)] == [54, -25, 106]
    assert small.incremental_revenue.estimate == Decimal("5400.00") and round(small.p_value, 2) == 0.87
    large = run(5)
    assert [round(x, 3) for x in (large.difference.low, large.difference.high)] == [0.013, 0.044]
    assert [round(x) for x in (large.incremental_orders.low, large.incremental_orders.high)] == [113, 400]
    assert round(large.p_value, 3) == 0.032
