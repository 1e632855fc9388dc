"""The admin's pages for applications to represent the site: the list (by status) and one
application, where the admin records the background check and approves or rejects it with
a note. The site is the admin's own (from the session): another site's application is a 404."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from backend.core.applications import CHECK_LABELS, STATUSES, Application
from backend.core.protocol import ID_RE
from backend.domain.applications import ApplicationError
from backend.web.console import profile_form
from backend.web.console.admin import collect
from backend.web.console.web import Ctx, error_page, page, redirect, render
from backend.web.http import services

NOT_FOUND = "No such application."


@page(admin=True)
async def applications_list(request: Request, ctx: Ctx) -> Response:
    status = request.query_params.get("status", "pending")
    chosen = status if status in STATUSES else None
    apps = await services(request).applications.list(ctx.site.key, chosen)
    return render(request, "admin_applications.html", {
        "rep": ctx.rep, "site": ctx.site, "nav": "applications", "apps": apps,
        "status": chosen or "all", "statuses": STATUSES})


def _detail(request: Request, ctx: Ctx, app: Application, status: int = 200, typed: dict[str, Any] | None = None,
            errors: dict[str, list[str]] | None = None) -> Response:
    values = {"check_status": app.check.status, "check_date": app.check.date, "check_note": app.check.note,
              "note": "", "decision": ""}
    return render(request, "admin_application.html", {
        "rep": ctx.rep, "site": ctx.site, "nav": "applications", "app": app, "v": {**values, **(typed or {})},
        "errs": errors or {}, "check_labels": CHECK_LABELS, "days": profile_form.DAY_NAMES,
        "saved": request.query_params.get("saved", "")}, status=status)


async def _app(request: Request, ctx: Ctx) -> Application | None:
    aid = request.path_params["aid"]
    return await services(request).applications.get(ctx.site.key, aid) if ID_RE.match(aid) else None


@page(admin=True)
async def application_detail(request: Request, ctx: Ctx) -> Response:
    app = await _app(request, ctx)
    return error_page(request, 404, NOT_FOUND, ctx.rep) if app is None else _detail(request, ctx, app)


@page(admin=True)
async def application_check(request: Request, ctx: Ctx) -> Response:
    app = await _app(request, ctx)
    if app is None:
        return error_page(request, 404, NOT_FOUND, ctx.rep)
    f = ctx.form
    try:
        await services(request).applications.record_check(ctx.site.key, app.id, f.get("check_status"),
                                                          f.get("check_date"), f.get("check_note"))
    except ApplicationError as exc:
        typed = {name: f.get(name) for name in ("check_status", "check_date", "check_note")}
        return _detail(request, ctx, app, 400, typed, collect(exc.errors))
    return redirect(request, f"/console/admin/applications/{app.id}?saved=check")


@page(admin=True)
async def application_decide(request: Request, ctx: Ctx) -> Response:
    app = await _app(request, ctx)
    if app is None:
        return error_page(request, 404, NOT_FOUND, ctx.rep)
    f = ctx.form
    try:
        await services(request).applications.decide(ctx.site.key, ctx.site.name, app.id, f.get("decision"),
                                                    f.get("note"), ctx.rep.id)
    except ApplicationError as exc:
        typed = {"note": f.get("note"), "decision": f.get("decision")}
        now = await services(request).applications.get(ctx.site.key, app.id) or app  # as decided meanwhile
        return _detail(request, ctx, now, 409 if now.status != "pending" else 400, typed, collect(exc.errors))
    return redirect(request, f"/console/admin/applications/{app.id}?saved=decision")
