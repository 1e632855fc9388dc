"""The site owner's webhooks page (admins; auditors read): endpoints (add, choose events,
pause, remove, rotate the secret, shown once), and the delivery log with a Resend button on
each failed delivery (domain/webhooks.py)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from backend.core.webhooks import EVENTS
from backend.domain.webhooks import WebhookError
from backend.web.console.web import Ctx, Form, error_page, page, redirect, render
from backend.web.http import services

LOG_SHOWN = 200
HOME = "/console/admin/webhooks"


def endpoint_data(form: Form, with_url: bool) -> dict[str, Any]:
    """A form's fields as the API's JSON: events as checkboxes, ``active`` as one."""
    data: dict[str, Any] = {"events": form.getlist("events"), "active": form.get("active") == "1",
                            "description": form.get("description")}
    if with_url:
        data["url"] = form.get("url")
    return data


async def webhooks_page(request: Request, ctx: Ctx, status: int = 200, **override: Any) -> Response:
    hooks = services(request).webhooks
    endpoints = await hooks.endpoints(ctx.site.key)
    context: dict[str, Any] = {
        "rep": ctx.rep, "site": ctx.site, "nav": "webhooks", "events": EVENTS,
        "endpoints": [e.public() for e in endpoints], "urls": {e.id: e.url for e in endpoints},
        "deliveries": await hooks.deliveries(ctx.site.key, LOG_SHOWN), "new": {"url": "", "events": [],
                                                                             "description": ""},
        "errors": [], "secret": None, "flash": {"resent": "The event is queued to be delivered again, with its id.",
                                                "saved": "Saved.", "removed": "Endpoint removed."}.get(
            request.query_params.get("done", ""), ""),
    }
    shown = await services(request).reveals.take(ctx.site.key, ctx.rep.id, request.query_params.get("shown", ""))
    if shown:  # the secret just made, once (domain/reveals.py)
        context["secret"] = shown
    context.update(override)
    return render(request, "admin_webhooks.html", context, status=status)


async def show_once(request: Request, ctx: Ctx, endpoint: str, secret: str) -> Response:
    """Redirect to the page, which shows the new secret once: a reload posts nothing again."""
    token = await services(request).reveals.put(ctx.site.key, ctx.rep.id, {"id": endpoint, "value": secret})
    return redirect(request, f"{HOME}?shown={token}")


@page(admin=True, reads=True)
async def webhooks_home(request: Request, ctx: Ctx) -> Response:
    return await webhooks_page(request, ctx)


@page(admin=True)
async def webhook_create(request: Request, ctx: Ctx) -> Response:
    data = endpoint_data(ctx.form, True)
    data["active"] = True
    try:
        done = await services(request).webhooks.create(ctx.site.key, data)
    except WebhookError as exc:
        return await webhooks_page(request, ctx, 400, new=data, errors=[f"{p}: {m}" if p else m for p, m in exc.errors])
    return await show_once(request, ctx, done.endpoint.id, done.secret)


@page(admin=True)
async def webhook_update(request: Request, ctx: Ctx) -> Response:
    try:
        found = await services(request).webhooks.update(ctx.site.key, request.path_params["wid"],
                                                        endpoint_data(ctx.form, False))
    except WebhookError as exc:
        return await webhooks_page(request, ctx, 400, errors=[f"{p}: {m}" if p else m for p, m in exc.errors])
    if found is None:
        return error_page(request, 404, "No such webhook endpoint on this site.", ctx.rep)
    return redirect(request, HOME + "?done=saved")


@page(admin=True)
async def webhook_delete(request: Request, ctx: Ctx) -> Response:
    if not await services(request).webhooks.delete(ctx.site.key, request.path_params["wid"]):
        return error_page(request, 404, "No such webhook endpoint on this site.", ctx.rep)
    return redirect(request, HOME + "?done=removed")


@page(admin=True)
async def webhook_rotate(request: Request, ctx: Ctx) -> Response:
    done = await services(request).webhooks.rotate(ctx.site.key, request.path_params["wid"])
    if done is None:
        return error_page(request, 404, "No such webhook endpoint on this site.", ctx.rep)
    return await show_once(request, ctx, done.endpoint.id, done.secret)


@page(admin=True)
async def webhook_resend(request: Request, ctx: Ctx) -> Response:
    problem = await services(request).webhooks.resend(ctx.site.key, ctx.form.get("event"), ctx.form.get("endpoint"))
    if problem:
        return error_page(request, 404, f"Cannot resend: {problem}.", ctx.rep)
    return redirect(request, HOME + "?done=resent")
