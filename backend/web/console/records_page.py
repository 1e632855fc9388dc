"""The site's records in the console (issue 13): per kind the count, a CSV export, and for
admins a CSV import in three steps (static/records.js): the file goes up as the raw body of a
fetch() (the console's forms are urlencoded and small) with the CSRF token in a header and is
previewed without writing; the admin confirms; the page polls the import's progress and shows
its error report. Auditors read the counts and export; they import nothing.

Import ids are looked up under the session's own site only: another site's admin who learns
one finds nothing."""

from __future__ import annotations

import functools
from typing import Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from backend.core.protocol import ID_RE
from backend.core.record_imports import REPORT_SHOWN
from backend.core.records import COLUMNS, KINDS
from backend.domain.reps import Rep
from backend.web.console.auth import NotLoggedIn, check_csrf, current_rep
from backend.web.console.web import AUDITORS_READ, EXPIRED, Ctx, error_page, page, render, security_headers
from backend.web.http import HTTPError, read_body, services
from backend.web.records_api import CSV_MAX_BYTES

TOO_LARGE = f"The file is too large: at most 4 MiB ({CSV_MAX_BYTES:,} bytes). Split it and import each part."
CSV_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


def _json(request: Request, status: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=security_headers(request))


def admin_json(fn: Callable[[Request, Rep], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """The page's own fetch() calls: an admin of the session's site, the CSRF token in the
    X-CSRF-Token header on a POST (a cross-site form cannot set a header); errors as JSON."""

    @functools.wraps(fn)
    async def endpoint(request: Request) -> Response:
        try:
            rep = await current_rep(request)
        except NotLoggedIn:
            return _json(request, 401, {"error": "please log in"})
        if not rep.is_admin:
            return _json(request, 403, {"error": AUDITORS_READ if rep.is_auditor else
                                        "Importing records is for the site's administrators."})
        if request.method == "POST" and not check_csrf(request, request.headers.get("x-csrf-token")):
            return _json(request, 403, {"error": EXPIRED})
        try:
            return await fn(request, rep)
        except HTTPError as exc:
            return _json(request, exc.status, {"error": exc.message, **exc.extra})

    return endpoint


def _kind(request: Request) -> str:
    kind = request.path_params["kind"]
    if kind not in KINDS:
        raise HTTPError(404, "no such kind of record; known: " + ", ".join(KINDS))
    return kind


def _import_id(request: Request) -> str:
    iid = request.path_params["iid"]
    if not ID_RE.fullmatch(iid):
        raise HTTPError(404, "no such import")
    return iid


@page(admin=True, reads=True)
async def records_home(request: Request, ctx: Ctx) -> Response:
    svc = services(request)
    counts = {kind: await svc.records.count(ctx.site.key, kind) for kind in KINDS}
    shared = await svc.records.scope(ctx.site.key) != ctx.site.key
    enterprise = await svc.enterprises.get(ctx.site.enterprise) if shared and ctx.site.enterprise else None
    return render(request, "admin_records.html", {
        "rep": ctx.rep, "site": ctx.site, "nav": "records", "kinds": KINDS, "counts": counts, "columns": COLUMNS,
        "max_bytes": CSV_MAX_BYTES, "shared_by": enterprise.name if enterprise else ""})


@page(admin=True, reads=True)
async def export(request: Request, ctx: Ctx) -> Response:
    try:
        kind = _kind(request)
    except HTTPError as exc:
        return error_page(request, 404, exc.message, ctx.rep)
    return StreamingResponse(services(request).records.export_csv(ctx.site.key, kind),
                             media_type="text/csv; charset=utf-8",
                             headers={**security_headers(request), **CSV_HEADERS,
                                      "Content-Disposition": f'attachment; filename="{kind}.csv"'})


@admin_json
async def preview(request: Request, rep: Rep) -> Response:
    """The file read and checked, nothing written; kept for the confirmation when it can be
    imported (``import`` in the answer)."""
    kind = _kind(request)
    try:
        raw = await read_body(request, CSV_MAX_BYTES)
    except HTTPError as exc:
        raise HTTPError(413, TOO_LARGE) if exc.status == 413 else exc from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = (f"The file is not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}). "
                   "Save it as 'CSV UTF-8' and upload it again.")
        return _json(request, 400, {"error": message, "problems": [{"path": "", "message": message}]})
    iid, found = await services(request).record_imports.preview(rep.site, rep.id, kind, text)
    if found.problems:
        return _json(request, 400, {"error": "The file cannot be imported.", **found.as_json()})
    return _json(request, 200, {"import": iid, **found.as_json()})


@admin_json
async def confirm(request: Request, rep: Rep) -> Response:
    iid = _import_id(request)
    imports = services(request).record_imports
    started = await imports.start(rep.site, rep.id, iid)
    if started is None:
        raise HTTPError(404, "This preview has expired or was replaced by another; upload the file again.")
    return _json(request, 202, started.as_json(imports.now_ms()))


@admin_json
async def progress(request: Request, rep: Rep) -> Response:
    """The import's progress; once finished, its first error rows (all of them in the file)."""
    iid = _import_id(request)
    imports = services(request).record_imports
    found = await imports.progress(rep.site, iid)
    if found is None:
        raise HTTPError(404, "no such import (an import's report is kept for an hour)")
    body = found.as_json(imports.now_ms())
    if found.finished:
        report = await imports.report(rep.site, iid) or []
        body.update(report=report[:REPORT_SHOWN], report_total=len(report),
                    error_file=f"/console/admin/records/imports/{iid}/errors.csv")
    return _json(request, 200, body)


@admin_json
async def error_file(request: Request, rep: Rep) -> Response:
    iid = _import_id(request)
    text = await services(request).record_imports.error_file(rep.site, iid)
    if text is None:
        raise HTTPError(404, "no such finished import (an import's report is kept for an hour)")
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={**security_headers(request), **CSV_HEADERS,
                             "Content-Disposition": 'attachment; filename="import-errors.csv"'})
