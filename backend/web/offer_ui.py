"""The offer as the customer meets it: its server-rendered UI, and the customer's answer
(accept, dismiss, or leave a message). Called by ``o.js`` from the site's pages."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.core.validation import EMAIL_RE
from backend.domain.contact_form import TooMany
from backend.domain.offers import OfferClosed
from backend.domain.services import Services
from backend.domain.sites import Site
from backend.web.http import HTTPError, cors_headers, errors_json, read_object, services
from backend.web.visitor_auth import visitor_site

TEMPLATES = Path(__file__).resolve().parents[2] / "widget_templates"
widgets = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
OFFER_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,40}\Z")
ANSWER_MAX_BYTES = 16 * 1024
ACTIONS = ("accept", "dismiss", "message")
MESSAGE_LIMITS = (("name", 100), ("email", 254), ("message", 4000))


@functools.cache
def offer_css() -> str:
    return (TEMPLATES / "offer.css").read_text()


def offer_id(request: Request) -> str:
    oid = request.path_params["offer"]
    if not OFFER_ID_RE.match(oid):
        raise HTTPError(404, "no such offer")
    return oid


def message_fields(data: dict[str, Any], cors: dict[str, str]) -> dict[str, str]:
    """The "leave a message" form, every problem listed for the form to show."""
    fields: dict[str, str] = {}
    errors = []
    for name, limit in MESSAGE_LIMITS:
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
    return fields


def too_many(exc: TooMany, cors: dict[str, str]) -> HTTPError:
    minutes = -(-exc.retry_s // 60)
    return HTTPError(429, f"You have sent several messages already; please try again in {minutes} minute"
                     f"{'' if minutes == 1 else 's'}.", headers={**cors, "Retry-After": str(exc.retry_s)})


async def visitor_call(request: Request) -> tuple[Services, Site, dict[str, Any], str]:
    """A page's call about its offer: POST ``{site, vid, tok, ...}`` as text/plain (no
    preflight, and the token in no URL), checked for site, origin and visitor token."""
    svc = services(request)
    origin = request.headers.get("origin", "")
    data = await read_object(request, ANSWER_MAX_BYTES)
    site = await visitor_site(svc, origin, data.get("site"), data.get("vid"), data.get("tok"))
    return svc, site, data, origin


async def offer_ui(request: Request) -> Response:
    svc, site, data, origin = await visitor_call(request)
    oid = offer_id(request)
    offer = await svc.broker.current(site.key, data["vid"])
    if offer is None or offer.id != oid:
        raise HTTPError(410, "this offer is no longer open")
    template = "message.html" if offer.kind == "message" else f"{offer.variant}.html"
    html = widgets.get_template(template).render(offer=offer, cfg=site.offer, site_name=site.name)
    return JSONResponse({"html": html, "css": offer_css()}, headers=cors_headers(origin))


async def respond(request: Request) -> Response:
    svc, site, data, origin = await visitor_call(request)
    cors = cors_headers(origin)
    vid: str = data["vid"]
    oid = offer_id(request)
    action = request.path_params["action"]
    if action not in ACTIONS:
        raise HTTPError(404, "unknown action; use accept, dismiss or message", headers=cors)
    request_id = None
    try:
        if action == "message":  # a contact lead, like the contact form's
            await svc.contacts.leave_message(site, vid, oid, message_fields(data, cors))
        else:
            request_id = await svc.broker.respond(site.key, vid, oid, action, site.offer,
                                                  svc.settings.visitor_ttl_s)
    except OfferClosed:
        raise HTTPError(410, "this offer is no longer open", headers=cors) from None
    except TooMany as exc:
        raise too_many(exc, cors) from None
    if action == "accept":
        await svc.chats.announce(site.key)
    elif action == "dismiss":
        await svc.broker.run(site.key)  # a dismissed offer's slot may go to someone else
    return JSONResponse({"ok": True, **({"request": request_id} if request_id else {})}, headers=cors)


routes = [
    Route("/v1/offers/{offer}/ui", offer_ui, methods=["POST"]),
    Route("/v1/offers/{offer}/{action:str}", respond, methods=["POST"]),
]
