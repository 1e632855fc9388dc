"""Which materials sell, in the console (admins and auditors, as the other reports): one facet
at a time, chosen in a select, as a table with what to weed flagged, a chart of the estimated
conversion, and the CSV of the same rows (material_report_api.csv_response)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from backend.core import charts
from backend.core import material_report as core
from backend.domain.material_report import FacetError, MaterialReport, Report
from backend.web.console.web import Ctx, error_page, page, render, security_headers
from backend.web.http import services
from backend.web.material_report_api import csv_response

CHART_MAX = 30  # bars: the best of a long library; the table has them all


async def _report(request: Request, ctx: Ctx, facet: str | None = None) -> Report:
    svc = services(request)
    return await MaterialReport(svc.materials, svc.practices, svc.reps).report(
        ctx.site.key, request.query_params.get("facet", "*") if facet is None else facet)


def chart(report: Report) -> str:
    shown = report.rows[:CHART_MAX]
    more = f", the best {CHART_MAX} of {len(report.rows)}" if len(report.rows) > CHART_MAX else ""
    return charts.bars(f"Estimated conversion, {report.label.lower()}{more}",
                       [(r.title, r.estimate) for r in shown], fmt="{:.1%}".format)


@page(reports=True)
async def material_report(request: Request, ctx: Ctx) -> Response:
    base = {"rep": ctx.rep, "site": ctx.site, "nav": "materials-report", "headers": core.HEADERS,
            "flag_after": core.FLAG_AFTER_DAYS, "never_sells": core.NEVER_SELLS_USES}
    try:
        report = await _report(request, ctx)
    except FacetError as exc:
        fallback = await _report(request, ctx, "*")  # the select, to choose again
        return render(request, "material_report.html", {**base, "report": fallback, "error": str(exc),
                                                         "rows": [], "chart": ""}, status=400)
    reps = [(f, report.names.get(f[4:], "")) for f in report.facets if f.startswith("rep=")]
    return render(request, "material_report.html", {
        **base, "report": report, "error": "", "chart": chart(report),
        "rows": [(r, core.cells(r)) for r in report.rows],
        "reps": sorted(((f, name) for f, name in reps if name), key=lambda p: (p[1].lower(), p[0]))})


@page(reports=True)
async def material_report_csv(request: Request, ctx: Ctx) -> Response:
    try:
        report = await _report(request, ctx)
    except FacetError as exc:
        return error_page(request, 400, str(exc), ctx.rep)
    return csv_response(report, security_headers(request))
