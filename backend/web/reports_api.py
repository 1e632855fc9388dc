"""Reports as JSON for the site owner's own systems (the site's key or the operator token):
``/v1/sites/KEY/reports/funnel``, ``/uplift`` and ``/reps``, each with ``from`` / ``to`` as
YYYY-MM-DD (UTC days, both included; the last 30 days by default). Money as decimal strings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.core.counters import ARMS, BAND_LABELS, BANDS, Funnel, Period
from backend.core.currencies import from_minor
from backend.core.reports import RepTotals, Struggle, UpliftReport
from backend.core.uplift import Interval, MoneyInterval, Uplift
from backend.domain.reports import RangeError, day_range
from backend.web.http import HTTPError, errors_json, services
from backend.web.site_api import site_or_404


def _days(request: Request) -> tuple[str, str]:
    try:
        return day_range(request.query_params.get("from"), request.query_params.get("to"))
    except RangeError as exc:
        raise HTTPError(400, "the dates are not valid", errors=errors_json(exc.errors)) from None


def _iso(day: str) -> str:
    return f"{day[:4]}-{day[4:6]}-{day[6:]}"


def funnel_json(f: Funnel) -> dict[str, Any]:
    return {"needing": f.needing, "offered": f.offered, "accepted": f.accepted, "chatted": f.chatted,
            "purchased": f.purchased, "revenue": {c: str(from_minor(m, c)) for c, m in f.revenue}}


def period_json(p: Period) -> dict[str, Any]:
    return {
        "from": _iso(p.first_day), "to": _iso(p.last_day), "visitors": p.visitors,
        "arms": {a: funnel_json(p.arm(a).total) for a in ARMS},
        "bands": {b: {"label": BAND_LABELS[b], **{a: funnel_json(p.arm(a).band(b)) for a in ARMS}} for b in BANDS},
        "days": [{"day": _iso(d.day), "visitors": d.visitors, **{a: funnel_json(d.arm(a).total) for a in ARMS}}
                 for d in p.days],
    }


def _interval(i: Interval | None) -> dict[str, float] | None:
    return None if i is None else {"estimate": i.estimate, "low": i.low, "high": i.high}


def _money_interval(i: MoneyInterval | None) -> dict[str, str] | None:
    q = Decimal("0.01")
    return None if i is None else {k: str(getattr(i, k).quantize(q)) for k in ("estimate", "low", "high")}


def uplift_json(u: Uplift) -> dict[str, Any]:
    def arm(a: Any, rate: Interval | None, per_visitor: Decimal | None) -> dict[str, Any]:
        return {"visitors": a.visitors, "orders": a.orders, "revenue": str(a.revenue), "conversion": _interval(rate),
                "revenue_per_visitor": None if per_visitor is None else str(per_visitor.quantize(Decimal("0.01")))}

    return {"treatment": arm(u.treatment, u.treatment_rate, u.treatment_per_visitor),
            "holdout": arm(u.holdout, u.holdout_rate, u.holdout_per_visitor),
            "uplift": _interval(u.difference), "incremental_orders": _interval(u.incremental_orders),
            "incremental_revenue": _money_interval(u.incremental_revenue), "p_value": u.p_value}


def uplift_report_json(r: UpliftReport) -> dict[str, Any]:
    return {"from": _iso(r.first_day), "to": _iso(r.last_day), "currency": r.currency, "confidence": 0.95,
            **uplift_json(r.overall),
            "bands": {b: {"label": BAND_LABELS[b], **uplift_json(u)} for b, u in r.bands}}


def rep_json(t: RepTotals, name: str) -> dict[str, Any]:
    return {"rep": t.rep, "name": name, "chats": t.chats, "mean_wait_s": t.mean_wait_s, "ended": t.ended,
            "mean_handle_s": t.mean_handle_s, "ratings": t.rated, "mean_rating": t.mean_stars,
            "conversions": t.conversions, "no_sales": t.no_sales, "revenue": {c: str(from_minor(m, c)) for c, m in t.revenue.items()},
            "commission": {c: str(from_minor(m, c)) for c, m in t.commission.items()}}


async def funnel(request: Request) -> Response:
    site = await site_or_404(request)
    first, last = _days(request)
    return JSONResponse(period_json(await services(request).reports.funnel(site.key, first, last)))


async def uplift_report(request: Request) -> Response:
    site = await site_or_404(request)
    first, last = _days(request)
    currency = request.query_params.get("currency", "")
    if currency and (len(currency) != 3 or not currency.isalpha()):
        raise HTTPError(400, "the currency is not valid", errors=[{"field": "currency",
                                                                   "message": "must be a three-letter code"}])
    found = await services(request).reports.uplift(site.key, first, last, currency.upper())
    return JSONResponse(uplift_report_json(found))


def struggle_json(s: Struggle) -> dict[str, Any]:
    def rate(bought: int, visitors: int) -> float | None:
        return min(bought, visitors) / visitors if visitors else None

    return {"name": s.name, "treatment": {"visitors": s.treated, "bought": s.treated_bought,
                                          "conversion": rate(s.treated_bought, s.treated)},
            "holdout": {"visitors": s.held, "bought": s.held_bought, "conversion": rate(s.held_bought, s.held)},
            "uplift": _interval(s.uplift())}


async def struggles(request: Request) -> Response:
    """Which struggles, and which pages, lead to sales when helped."""
    site = await site_or_404(request)
    first, last = _days(request)
    reasons, pages = await services(request).reports.struggles(site.key, first, last)
    return JSONResponse({"from": _iso(first), "to": _iso(last), "reasons": [struggle_json(s) for s in reasons],
                         "pages": [struggle_json(s) for s in pages]})


async def reps(request: Request) -> Response:
    site = await site_or_404(request)
    first, last = _days(request)
    rows = await services(request).reports.reps_report(site.key, first, last)
    return JSONResponse({"from": _iso(first), "to": _iso(last), "reps": [rep_json(t, n) for t, n in rows]})


routes = [
    Route("/v1/sites/{key}/reports/funnel", funnel, methods=["GET"]),
    Route("/v1/sites/{key}/reports/uplift", uplift_report, methods=["GET"]),
    Route("/v1/sites/{key}/reports/reps", reps, methods=["GET"]),
    Route("/v1/sites/{key}/reports/struggles", struggles, methods=["GET"]),
]
