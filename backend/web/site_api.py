"""Site management API for site owners' own systems: ``/v1/sites/...``.

Authenticated with the admin token (``Authorization: Bearer <BECKON_ADMIN_TOKEN>``).
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.domain import visitors
from backend.core.protocol import ID_RE
from backend.web.http import HTTPError, parse_int, read_json
from backend.domain.reps import RepError
from backend.core.scoring import RulesError
from backend.domain.sites import Site, SiteError, validate_site


def require_admin(request: Request) -> None:
    token = request.app.state.settings.admin_token
    given = request.headers.get("authorization", "")
    if not given.startswith("Bearer ") or not hmac.compare_digest(given[7:].encode(), token.encode()):
        raise HTTPError(401, "missing or wrong admin token", headers={"WWW-Authenticate": "Bearer"})


async def site_or_404(request: Request) -> Site:
    require_admin(request)
    key = request.path_params["key"]
    site = await request.app.state.sites.get(key, fresh=True) if ID_RE.match(key) else None
    if site is None:
        raise HTTPError(404, "no such site")
    return site


def errors_json(errors: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"field": path, "message": message} for path, message in errors]


async def create_site(request: Request) -> Response:
    require_admin(request)
    try:
        name, origins, consent = validate_site(await read_json(request))
    except SiteError as exc:
        raise HTTPError(400, "the site is not valid", errors=errors_json(exc.errors)) from None
    site = await request.app.state.sites.create(name, origins, consent)
    return JSONResponse(site.as_json(request.app.state.settings), status_code=201)


async def list_sites(request: Request) -> Response:
    require_admin(request)
    sites = request.app.state.sites
    out = []
    for key in await sites.all():
        site = await sites.get(key)
        if site:
            out.append(site.as_json(request.app.state.settings))
    return JSONResponse({"sites": out})


async def site_detail(request: Request) -> Response:
    site = await site_or_404(request)
    state = request.app.state
    if request.method == "PUT":
        try:
            name, origins, consent = validate_site(await read_json(request))
        except SiteError as exc:
            raise HTTPError(400, "the site is not valid", errors=errors_json(exc.errors)) from None
        site = await state.sites.update(site.key, name, origins, consent)
    return JSONResponse(site.as_json(state.settings))


async def rules(request: Request) -> Response:
    site = await site_or_404(request)
    sites = request.app.state.sites
    if request.method == "PUT":
        try:
            return JSONResponse(await sites.set_rules(site.key, await read_json(request)))
        except RulesError as exc:
            raise HTTPError(400, "the rule set is not valid", errors=errors_json(exc.errors)) from None
    return JSONResponse(await sites.get_rules(site.key))


async def flagged(request: Request) -> Response:
    site = await site_or_404(request)
    sites = request.app.state.sites
    if request.method == "GET":
        return JSONResponse({"customers": await sites.flagged_customers(site.key)})
    data: Any = await read_json(request)
    customers = data.get("customers") if isinstance(data, dict) else None
    if (
        not isinstance(customers, list)
        or len(customers) > 1000
        or not all(isinstance(c, str) and 0 < len(c) <= 254 for c in customers)
    ):
        raise HTTPError(400, "send {\"customers\": [...]} with up to 1000 ids or e-mails of 1-254 characters")
    result = await sites.flag_customers(site.key, customers, flag=request.method == "POST")
    return JSONResponse({"customers": result})


async def visitor_list(request: Request) -> Response:
    site = await site_or_404(request)
    state = request.app.state
    limit = parse_int(request.query_params.get("limit"), 100, 1, 1000, "limit")
    rows = await visitors.active(state.redis, site.key, state.settings.visitor_ttl_s, limit)
    return JSONResponse({"visitors": rows})


async def visitor_detail(request: Request) -> Response:
    site = await site_or_404(request)
    vid = request.path_params["vid"]
    found = await visitors.detail(request.app.state.redis, site.key, vid) if ID_RE.match(vid) else None
    if found is None:
        raise HTTPError(404, "no such visitor (or the visit expired)")
    return JSONResponse(found)


routes = [
    Route("/v1/sites", create_site, methods=["POST"]),
    Route("/v1/sites", list_sites, methods=["GET"]),
    Route("/v1/sites/{key}", site_detail, methods=["GET", "PUT"]),
    Route("/v1/sites/{key}/rules", rules, methods=["GET", "PUT"]),
    Route("/v1/sites/{key}/flagged", flagged, methods=["GET", "POST", "DELETE"]),
    Route("/v1/sites/{key}/visitors", visitor_list, methods=["GET"]),
    Route("/v1/sites/{key}/visitors/{vid}", visitor_detail, methods=["GET"]),
]


# --- Representatives -------------------------------------------------------------------


async def reps_collection(request: Request) -> Response:
    site = await site_or_404(request)
    reps = request.app.state.reps
    if request.method == "POST":
        try:
            rep = await reps.create(site.key, await read_json(request))
        except RepError as exc:
            raise HTTPError(400, "the representative is not valid", errors=errors_json(exc.errors)) from None
        return JSONResponse(rep.as_json(), status_code=201)
    return JSONResponse({"reps": [r.as_json() for r in await reps.list(site.key)]})


async def rep_detail(request: Request) -> Response:
    site = await site_or_404(request)
    reps = request.app.state.reps
    rid = request.path_params["rid"]
    try:
        rep = await reps.update(site.key, rid, await read_json(request)) if request.method == "PUT" \
            else await reps.get(site.key, rid)
    except RepError as exc:
        raise HTTPError(400, "the change is not valid", errors=errors_json(exc.errors)) from None
    if rep is None:
        raise HTTPError(404, "no such representative")
    return JSONResponse(rep.as_json())


async def rep_presence(request: Request) -> Response:
    """Presence heartbeat on a representative's behalf (the console sends the same)."""
    site = await site_or_404(request)
    state = request.app.state
    rid = request.path_params["rid"]
    rep = await state.reps.get(site.key, rid)
    if rep is None or not rep.active:
        raise HTTPError(404, "no such active representative")
    data = await read_json(request)
    status = data.get("status") if isinstance(data, dict) else None
    if status == "offline":
        await state.reps.sign_off(site.key, rid)
    else:
        try:
            if await state.reps.heartbeat(site.key, rid, status):  # type: ignore[arg-type]
                await state.broker.run(site.key)
        except RepError as exc:
            raise HTTPError(400, "status must be available, away or offline", errors=errors_json(exc.errors)) \
                from None
    return JSONResponse((await state.reps.get(site.key, rid)).as_json())  # type: ignore[union-attr]


routes += [
    Route("/v1/sites/{key}/reps", reps_collection, methods=["GET", "POST"]),
    Route("/v1/sites/{key}/reps/{rid}", rep_detail, methods=["GET", "PUT"]),
    Route("/v1/sites/{key}/reps/{rid}/presence", rep_presence, methods=["PUT", "POST"]),
]
