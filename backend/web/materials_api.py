"""The materials library over the site API (``/v1/sites/KEY/materials``, the site's key or the
operator token, as the other site endpoints): replies, links and documents with their context
tags, every error listed; a document's file is the raw body of
``PUT .../materials/ID/document?filename=NAME`` with its Content-Type (no multipart), and
comes back from ``GET`` on the same path as a download."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.core.protocol import ID_RE
from backend.domain.materials import MaterialError, Refused, TooLarge
from backend.web.http import HTTPError, errors_json, read_json, services
from backend.web.media import body_chunks, declared_size, download, upload_error
from backend.web.site_api import site_or_404

MATERIAL_MAX_BYTES = 64 * 1024
NOT_FOUND = "no such material"


def invalid(exc: MaterialError) -> HTTPError:
    return HTTPError(400, "the material is not valid", errors=errors_json(exc.errors))


def _mid(request: Request) -> str:
    value = request.path_params["mid"]
    return value if ID_RE.fullmatch(value) else ""


async def collection(request: Request) -> Response:
    """GET: the active materials (``?status=archived``, ``proposed`` (practices awaiting review) or
    ``all``); POST: a new one (not a practice: that is marked from a chat in the console)."""
    site = await site_or_404(request)
    service = services(request).materials
    if request.method == "POST":
        try:
            made = await service.create(site.key, await read_json(request, MATERIAL_MAX_BYTES), "api")
        except MaterialError as exc:
            raise invalid(exc) from None
        return JSONResponse(made.as_json(), status_code=201)
    status = request.query_params.get("status", "active")
    if status not in ("active", "archived", "proposed", "all"):
        raise HTTPError(400, "'status' must be active, archived, proposed or all")
    return JSONResponse({"materials": [m.as_json() for m in await service.list(site.key, status)]})


async def detail(request: Request) -> Response:
    """GET one; PUT the fields to change; DELETE archives it (kept for the chats that used it)."""
    site = await site_or_404(request)
    service = services(request).materials
    mid = _mid(request)
    try:
        if not mid:
            found = None
        elif request.method == "PUT":
            found = await service.update(site.key, mid, await read_json(request, MATERIAL_MAX_BYTES))
        elif request.method == "DELETE":
            found = await service.archive(site.key, mid)
        else:
            found = await service.get(site.key, mid)
    except MaterialError as exc:
        raise invalid(exc) from None
    if found is None:
        raise HTTPError(404, NOT_FOUND)
    return JSONResponse(found.as_json())


async def document(request: Request) -> Response:
    """PUT: the raw body is the file (``?filename=``, Content-Type); GET: the file."""
    site = await site_or_404(request)
    service = services(request).materials
    mid = _mid(request)
    if request.method == "GET":
        opened = await service.open(site.key, mid) if mid else None
        if opened is None:
            raise HTTPError(404, "no such document")
        return download(opened)
    declared_size(request, service.media.max_bytes)
    if not mid or await service.get(site.key, mid) is None:
        raise HTTPError(404, NOT_FOUND)
    try:
        found = await service.attach(site.key, mid, body_chunks(request), request.query_params.get("filename", ""),
                                     request.headers.get("content-type", ""))
    except (TooLarge, Refused, MaterialError) as exc:
        raise upload_error(exc) from None
    if found is None:
        raise HTTPError(404, NOT_FOUND)
    return JSONResponse(found.as_json())


routes = [
    Route("/v1/sites/{key}/materials", collection, methods=["GET", "POST"]),
    Route("/v1/sites/{key}/materials/{mid}", detail, methods=["GET", "PUT", "DELETE"]),
    Route("/v1/sites/{key}/materials/{mid}/document", document, methods=["GET", "PUT"]),
]
