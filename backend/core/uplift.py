"""What help changes, from the holdout: conversion per arm, the uplift with a score-based
confidence interval, the incremental orders and revenue, and an always-valid p-value that an
owner may look at every day.

Standard library only. The uplift is the difference of two proportions (treatment minus
holdout) with Newcombe's hybrid score interval (method 10 of Newcombe 1998, "Interval
estimation for the difference between independent proportions"), built from each arm's
Wilson interval: unlike the plain Wald interval it stays inside [-1, 1] and keeps its
coverage with few conversions or a small holdout.

The p-value is the mixture sequential probability ratio test (Johari, Pekelis & Walsh 2017,
"Always valid inference"): with the difference estimated as d ~ N(theta, V), V the pooled
variance under "no effect", and a normal mixture theta ~ N(0, tau^2) over the effects,
``Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 d^2 / (2 V (V + tau^2)))`` and the p-value is
the running minimum of 1 / Lambda over the looks. Lambda is a martingale under no effect, so
the chance it ever reaches 1/alpha is at most alpha however often one looks (Ville): looking
every day does not inflate false positives, as it would with a fixed-sample test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from statistics import NormalDist
from typing import Iterable

# The mixing distribution's spread: effects of a few percentage points, as help on a site
# plausibly makes (conversion up from, say, 3% to 5%). A smaller tau is quicker for small
# effects on large sites and slower for large ones; Johari et al. tune it to the effects seen.
TAU = 0.03
TAU2 = TAU * TAU


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class MoneyInterval:
    estimate: Decimal
    low: Decimal
    high: Decimal


@dataclass(frozen=True)
class Arm:
    """One arm's visitors (those who came to need help), orders and revenue (exact)."""

    visitors: int
    orders: int
    revenue: Decimal = Decimal(0)


@dataclass(frozen=True)
class Look:
    """The cumulative counts at one look (a day of the report): for the always-valid p-value."""

    treated: int
    treated_orders: int
    held: int
    held_orders: int


def z_for(confidence: float) -> float:
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def wilson(x: int, n: int, confidence: float = 0.95) -> Interval:
    """The Wilson score interval of x successes in n trials (no continuity correction)."""
    _check(x, n)
    z = z_for(confidence)
    p = x / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # at none or all the bound is exactly 0 or 1; the arithmetic may miss it by a rounding
    return Interval(p, 0.0 if x == 0 else max(0.0, center - half), 1.0 if x == n else min(1.0, center + half))


def difference(x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95) -> Interval:
    """p1 - p2 with Newcombe's hybrid score interval (method 10)."""
    a, b = wilson(x1, n1, confidence), wilson(x2, n2, confidence)
    d = a.estimate - b.estimate
    low = d - math.sqrt((a.estimate - a.low) ** 2 + (b.high - b.estimate) ** 2)
    high = d + math.sqrt((a.high - a.estimate) ** 2 + (b.estimate - b.low) ** 2)
    return Interval(d, max(-1.0, low), min(1.0, high))


def incremental_orders(treated: int, uplift: Interval) -> Interval:
    """Orders the treated visitors placed because of help: their number times the uplift."""
    return Interval(treated * uplift.estimate, treated * uplift.low, treated * uplift.high)


def per_visitor(revenue: Decimal, visitors: int) -> Decimal | None:
    """Revenue per visitor, exact (None without visitors)."""
    return Decimal(revenue) / visitors if visitors else None


def incremental_revenue(orders: Interval, treatment: Arm, holdout: Arm) -> MoneyInterval | None:
    """The incremental orders at the average order value of both arms: it assumes help
    changes whether people buy more than how much, and revenue per visitor per arm shows
    the owner whether that holds. None before any order."""
    placed = treatment.orders + holdout.orders
    if not placed or not holdout.visitors:
        return None
    value = (Decimal(treatment.revenue) + Decimal(holdout.revenue)) / placed
    # the estimate exactly (treated orders less what the holdout's rate predicts), the bounds
    # from the interval's arithmetic
    exact = Decimal(treatment.orders) - Decimal(treatment.visitors) * holdout.orders / Decimal(holdout.visitors)
    return MoneyInterval(exact * value, _decimal(orders.low) * value, _decimal(orders.high) * value)


def log_likelihood_ratio(look: Look, tau2: float = TAU2) -> float:
    """log Lambda of the mSPRT at one look (0 while the data cannot say anything)."""
    n1, n2 = look.treated, look.held
    if not n1 or not n2:
        return 0.0
    pooled = (look.treated_orders + look.held_orders) / (n1 + n2)
    v = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if v <= 0:
        return 0.0
    d = look.treated_orders / n1 - look.held_orders / n2
    return 0.5 * math.log(v / (v + tau2)) + tau2 * d * d / (2 * v * (v + tau2))


def always_valid_p(looks: Iterable[Look], tau2: float = TAU2) -> list[float]:
    """The always-valid p-value after each look (cumulative counts, in time order): the
    running minimum of 1 / Lambda, so it never rises as data accumulate."""
    out: list[float] = []
    p = 1.0
    for look in looks:
        p = min(p, math.exp(-max(0.0, log_likelihood_ratio(look, tau2))))
        out.append(p)
    return out


@dataclass(frozen=True)
class Uplift:
    treatment: Arm
    holdout: Arm
    treatment_rate: Interval | None
    holdout_rate: Interval | None
    difference: Interval | None  # treatment minus holdout conversion
    incremental_orders: Interval | None
    incremental_revenue: MoneyInterval | None
    treatment_per_visitor: Decimal | None
    holdout_per_visitor: Decimal | None
    p_value: float | None  # always valid; None without looks


def uplift(treatment: Arm, holdout: Arm, looks: Iterable[Look] = (), confidence: float = 0.95) -> Uplift:
    """Everything a report shows for one comparison (a site, or one need band); what needs
    visitors in both arms is None until there are."""
    both = treatment.visitors > 0 and holdout.visitors > 0
    diff = difference(treatment.orders, treatment.visitors, holdout.orders, holdout.visitors,
                      confidence) if both else None
    orders = incremental_orders(treatment.visitors, diff) if diff else None
    ps = always_valid_p(looks)
    return Uplift(
        treatment, holdout,
        wilson(treatment.orders, treatment.visitors, confidence) if treatment.visitors else None,
        wilson(holdout.orders, holdout.visitors, confidence) if holdout.visitors else None,
        diff, orders, incremental_revenue(orders, treatment, holdout) if orders else None,
        per_visitor(treatment.revenue, treatment.visitors), per_visitor(holdout.revenue, holdout.visitors),
        ps[-1] if ps else None,
    )


def _check(x: int, n: int) -> None:
    if n <= 0 or not 0 <= x <= n:
        raise ValueError(f"need 0 <= successes <= trials and trials > 0, got {x} of {n}")


def _decimal(x: float) -> Decimal:
    return Decimal(repr(x))
