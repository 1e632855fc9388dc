"""The customer's contact form, as pages call it (``f.js``): each a text/plain POST
``{site, vid, tok, ...}`` checked like the offer's calls (``offer_ui.visitor_call``).

- ``/v1/contact/ui``: the widget's form, rendered without any customer data;
- ``/v1/contact/prefill``: its starting values and the product of the page (ContactForms.prefill);
- ``/v1/contact``: the widget's form sent (``fields``; ``offer``: the "leave a message" it answers);
- ``/v1/contact/form``: a site's own form marked ``data-beckon-form="contact"``, sent by the snippet.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.domain.contact_form import TooMany
from backend.domain.leads import LeadError
from backend.web.http import HTTPError, cors_headers, errors_json
from backend.web.offer_ui import OFFER_ID_RE, offer_css, too_many, visitor_call, widgets


async def ui(request: Request) -> Response:
    _, site, _, origin = await visitor_call(request)
    html = widgets.get_template("contact.html").render(cfg=site.offer, site_name=site.name)
    return JSONResponse({"html": html, "css": offer_css()}, headers=cors_headers(origin))


async def prefill(request: Request) -> Response:
    svc, site, data, origin = await visitor_call(request)
    found = await svc.contacts.prefill(site, data["vid"])
    return JSONResponse(found.as_json(), headers=cors_headers(origin))


async def _submit(request: Request, source: str) -> Response:
    svc, site, data, origin = await visitor_call(request)
    cors = cors_headers(origin)
    offer = data.get("offer", "") if source == "widget" else ""
    if not isinstance(offer, str) or offer and not OFFER_ID_RE.match(offer):
        raise HTTPError(400, "'offer' must be the id of the offer this form answers", headers=cors, field="offer")
    try:
        sent = await svc.contacts.submit(site, data["vid"], data.get("fields"), source, offer)
    except LeadError as exc:
        raise HTTPError(400, "please check the form", headers=cors, errors=errors_json(exc.errors)) from None
    except TooMany as exc:
        raise too_many(exc, cors) from None
    return JSONResponse(sent.as_json(), status_code=201, headers=cors)


async def submit(request: Request) -> Response:
    return await _submit(request, "widget")


async def marked_form(request: Request) -> Response:
    return await _submit(request, "form")


routes: list[Any] = [
    Route("/v1/contact/ui", ui, methods=["POST"]),
    Route("/v1/contact/prefill", prefill, methods=["POST"]),
    Route("/v1/contact/form", marked_form, methods=["POST"]),
    Route("/v1/contact", submit, methods=["POST"]),
]
