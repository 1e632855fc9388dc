"""HTTP and WebSocket routes of offers: the page's push connection, the offer UI, the
customer's answers, and the site owner's offer settings and availability view."""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from backend.web.site_api import errors_json, site_or_404
from backend.core.protocol import ID_RE
from backend.web.collector import cors_headers
from backend.domain import visitors
from backend.web import page_chat as customer
from backend.web.http import HTTPError, read_body, read_json
from backend.domain.jobs import enqueue_visitor_message
from backend.core.policy import SettingsError, estimate_wait
from backend.domain.reps import PRESENCE_TIMEOUT_S
from backend.domain.sites import Site
from backend.store import keys
from backend.core.tokens import check_visitor_token

TEMPLATES = Path(__file__).resolve().parents[2] / "widget_templates"
widgets = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
OFFER_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,40}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}$")


@functools.cache
def offer_css() -> str:
    return (TEMPLATES / "offer.css").read_text()


async def visitor_site(state: Any, origin: str, site_key: Any, vid: Any, tok: Any) -> Site:
    """The site of a visitor-facing call, after checking key, origin and visitor token."""
    if not isinstance(site_key, str) or not ID_RE.match(site_key) or not isinstance(vid, str) or not ID_RE.match(vid):
        raise HTTPError(400, "'site' and 'vid' must be 8-64 letters, digits, '-' or '_'")
    site = await state.sites.get(site_key)
    if site is None:
        raise HTTPError(403, "unknown site key", field="site")
    if origin not in site.origins:
        raise HTTPError(403, "this origin is not allowed for this site")
    if not check_visitor_token(state.settings.secret_key, site_key, vid, tok):
        raise HTTPError(403, "missing or wrong visitor token", field="tok")
    return site


async def visitor_call(request: Request) -> tuple[Site, dict[str, Any], dict[str, str]]:
    origin = request.headers.get("origin", "")
    body = await read_body(request, 16 * 1024)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise HTTPError(400, "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise HTTPError(400, "the body must be a JSON object")
    site = await visitor_site(request.app.state, origin, data.get("site"), data.get("vid"), data.get("tok"))
    return site, data, cors_headers(origin)


def offer_id(request: Request) -> str:
    oid = request.path_params["offer"]
    if not OFFER_ID_RE.match(oid):
        raise HTTPError(404, "no such offer")
    return oid


async def offer_ui(request: Request) -> Response:
    q = request.query_params
    origin = request.headers.get("origin", "")
    site = await visitor_site(request.app.state, origin, q.get("site"), q.get("vid"), q.get("tok"))
    oid = offer_id(request)
    raw = await request.app.state.redis.hgetall(keys.offer(site.key, q["vid"]))
    if raw.get("id") != oid:
        raise HTTPError(410, "this offer is no longer open")
    template = "message.html" if raw["kind"] == "message" else f"{raw['variant']}.html"
    html = widgets.get_template(template).render(
        offer={"id": oid, "kind": raw["kind"], "variant": raw["variant"], "short": raw.get("short") == "1"},
        cfg=site.offer,
        site_name=site.name,
    )
    return JSONResponse({"html": html, "css": offer_css()}, headers=cors_headers(origin))


async def respond(request: Request) -> Response:
    site, data, cors = await visitor_call(request)
    oid = offer_id(request)
    action = request.path_params["action"]
    if action not in ("accept", "dismiss", "message"):
        raise HTTPError(404, "unknown action; use accept, dismiss or message", headers=cors)
    state = request.app.state
    fields: dict[str, str] = {}
    if action == "message":
        errors = []
        for name, limit in (("name", 100), ("email", 254), ("message", 4000)):
            value = data.get(name, "")
            if not isinstance(value, str) or len(value) > limit:
                errors.append((name, f"must be text of at most {limit} characters"))
            else:
                fields[name] = value.strip()
        if not errors and not fields["message"]:
            errors.append(("message", "please write a message"))
        if not errors and not EMAIL_RE.match(fields["email"]):
            errors.append(("email", "please give an e-mail address we can answer"))
        if errors:
            raise HTTPError(400, "the message was not sent", headers=cors, errors=errors_json(errors))
    result = await state.broker.respond(site.key, data["vid"], oid, action, site.offer, state.settings.visitor_ttl_s)
    if "error" in result:
        raise HTTPError(410, "this offer is no longer open", headers=cors)
    if action == "accept":
        await state.chats.announce(site.key)
    if action == "message":
        detail = await visitors.detail(state.redis, site.key, data["vid"])
        await asyncio.to_thread(enqueue_visitor_message, state.settings, site.name, site.offer.sales_email,
                                fields, detail or {"visitor": data["vid"]})
    else:
        await state.broker.run(site.key)  # a dismissed offer's slot may go to someone else
    return JSONResponse({"ok": True, **({"request": result["request"]} if "request" in result else {})},
                        headers=cors)


async def push(ws: WebSocket) -> None:
    """The page's live connection: offers and chat messages flow to it; the customer's chat
    messages flow back."""
    q = ws.query_params
    state = ws.app.state
    try:
        site = await visitor_site(state, ws.headers.get("origin", ""), q.get("site"), q.get("vid"), q.get("tok"))
    except HTTPError as exc:
        await ws.close(code=4403, reason=exc.message[:120])
        return
    vid = q["vid"]
    await ws.accept()
    channel = keys.push_channel(site.key, vid)
    await state.hub.attach(channel, ws)
    try:
        current = await state.broker.current(site.key, vid)
        if current:
            await ws.send_text(json.dumps(current))
        await customer.send_state(state, ws, site.key, vid)
        while True:
            message = await ws.receive_text()
            if len(message) > 8192:
                await ws.close(code=1009, reason="message too large")
                break
            try:
                data = json.loads(message)
            except ValueError:
                continue
            await customer.handle(state, ws, site, vid, data)
    except WebSocketDisconnect:
        pass
    finally:
        await state.hub.detach(channel, ws)


async def offer_settings(request: Request) -> Response:
    site = await site_or_404(request)
    state = request.app.state
    if request.method == "PUT":
        try:
            cfg = await state.sites.set_offer_settings(site.key, await read_json(request), site.offer)
        except SettingsError as exc:
            raise HTTPError(400, "the offer settings are not valid", errors=errors_json(exc.errors)) from None
        await state.broker.run(site.key)
        return JSONResponse(cfg.as_json())
    return JSONResponse(site.offer.as_json())


async def availability(request: Request) -> Response:
    """What the broker sees: capacity, slots in use, the estimated wait, learned timings."""
    site = await site_or_404(request)
    redis = request.app.state.redis
    now = int(time.time() * 1000)
    reps = await redis.zrangebyscore(keys.presence(site.key), now - PRESENCE_TIMEOUT_S * 1000, "+inf")
    capacity = busy = 0
    for rid in reps:
        if await redis.hget(keys.rep_status(site.key), rid) == "available":
            capacity += int(await redis.hget(keys.capacity(site.key), rid) or 0)
            busy += int(await redis.hget(keys.load(site.key), rid) or 0)
    offers = await redis.zcard(keys.offers(site.key))
    pending = await redis.zcard(keys.requests(site.key))
    timings = await request.app.state.broker.timings(site.key, site.offer)
    in_use = busy + offers + pending
    return JSONResponse({
        "capacity": capacity, "chats": busy, "offers": offers, "pending_requests": pending, "in_use": in_use,
        "estimated_wait_s": estimate_wait(capacity, in_use, timings["aht_s"]), **timings,
    })


async def chat_requests(request: Request) -> Response:
    site = await site_or_404(request)
    redis = request.app.state.redis
    ids = await redis.zrange(keys.requests(site.key), 0, 199)
    out = []
    for rid in ids:
        raw = await redis.hgetall(keys.request(site.key, rid))
        if raw:
            out.append({"id": rid, "visitor": raw["vid"], "created": int(raw["created"]), "status": raw["status"],
                        "score": float(raw["score"]), "reasons": json.loads(raw["reasons"]), "url": raw["url"]})
    return JSONResponse({"requests": out})


routes = [
    WebSocketRoute("/v1/push", push),
    Route("/v1/offers/{offer}/ui", offer_ui, methods=["GET"]),
    Route("/v1/offers/{offer}/{action:str}", respond, methods=["POST"]),
    Route("/v1/sites/{key}/offer-settings", offer_settings, methods=["GET", "PUT"]),
    Route("/v1/sites/{key}/availability", availability, methods=["GET"]),
    Route("/v1/sites/{key}/requests", chat_requests, methods=["GET"]),
]
