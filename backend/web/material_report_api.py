"""Which materials sell, over the site API (the site's key or the operator token, as the other
reports): ``GET /v1/sites/KEY/materials-report?facet=product%3Dkayak`` answers the rows and
the facets there are; ``&format=csv`` the same rows as a CSV download."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.core import material_report as core
from backend.core.practices import ALL
from backend.core.spreadsheet import csv_text
from backend.domain.material_report import FacetError, MaterialReport, Report
from backend.web.http import HTTPError, services
from backend.web.site_api import site_or_404


async def read(request: Request, site: str) -> Report:
    """The report of the facet asked for (every chat by default); 400 for one not counted."""
    svc = services(request)
    try:
        return await MaterialReport(svc.materials, svc.practices, svc.reps).report(
            site, request.query_params.get("facet", ALL))
    except FacetError as exc:
        raise HTTPError(400, str(exc), errors=[{"field": "facet", "message": str(exc)}]) from None


def csv_name(facet: str) -> str:
    """A download's name that needs no quoting: what the facet holds besides letters, digits, _ and -
    becomes a dash."""
    return "materials-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", facet).strip("-")[:60] if facet != ALL else "all") + ".csv"


def csv_response(report: Report, headers: dict[str, str] | None = None) -> Response:
    text = csv_text(core.HEADERS, core.table(report.rows))
    return Response(text.encode("utf-8", "replace"), headers={
        **(headers or {}), "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{csv_name(report.facet)}"'})


async def materials_report(request: Request) -> Response:
    site = await site_or_404(request)
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "csv"):
        raise HTTPError(400, "'format' must be json or csv", errors=[{"field": "format",
                                                                      "message": "must be json or csv"}])
    report = await read(request, site.key)
    if fmt == "csv":
        return csv_response(report)
    return JSONResponse({"facet": report.facet, "label": report.label,
                         "facets": [{"facet": f, "label": core.label(f, report.names)} for f in report.facets],
                         "materials": [r.as_json() for r in report.rows]})


routes = [Route("/v1/sites/{key}/materials-report", materials_report, methods=["GET"])]
