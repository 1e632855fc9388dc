"""Site management API for site owners' own systems: ``/v1/sites/...``.

``Authorization: Bearer <key>`` with either a site's own API key (``bks.<site>...``, made in
the console's admin pages or by ``POST /v1/sites/KEY/api-keys``), which opens that site and
nothing else (another site answers 404, as if it did not exist), or the operator token
(``BECKON_ADMIN_TOKEN``), which opens every site and alone may create sites.
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.core.policy import SettingsError
from backend.core.protocol import ID_RE
from backend.core.scoring import RulesError
from backend.domain.api_keys import ApiKeyError
from backend.domain.matching import MatchingError
from backend.domain.reps import Rep, RepError
from backend.domain.sites import Site, SiteError, validate_site
from backend.web.http import HTTPError, errors_json, parse_int, read_json, services


OPERATOR = "*"  # what the operator token opens


async def caller(request: Request) -> str:
    """The site the bearer key opens, or OPERATOR; 401 for anything else."""
    svc = services(request)
    given = request.headers.get("authorization", "")
    token = given[7:].strip() if given.startswith("Bearer ") else ""
    if token and hmac.compare_digest(token.encode(), svc.settings.admin_token.encode()):
        return OPERATOR
    site = await svc.api_keys.site_of(token) if token else None
    if site is None:
        raise HTTPError(401, "missing, wrong or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    return site


async def require_operator(request: Request) -> None:
    if await caller(request) != OPERATOR:
        raise HTTPError(403, "this needs the operator token (BECKON_ADMIN_TOKEN), not a site's key")


async def site_or_404(request: Request) -> Site:
    opens = await caller(request)
    key = request.path_params["key"]
    site = None
    if ID_RE.fullmatch(key) and opens in (OPERATOR, key):
        site = await services(request).sites.get(key, fresh=True)
    if site is None:  # another site's key learns nothing, not even that the site exists
        raise HTTPError(404, "no such site")
    return site


def invalid(what: str, exc: SiteError | RulesError | SettingsError | RepError) -> HTTPError:
    return HTTPError(400, f"the {what} is not valid", errors=errors_json(exc.errors))


# --- Sites --------------------------------------------------------------------------------


async def create_site(request: Request) -> Response:
    await require_operator(request)
    svc = services(request)
    try:
        name, origins, consent = validate_site(await read_json(request))
    except SiteError as exc:
        raise invalid("site", exc) from None
    site = await svc.sites.create(name, origins, consent)
    return JSONResponse(site.as_json(svc.settings), status_code=201)


async def list_sites(request: Request) -> Response:
    opens = await caller(request)
    svc = services(request)
    sites = await svc.sites.every() if opens == OPERATOR else [s for s in [await svc.sites.get(opens)] if s]
    return JSONResponse({"sites": [s.as_json(svc.settings) for s in sites]})


async def site_detail(request: Request) -> Response:
    site = await site_or_404(request)
    svc = services(request)
    if request.method == "PUT":
        try:
            name, origins, consent = validate_site(await read_json(request))
        except SiteError as exc:
            raise invalid("site", exc) from None
        site = await svc.sites.update(site.key, name, origins, consent)
    return JSONResponse(site.as_json(svc.settings))


async def rules(request: Request) -> Response:
    site = await site_or_404(request)
    sites = services(request).sites
    if request.method == "PUT":
        try:
            return JSONResponse(await sites.set_rules(site.key, await read_json(request)))
        except RulesError as exc:
            raise invalid("rule set", exc) from None
    return JSONResponse(await sites.get_rules(site.key))


async def flagged(request: Request) -> Response:
    site = await site_or_404(request)
    sites = services(request).sites
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
    limit = parse_int(request.query_params.get("limit"), 100, 1, 1000, "limit")
    return JSONResponse({"visitors": await services(request).visitors.active(site.key, limit)})


async def visitor_detail(request: Request) -> Response:
    site = await site_or_404(request)
    vid = request.path_params["vid"]
    found = await services(request).visitors.detail(site.key, vid) if ID_RE.match(vid) else None
    if found is None:
        raise HTTPError(404, "no such visitor (or the visit expired)")
    return JSONResponse(found)


# --- Matching -----------------------------------------------------------------------------


async def matching(request: Request) -> Response:
    """The page map and the ordered matching rule sets; a PUT replaces them whole."""
    site = await site_or_404(request)
    service = services(request).matching
    if request.method == "PUT":
        try:
            return JSONResponse((await service.set_rule_sets(site.key, await read_json(request))).as_json())
        except MatchingError as exc:
            raise HTTPError(400, "the matching rule sets are not valid", errors=errors_json(exc.errors)) from None
    return JSONResponse((await service.rule_sets(site.key)).as_json())


async def visitor_match(request: Request) -> Response:
    """Where this visitor's request would go now, and why."""
    site = await site_or_404(request)
    vid = request.path_params["vid"]
    found = await services(request).matching.match(site, vid) if ID_RE.fullmatch(vid) else None
    if found is None:
        raise HTTPError(404, "no such visitor (or the visit expired)")
    return JSONResponse(found.as_json())


# --- Offers -------------------------------------------------------------------------------


async def offer_settings(request: Request) -> Response:
    site = await site_or_404(request)
    svc = services(request)
    if request.method == "PUT":
        try:
            cfg = await svc.sites.set_offer_settings(site.key, await read_json(request), site.offer)
        except SettingsError as exc:
            raise invalid("offer settings", exc) from None
        await svc.broker.run(site.key)
        return JSONResponse(cfg.as_json())
    return JSONResponse(site.offer.as_json())


async def availability(request: Request) -> Response:
    """What the broker sees: capacity, slots in use, the estimated wait, learned timings."""
    site = await site_or_404(request)
    return JSONResponse((await services(request).broker.availability(site.key, site.offer)).as_json())


async def chat_requests(request: Request) -> Response:
    site = await site_or_404(request)
    return JSONResponse({"requests": [
        {"id": c.id, "visitor": c.visitor, "created": c.created, "status": c.status, "score": c.score,
         "reasons": c.reasons, "url": c.url}
        for c in await services(request).chats.waiting(site.key)]})


async def identity(request: Request) -> Response:
    """Signed identity: ``{"required": bool, "rotate": bool}``; answers the secret to sign with."""
    site = await site_or_404(request)
    if request.method == "PUT":
        data = await read_json(request)
        required, rotate = (data.get("required"), data.get("rotate", False)) if isinstance(data, dict) else (0, 0)
        if not isinstance(required, bool) or not isinstance(rotate, bool):
            raise HTTPError(400, "send {\"required\": true|false, \"rotate\": true|false}")
        site = await services(request).sites.set_signed_identity(site.key, required, rotate)
    return JSONResponse({"required": site.signed_identity, "secret": site.identity_secret or None})


# --- API keys -------------------------------------------------------------------------------


async def api_keys(request: Request) -> Response:
    site = await site_or_404(request)
    keys = services(request).api_keys
    if request.method == "POST":
        data = await read_json(request)
        label = data.get("label") if isinstance(data, dict) else None
        try:
            key, token = await keys.create(site.key, label if isinstance(label, str) else "")
        except ApiKeyError as exc:
            raise HTTPError(400, str(exc), field="label") from None
        return JSONResponse({**key.as_json(), "key": token}, status_code=201)
    return JSONResponse({"keys": [k.as_json() for k in await keys.of_site(site.key)]})


async def revoke_api_key(request: Request) -> Response:
    site = await site_or_404(request)
    if not await services(request).api_keys.revoke(site.key, request.path_params["kid"][:16]):
        raise HTTPError(404, "no such key")
    return JSONResponse({"revoked": True})


# --- Representatives ------------------------------------------------------------------


async def rep_json(request: Request, site: Site, rep: Rep) -> dict[str, Any]:
    """The rep, and on an enterprise's site the enterprise's sites this person serves."""
    if not site.enterprise:
        return rep.as_json()
    return {**rep.as_json(), "sites": await services(request).memberships.serving(rep)}


async def reps_collection(request: Request) -> Response:
    """A POST may give ``sites``: which of the enterprise's sites the new rep serves (all by
    default)."""
    site = await site_or_404(request)
    svc = services(request)
    if request.method == "POST":
        try:
            rep = await svc.memberships.create(site.key, await read_json(request))
        except RepError as exc:
            raise invalid("representative", exc) from None
        return JSONResponse(await rep_json(request, site, rep), status_code=201)
    return JSONResponse({"reps": [r.as_json() for r in await svc.reps.list(site.key)]})


async def rep_detail(request: Request) -> Response:
    site = await site_or_404(request)
    svc = services(request)
    rid = request.path_params["rid"]
    try:
        rep = await svc.memberships.update(site.key, rid, await read_json(request)) if request.method == "PUT" \
            else await svc.reps.get(site.key, rid)
    except RepError as exc:
        raise HTTPError(400, "the change is not valid", errors=errors_json(exc.errors)) from None
    if rep is None:
        raise HTTPError(404, "no such representative")
    return JSONResponse(await rep_json(request, site, rep))


async def rep_presence(request: Request) -> Response:
    """Presence heartbeat on a representative's behalf (the console sends the same)."""
    site = await site_or_404(request)
    data = await read_json(request)
    try:
        rep = await services(request).presence.set(site.key, request.path_params["rid"],
                                                   data.get("status") if isinstance(data, dict) else None)
    except RepError as exc:
        raise HTTPError(400, "status must be available, away or offline", errors=errors_json(exc.errors)) \
            from None
    if rep is None:
        raise HTTPError(404, "no such active representative")
    return JSONResponse(rep.as_json())


routes = [
    Route("/v1/sites", create_site, methods=["POST"]),
    Route("/v1/sites", list_sites, methods=["GET"]),
    Route("/v1/sites/{key}", site_detail, methods=["GET", "PUT"]),
    Route("/v1/sites/{key}/rules", rules, methods=["GET", "PUT"]),
    Route("/v1/sites/{key}/flagged", flagged, methods=["GET", "POST", "DELETE"]),
    Route("/v1/sites/{key}/visitors", visitor_list, methods=["GET"]),
    Route("/v1/sites/{key}/visitors/{vid}", visitor_detail, methods=["GET"]),
    Route("/v1/sites/{key}/visitors/{vid}/match", visitor_match, methods=["GET"]),
    Route("/v1/sites/{key}/matching", matching, methods=["GET", "PUT"]),
    Route("/v1/sites/{key}/offer-settings", offer_settings, methods=["GET", "PUT"]),
    Route("/v1/sites/{key}/availability", availability, methods=["GET"]),
    Route("/v1/sites/{key}/requests", chat_requests, methods=["GET"]),
    Route("/v1/sites/{key}/identity", identity, methods=["GET", "PUT"]),
    Route("/v1/sites/{key}/api-keys", api_keys, methods=["GET", "POST"]),
    Route("/v1/sites/{key}/api-keys/{kid}", revoke_api_key, methods=["DELETE"]),
    Route("/v1/sites/{key}/reps", reps_collection, methods=["GET", "POST"]),
    Route("/v1/sites/{key}/reps/{rid}", rep_detail, methods=["GET", "PUT"]),
    Route("/v1/sites/{key}/reps/{rid}/presence", rep_presence, methods=["PUT", "POST"]),
]
