"""The materials library in the console, for representatives and admins alike (the issue:
documents are uploaded by both): the site's replies, links and documents with their tags, a
form for each kind, downloads, and for admins archiving. A document's file goes up as the raw
body of a fetch() from static/materials.js (the console's forms are urlencoded and small), with
the CSRF token in a header; downloads are for the logged-in people of the material's site only.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.core import materials as core
from backend.core.protocol import ID_RE
from backend.domain.materials import MaterialError, Refused, TooLarge
from backend.web.console.auth import NotLoggedIn, check_csrf, current_rep, member
from backend.web.console.web import AUDITORS_READ, Ctx, Form, error_page, page, redirect, render, security_headers
from backend.web.http import HTTPError, errors_json, services
from backend.web.media import body_chunks, declared_size, download, upload_error

TEXTS = ("kind", "title", "text", "url")
FIELD_MAX = 20_000  # of one form field, before validation says what the limit is


def tags_of(values: Any) -> dict[str, list[str]]:
    """Comma-separated tags as typed (``values.get``: a form or query parameters)."""
    out: dict[str, list[str]] = {}
    for name in core.TAG_FIELDS:
        typed = values.get(name, "")[:FIELD_MAX]
        out[name] = [t.strip() for t in typed.split(",") if t.strip()][:core.TAGS_MAX + 1]
    return out


def data_of(values: Any, kind: str) -> dict[str, Any]:
    data: dict[str, Any] = {name: values.get(name, "")[:FIELD_MAX] for name in ("title", "text", "url")}
    data["kind"] = kind
    data["tags"] = tags_of(values)
    if kind != "link":
        data.pop("url")
    return data


def by_field(errors: list[tuple[str, str]]) -> dict[str, list[str]]:
    """(path, message) grouped by the form field it belongs to: tags.products[2] -> products."""
    out: dict[str, list[str]] = {}
    for path, message in errors:
        name = path.split("[")[0]
        name = name.removeprefix("tags.")
        out.setdefault(name, []).append(f"{path}: {message}" if path != name and path else message)
    return out


def _page(request: Request, ctx: Ctx, status: int = 200, kind: str = "", typed: dict[str, str] | None = None,
          errors: dict[str, list[str]] | None = None, materials: list[core.Material] | None = None) -> Response:
    return render(request, "materials.html", {
        "rep": ctx.rep, "site": ctx.site, "nav": "materials", "materials": materials or [], "kind": kind,
        "v": typed or {}, "errs": errors or {}, "saved": request.query_params.get("saved", "")[:20],
        "reasons": core.RULE_NAMES, "placeholders": core.PLACEHOLDERS, "types": sorted(core.TYPES)},
        status=status)


@page()
async def library(request: Request, ctx: Ctx) -> Response:
    return _page(request, ctx, materials=await services(request).materials.list(ctx.site.key))


@page()
async def create(request: Request, ctx: Ctx) -> Response:
    """A reply or a link from the form (a document comes through ``upload``)."""
    form: Form = ctx.form
    kind = form.get("kind") if form.get("kind") in ("reply", "link") else ""
    service = services(request).materials
    try:
        if not kind:
            raise MaterialError([("kind", "must be reply or link here; upload a document with its own form")])
        made = await service.create(ctx.site.key, data_of(form, kind), ctx.rep.id)
    except MaterialError as exc:
        typed = {name: form.get(name)[:FIELD_MAX] for name in (*TEXTS, *core.TAG_FIELDS)}
        return _page(request, ctx, 400, kind, typed, by_field(exc.errors), await service.list(ctx.site.key))
    return redirect(request, f"/console/materials?saved={made.id}")


@page(admin=True)
async def archive(request: Request, ctx: Ctx) -> Response:
    mid = request.path_params["mid"]
    if not ID_RE.fullmatch(mid) or await services(request).materials.archive(ctx.site.key, mid, ctx.rep.id) is None:
        return error_page(request, 404, "No such material.", ctx.rep)
    return redirect(request, "/console/materials?saved=archived")


def _json(status: int, body: dict[str, Any], request: Request) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=security_headers(request))


async def upload(request: Request) -> Response:
    """A new document material: its fields in the query, the file as the raw body (the
    Content-Type the browser gave it; ``filename``), the CSRF token in X-CSRF-Token. JSON:
    the material, or every error by field."""
    try:
        rep = await current_rep(request)
    except NotLoggedIn:
        return _json(401, {"error": "please log in"}, request)
    if rep.is_auditor:
        return _json(403, {"error": AUDITORS_READ}, request)
    if not check_csrf(request, request.headers.get("x-csrf-token")):
        return _json(403, {"error": "This form has expired. Reload the page and try again."}, request)
    service = services(request).materials
    query = request.query_params
    try:
        declared_size(request, service.media.max_bytes)
        made = await service.create(rep.site, data_of(query, "document"), rep.id)
    except MaterialError as exc:
        return _json(400, {"error": "the material is not valid", "errors": errors_json(exc.errors)}, request)
    except HTTPError as exc:
        return _json(exc.status, {"error": exc.message}, request)
    try:
        found = await service.attach(rep.site, made.id, body_chunks(request), query.get("filename", ""),
                                     request.headers.get("content-type", ""))
    except (TooLarge, Refused, MaterialError, HTTPError) as exc:
        await service.discard(rep.site, made.id)
        error = exc if isinstance(exc, HTTPError) else upload_error(exc)
        return _json(error.status, {"error": error.message, **error.extra}, request)
    return _json(201, found.as_json() if found else made.as_json(), request)


async def media(request: Request) -> Response:
    """A document of ``site`` for a logged-in person of that site; to anyone else, as if there
    were none (another site's rep cannot tell a document exists)."""
    site, mid = request.path_params["site"], request.path_params["mid"]
    if not (ID_RE.fullmatch(site) and ID_RE.fullmatch(mid)):
        return _json(404, {"error": "no such document"}, request)
    try:
        await current_rep(request)
    except NotLoggedIn:
        return _json(401, {"error": "please log in"}, request)
    rep = await member(request, site)
    opened = await services(request).materials.open(site, mid) if rep and not rep.is_auditor else None
    if opened is None:
        return _json(404, {"error": "no such document"}, request)
    return download(opened)
