"""The representative's pages: login, logout, the workspace and a visitor's chat history."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from backend.core.protocol import ID_RE
from backend.core.scoring import RULE_LABELS
from backend.web.console.auth import (
    NotLoggedIn, check_csrf, client_ip, current_rep, end_session, safe_next, start_session,
)
from backend.web.http import services
from backend.web.console.web import EXPIRED, Ctx, error_page, page, read_form, redirect, render

EMAIL_MAX = 254
PASSWORD_MAX = 200
QUERY_MAX = 200


async def login_form(request: Request) -> Response:
    try:
        await current_rep(request)
        return redirect(request, safe_next(request.query_params.get("next")))
    except NotLoggedIn:
        pass
    target = safe_next(request.query_params.get("next"))
    return render(request, "login.html", {"email": "", "error": "", "next": target, "choices": []})


async def login(request: Request) -> Response:
    form = await read_form(request)
    email = form.get("email").strip()[:EMAIL_MAX]
    password = form.get("password")[:PASSWORD_MAX + 1]
    target = safe_next(form.get("next"))
    chosen = form.get("site") or None
    svc = services(request)

    def again(error: str, status: int, choices: list[tuple[str, str]] | None = None) -> Response:
        return render(request, "login.html", {"email": email, "error": error, "next": target,
                                              "choices": choices or []}, status=status)

    if not check_csrf(request, form.get("csrf")):
        return again("The login form had expired. Please try again.", 403)
    if not email or not password:
        return again("Please give your e-mail address and password.", 400)
    throttle, ip = services(request).logins, client_ip(request)
    verdict = await throttle.attempt(email, ip)
    if not verdict.allowed:
        return again(f"Too many failed attempts. Try again in {max(1, round(verdict.retry_s / 60))} minutes.", 429)
    await asyncio.sleep(verdict.delay_s)  # this account is being guessed at: every try waits
    outcome = await svc.reps.login(email, password, chosen) if len(password) <= PASSWORD_MAX else None
    if outcome and outcome.choices:
        sites = [await svc.sites.get(key) for key in outcome.choices]
        return again("This e-mail has accounts on several sites. Which one?", 409,
                     [(s.key, s.name) for s in sites if s])
    if outcome is None or outcome.rep is None:
        return again("Wrong e-mail address or password (or the account is deactivated).", 401)
    await throttle.succeeded(email, ip)
    await start_session(request, outcome.rep)
    return redirect(request, target)


async def logout(request: Request) -> Response:
    form = await read_form(request)
    if not check_csrf(request, form.get("csrf")):
        return error_page(request, 403, EXPIRED)
    try:
        rep = await current_rep(request)
        await services(request).reps.sign_off(rep.site, rep.id)  # leaving: no more offers on their account
    except NotLoggedIn:
        pass
    await end_session(request)  # the cookie, if kept, opens nothing any more
    return redirect(request, "/console/login")


@page()
async def workspace(request: Request, ctx: Ctx) -> Response:
    return render(request, "workspace.html", {"rep": ctx.rep, "site": ctx.site, "nav": "workspace",
                                              "rule_labels": RULE_LABELS})


@page()
async def visitor_history(request: Request, ctx: Ctx) -> Response:
    vid = request.path_params["vid"]
    if not ID_RE.match(vid):
        return error_page(request, 404, "No such visitor.", ctx.rep)
    query = request.query_params.get("q", "")[:QUERY_MAX]
    svc = services(request)
    chats = await svc.chats.of_visitor(ctx.site.key, vid, query)
    detail = await svc.visitors.detail(ctx.site.key, vid)
    if not chats and detail is None and not query:
        return error_page(request, 404, "No chats or recent visit for this visitor.", ctx.rep)
    return render(request, "visitor.html", {
        "rep": ctx.rep, "site": ctx.site, "vid": vid, "q": query, "chats": chats, "detail": detail,
        "nav": "",
    })
