"""A representative's own profile page: they see their whole profile and set their own
weekly hours and alert preferences (the rest is the admin's)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from backend.domain.reps import RepError
from backend.web.console import profile_form
from backend.web.console.web import Ctx, page, redirect, render
from backend.web.http import services


def _page(request: Request, ctx: Ctx, status: int = 200, typed: dict[str, Any] | None = None,
          errors: profile_form.Errors | None = None) -> Response:
    return render(request, "profile.html", {
        "rep": ctx.rep, "site": ctx.site, "nav": "profile", "v": typed or profile_form.values(ctx.rep.profile),
        "errs": errors or {}, "days": profile_form.DAY_NAMES, "saved": request.query_params.get("saved", ""),
    }, status=status)


@page()
async def own_profile(request: Request, ctx: Ctx) -> Response:
    return _page(request, ctx)


@page()
async def save_own_profile(request: Request, ctx: Ctx) -> Response:
    try:
        await services(request).reps.update(ctx.site.key, ctx.rep.id, profile_form.own_part(ctx.form))
    except RepError as exc:
        return _page(request, ctx, 400, profile_form.typed(ctx.form), profile_form.collect(exc.errors))
    return redirect(request, "/console/profile?saved=1")
