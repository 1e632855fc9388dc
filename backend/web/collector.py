"""``POST /v1/events``: validate a batch, then one call to fold and score it."""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, Response

from backend.core import frames
from backend.core.protocol import ProtocolError, parse_batch
from backend.domain.services import Services
from backend.domain.sites import Site
from backend.domain.tasks import one_line, unreachable
from backend.domain.visitors import RateLimited
from backend.web.load_gate import LoadGate
from backend.web.http import HTTPError, cors_headers, parse_json, read_body, services
from backend.web.visitor_auth import site_for_origin

log = logging.getLogger("beckon.collector")

ACCEPTED_TYPES = ("text/plain", "application/json")
SHED_RETRY_S = 2


async def preflight(request: Request) -> Response:
    origin = request.headers.get("origin", "")
    if not origin or not await services(request).sites.origin_known(origin):
        return JSONResponse({"error": "this origin is not allowed to send events"}, status_code=403)
    return Response(
        status_code=204,
        headers={
            **cors_headers(origin),
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "86400",
        },
    )


async def tell_salesperson(svc: Services, site: Site, vid: str) -> None:
    """A customer with an assigned salesperson started needing help: they may want to know
    (domain/leads.py:needs_help). Never at the batch's expense: without Redis the loops log
    the outage once (one line here, no traceback); anything else is a bug, logged as one."""
    try:
        await svc.leads.needs_help(site, vid)
    except Exception as exc:  # noqa: BLE001 - the batch is stored; an alert is not worth failing it
        if unreachable(exc):
            log.debug("the customer's salesperson could not be told they need help: %s", one_line(exc))
        else:
            log.exception("the customer's salesperson could not be told they need help")


async def ingest(request: Request) -> Response:
    gate: LoadGate = request.app.state.gate
    origin = request.headers.get("origin", "")
    if not gate.admit():  # before any work: the point is to spend nothing on it
        return JSONResponse({"error": "busy; retry later"}, status_code=503,
                            headers={**cors_headers(origin[:200]), "Retry-After": str(SHED_RETRY_S)})
    with gate.holding():
        return await _ingest(request, origin)


async def _ingest(request: Request, origin: str) -> Response:
    svc = services(request)
    settings = svc.settings
    cors: dict[str, str] = {}
    try:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in ACCEPTED_TYPES:
            raise HTTPError(415, "send the batch as text/plain or application/json")
        batch = parse_batch(parse_json(await read_body(request, settings.max_body_bytes)), settings.max_events)
        site = await site_for_origin(svc, batch.site, origin)
        cors = cors_headers(origin)
        if site.consent_required and not batch.consent:
            raise HTTPError(403, "this site requires the visitor's consent before sending", field="consent")
        scored = await svc.visitors.ingest(site, batch, request.client.host if request.client else "unknown")
        recorded = await svc.orders.from_batch(site, batch, vouched=scored.token is not None)
    except ProtocolError as exc:
        return JSONResponse(exc.as_json(), status_code=exc.status, headers=cors)
    except RateLimited as exc:
        return HTTPError(429, "too many requests; retry later", headers={"Retry-After": str(exc.retry_s)}) \
            .response(cors)
    except HTTPError as exc:
        return exc.response(cors)
    if scored.newly:
        svc.broker.poke(site.key)
    if scored.chat:
        await svc.chats.visitor_changed(site.key, scored.chat)
    answer = {
        "ok": True,
        "hb": settings.heartbeat_s,
        "cmd": frames.offer(scored.offer, int(time.time() * 1000)) if scored.offer else None,
        "watch": scored.watch,
        "tok": scored.token,
    }
    if recorded:  # the page's purchases, each stored once whatever the page resends
        answer["orders"] = [{"order_id": r.order.order_id, "duplicate": not r.stored} for r in recorded]
    # after the answer is sent: the page never waits for the salesperson's alert
    after = BackgroundTask(tell_salesperson, svc, site, batch.vid) if scored.newly else None
    return JSONResponse(answer, headers=cors, background=after)
