"""The site owner's API keys page (role admin): create a key (shown whole once), see the
keys by prefix and when each was last used, revoke one. Keys open the site's own API only."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from backend.domain.api_keys import ApiKeyError
from backend.web.console.web import Ctx, page, redirect, render
from backend.web.http import services


async def keys_page(request: Request, ctx: Ctx, status: int = 200, **override: Any) -> Response:
    context: dict[str, Any] = {
        "rep": ctx.rep, "site": ctx.site, "nav": "keys", "keys": await services(request).api_keys.of_site(ctx.site.key),
        "new_token": "", "label": "", "errors": [], "revoked": request.query_params.get("revoked", ""),
        "api_url": services(request).settings.public_url + f"/v1/sites/{ctx.site.key}",
    }
    shown = await services(request).reveals.take(ctx.site.key, ctx.rep.id, request.query_params.get("shown", ""))
    if shown:  # the key just made, once (domain/reveals.py)
        context["new_token"] = shown.get("token", "")
    context.update(override)
    return render(request, "admin_keys.html", context, status=status)


@page(admin=True)
async def keys_list(request: Request, ctx: Ctx) -> Response:
    return await keys_page(request, ctx)


@page(admin=True)
async def key_create(request: Request, ctx: Ctx) -> Response:
    label = ctx.form.get("label")
    try:
        _, token = await services(request).api_keys.create(ctx.site.key, label)
    except ApiKeyError as exc:
        return await keys_page(request, ctx, 400, label=label, errors=[str(exc)])
    # shown once, on the page this redirects to (a reload there makes no second key); the
    # key itself is stored only as its hash and cannot be shown again
    shown = await services(request).reveals.put(ctx.site.key, ctx.rep.id, {"token": token})
    return redirect(request, f"/console/admin/keys?shown={shown}")


@page(admin=True)
async def key_revoke(request: Request, ctx: Ctx) -> Response:
    await services(request).api_keys.revoke(ctx.site.key, request.path_params["kid"][:16])
    return redirect(request, "/console/admin/keys?revoked=1")
