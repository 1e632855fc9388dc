"""Leads over the site API (the site's key or the operator token, as the other site endpoints;
another site's key gets 404).

``POST /v1/sites/KEY/leads`` a contact request from the site's server (core/leads.py:
parse_request with ``customer_id``) -> 201 with the lead: who it went to and why.
``GET .../leads?from=&to=&cursor=&limit=`` pages oldest first; ``GET .../leads/ID`` one lead.
``GET/PUT .../territories`` the territory table (first match wins; every staff id must exist);
``GET/PUT .../lead-settings`` ``{"extra_to": [...]}``, the site's own addressees of every lead
besides the offer settings' ``sales_email``.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.core import leads as core
from backend.domain.leads import LeadError
from backend.web.http import HTTPError, errors_json, parse_int, parse_json, read_body, services
from backend.web.site_api import site_or_404

LEAD_MAX_BYTES = 16 * 1024  # a comment of 2,000 characters, every one four bytes, fits
TABLE_MAX_BYTES = 512 * 1024
LATEST_MS = 10 ** 14
LEAD_ID_RE = re.compile(r"ldp?_[A-Za-z0-9_-]{8,40}")


def invalid(what: str, errors: list[tuple[str, str]]) -> HTTPError:
    return HTTPError(400, f"the {what} is not valid", errors=errors_json(errors))


async def post_lead(request: Request) -> Response:
    site = await site_or_404(request)
    found = core.parse_request(parse_json(await read_body(request, LEAD_MAX_BYTES)), server=True)
    if isinstance(found, list):
        raise invalid("lead", found)
    try:
        lead = await services(request).leads.contact(site, found, "api")
    except LeadError as exc:
        raise invalid("lead", exc.errors) from None
    return JSONResponse(lead.as_json(), status_code=201)


async def list_leads(request: Request) -> Response:
    site = await site_or_404(request)
    q = request.query_params
    cursor = q.get("cursor", "")
    try:
        found, after = await services(request).leads.list(
            site.key, parse_int(q.get("from"), 0, 0, LATEST_MS, "from"),
            parse_int(q.get("to"), LATEST_MS, 0, LATEST_MS, "to"), cursor,
            parse_int(q.get("limit"), 100, 1, 1000, "limit"))
    except LeadError as exc:
        raise invalid("query", exc.errors) from None
    return JSONResponse({"leads": [lead.as_json() for lead in found], "cursor": after})


async def lead_detail(request: Request) -> Response:
    site = await site_or_404(request)
    lead_id = request.path_params["lead_id"]
    found = await services(request).leads.get(site.key, lead_id) if LEAD_ID_RE.fullmatch(lead_id) else None
    if found is None:
        raise HTTPError(404, "no such lead (or it is older than the lead retention)")
    return JSONResponse(found.as_json())


async def territories(request: Request) -> Response:
    site = await site_or_404(request)
    leads = services(request).leads
    if request.method == "PUT":
        body = parse_json(await read_body(request, TABLE_MAX_BYTES))
        data = body.get("territories") if isinstance(body, dict) and set(body) == {"territories"} else body
        try:
            table = await leads.set_territories(site.key, data)
        except LeadError as exc:
            raise invalid("territory table", exc.errors) from None
    else:
        table = await leads.territories(site.key)
    return JSONResponse({"territories": [t.as_json() for t in table]})


async def lead_settings(request: Request) -> Response:
    site = await site_or_404(request)
    leads = services(request).leads
    if request.method == "PUT":
        try:
            found = await leads.set_settings(site.key, parse_json(await read_body(request, LEAD_MAX_BYTES)))
        except LeadError as exc:
            raise invalid("lead settings", exc.errors) from None
    else:
        found = await leads.settings(site.key)
    return JSONResponse({**found.as_json(), "sales_email": site.offer.sales_email})


routes = [
    Route("/v1/sites/{key}/leads", post_lead, methods=["POST"]),
    Route("/v1/sites/{key}/leads", list_leads, methods=["GET"]),
    Route("/v1/sites/{key}/leads/{lead_id:path}", lead_detail, methods=["GET"]),
    Route("/v1/sites/{key}/territories", territories, methods=["GET", "PUT"]),
    Route("/v1/sites/{key}/lead-settings", lead_settings, methods=["GET", "PUT"]),
]
