"""The reports in the console, for admins and auditors: the funnel, the uplift over the
holdout, the representatives, and the days, each as a server-drawn chart beside its table and
a CSV of the same rows. A table and its CSV are made from one list of rows, so what a person
reads and what they download cannot differ."""

from __future__ import annotations

import math
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from backend.core import charts
from backend.core.counters import ARMS, BAND_LABELS, STAGES, Period
from backend.core.currencies import from_minor
from backend.core.reports import RepTotals, Struggle, UpliftReport, uplift_report
from backend.core.scoring import RULE_LABELS
from backend.core.spreadsheet import csv_text
from backend.core.uplift import Interval, Uplift
from backend.domain.reports import RangeError, day_range
from backend.web.console.web import Ctx, error_page, page, render, security_headers
from backend.web.http import services

STAGE_LABELS = {"needing": "Needed help", "offered": "Offered help", "accepted": "Accepted",
                "chatted": "Chatted", "purchased": "Bought"}
TABLES = ("funnel", "uplift", "reasons", "pages", "reps", "days")


@dataclass(frozen=True)
class Table:
    name: str  # funnel | uplift | reps | days: the CSV's name
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    chart: str  # SVG, every label escaped (core/charts.py)


def _pct(x: float | None) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.1%}"


def _pts(i: Interval | None) -> str:
    return "" if i is None else f"{i.estimate * 100:+.1f} ({i.low * 100:+.1f} to {i.high * 100:+.1f})"


def _num(x: float | None, digits: int = 1) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def _money(amounts: dict[str, int] | tuple[tuple[str, int], ...]) -> str:
    pairs = amounts.items() if isinstance(amounts, dict) else amounts
    return " ".join(f"{from_minor(m, c)} {c}" for c, m in pairs)


def funnel_table(p: Period) -> Table:
    t, h = p.treatment.total, p.holdout.total
    rows = [("Visitors", str(p.visitors), "")]
    rows += [(STAGE_LABELS[s], str(getattr(t, s)), str(getattr(h, s))) for s in STAGES]
    rows.append(("Revenue", _money(t.revenue), _money(h.revenue)))
    chart = charts.bars("Treatment funnel", [(STAGE_LABELS[s], float(getattr(t, s))) for s in STAGES])
    return Table("funnel", "Funnel", ("Step", "Treatment", "Holdout"), tuple(rows), chart)


def _uplift_row(label: str, u: Uplift) -> tuple[str, ...]:
    def rate(f: Interval | None, arm: object) -> str:
        return f"{_pct(f.estimate)} of {arm.visitors}" if f else f"n/a of {arm.visitors}"  # type: ignore[attr-defined]

    orders = u.incremental_orders
    return (label, rate(u.treatment_rate, u.treatment), rate(u.holdout_rate, u.holdout), _pts(u.difference),
            "" if orders is None else f"{orders.estimate:.0f} ({orders.low:.0f} to {orders.high:.0f})",
            "" if u.p_value is None else f"{u.p_value:.3f}")


def uplift_table(r: UpliftReport) -> Table:
    parts = [("All who needed help", r.overall)] + [(BAND_LABELS[b], u) for b, u in r.bands]
    rows = tuple(_uplift_row(label, u) for label, u in parts)
    chart = charts.interval("Uplift in conversion, 95% interval",
                            [(label, *(_triple(u.difference))) for label, u in parts])
    return Table("uplift", f"Uplift over the holdout ({r.currency})",
                 ("Who", "Treatment conversion", "Holdout conversion", "Uplift, points (95%)",
                  "Incremental orders (95%)", "Always-valid p"), rows, chart)


def _triple(i: Interval | None) -> tuple[float, float, float]:
    return (math.nan, math.nan, math.nan) if i is None else (i.estimate, i.low, i.high)


def struggles_table(name: str, title: str, first: str, found: list[Struggle]) -> Table:
    """Which struggles (or pages) lead to sales when helped: conversion in each arm, and the
    uplift with its interval."""
    def rate(bought: int, visitors: int) -> str:
        return f"{_pct(min(bought, visitors) / visitors)} of {visitors}" if visitors else f"n/a of {visitors}"

    rows = tuple((s.name, rate(s.treated_bought, s.treated), rate(s.held_bought, s.held), _pts(s.uplift()))
                 for s in found)
    chart = charts.interval(f"Uplift by {first.lower()}, 95% interval", [(s.name, *_triple(s.uplift())) for s in found])
    return Table(name, title, (first, "Treatment bought", "Holdout bought", "Uplift, points (95%)"), rows, chart)


def reps_table(found: list[tuple[RepTotals, str]], currency: str) -> Table:
    rows = tuple((name or t.rep, str(t.chats), _num(t.mean_wait_s), str(t.ended), _num(t.mean_handle_s),
                  _num(t.mean_stars, 2), str(t.conversions), str(t.no_sales), _money(t.revenue),
                  _money(t.commission))
                 for t, name in found)
    chart = charts.bars(f"Revenue by representative ({currency})",
                        [(name or t.rep, float(from_minor(t.revenue.get(currency, 0), currency))) for t, name in found],
                        fmt="{:,.2f}".format)
    return Table("reps", "Representatives", ("Representative", "Chats", "Mean wait (s)", "Ended",
                                             "Mean handle time (s)", "Mean rating", "Conversions", "No sale",
                                             "Revenue", "Commission"), rows, chart)


def days_table(p: Period) -> Table:
    def day(d: str) -> str:
        return f"{d[:4]}-{d[4:6]}-{d[6:]}"

    rows = tuple((day(d.day), str(d.visitors), *(str(getattr(d.arm(a).total, s)) for a in ARMS
                                                  for s in ("needing", "purchased"))) for d in p.days)
    series = [charts.Series(f"{a}: {STAGE_LABELS[s].lower()}", [float(getattr(d.arm(a).total, s)) for d in p.days])
              for a in ARMS for s in ("needing", "purchased")]
    chart = charts.lines("Day by day", [day(d.day) for d in p.days], series)
    return Table("days", "Day by day", ("Day", "Visitors", "Treatment needed help", "Treatment bought",
                                        "Holdout needed help", "Holdout bought"), rows, chart)


async def _tables(request: Request, ctx: Ctx) -> tuple[str, str, list[Table]]:
    first, last = day_range(request.query_params.get("from"), request.query_params.get("to"))
    reports = services(request).reports
    period = await reports.funnel(ctx.site.key, first, last)
    uplift = uplift_report(period)  # the same days: read once
    reps = await reports.reps_report(ctx.site.key, first, last)
    reasons, pages = await reports.struggles(ctx.site.key, first, last)
    labels = [Struggle(RULE_LABELS.get(s.name, (s.name,))[0], s.treated, s.treated_bought, s.held, s.held_bought)
              for s in reasons]
    tables = [funnel_table(period), uplift_table(uplift),
              struggles_table("reasons", "Which struggles sell when helped", "Reason", labels),
              struggles_table("pages", "Which pages sell when helped", "Page", pages),
              reps_table(reps, uplift.currency), days_table(period)]
    return first, last, tables


def _iso(day: str) -> str:
    return f"{day[:4]}-{day[4:6]}-{day[6:]}"


@page(reports=True)
async def reports_home(request: Request, ctx: Ctx) -> Response:
    try:
        first, last, tables = await _tables(request, ctx)
    except RangeError as exc:
        return render(request, "reports.html", {"rep": ctx.rep, "site": ctx.site, "nav": "reports", "tables": [],
                                                "errors": exc.errors, "first": request.query_params.get("from", ""),
                                                "last": request.query_params.get("to", "")}, status=400)
    return render(request, "reports.html", {"rep": ctx.rep, "site": ctx.site, "nav": "reports", "tables": tables,
                                            "errors": [], "first": _iso(first), "last": _iso(last)})


@page(reports=True)
async def report_csv(request: Request, ctx: Ctx) -> Response:
    name = request.path_params["name"]
    if name not in TABLES:
        return error_page(request, 404, "No such report.", ctx.rep)
    try:
        first, last, tables = await _tables(request, ctx)
    except RangeError as exc:
        return error_page(request, 400, "; ".join(f"{f}: {m}" for f, m in exc.errors), ctx.rep)
    table = next(t for t in tables if t.name == name)
    headers = {**security_headers(request), "Content-Type": "text/csv; charset=utf-8",
               "Content-Disposition": f'attachment; filename="{name}-{first}-{last}.csv"'}
    return Response(csv_text(table.headers, table.rows), headers=headers)  # a formula cell starts with a quote
