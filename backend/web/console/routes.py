"""The representative's pages: login, logout, the workspace (every site the person serves),
the current site's switch, and a visitor's chat history."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from backend.core.protocol import ID_RE
from backend.core.scoring import RULE_LABELS
from backend.web.console.auth import (
    NotLoggedIn, check_csrf, client_ip, current_rep, current_reps, end_session, member, safe_next, start_session,
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
    return render(request, "login.html", {"email": "", "error": "", "next": target})


async def login(request: Request) -> Response:
    form = await read_form(request)
    email = form.get("email").strip()[:EMAIL_MAX]
    password = form.get("password")[:PASSWORD_MAX + 1]
    target = safe_next(form.get("next"))
    svc = services(request)

    def again(error: str, status: int) -> Response:
        return render(request, "login.html", {"email": email, "error": error, "next": target}, status=status)

    if not check_csrf(request, form.get("csrf")):
        return again("The login form had expired. Please try again.", 403)
    if not email or not password:
        return again("Please give your e-mail address and password.", 400)
    throttle, ip = services(request).logins, client_ip(request)
    verdict = await throttle.attempt(email, ip)
    if not verdict.allowed:
        return again(f"Too many failed attempts. Try again in {max(1, round(verdict.retry_s / 60))} minutes.", 429)
    await asyncio.sleep(verdict.delay_s)  # this account is being guessed at: every try waits
    outcome = await svc.reps.login(email, password) if len(password) <= PASSWORD_MAX else None
    if outcome is None or not outcome.reps:
        return again("Wrong e-mail address or password (or the account is deactivated).", 401)
    await throttle.succeeded(email, ip)
    await start_session(request, outcome.reps)  # every site this password opens, in one session
    return redirect(request, target)


async def logout(request: Request) -> Response:
    form = await read_form(request)
    if not check_csrf(request, form.get("csrf")):
        return error_page(request, 403, EXPIRED)
    try:
        for rep in await current_reps(request):
            await services(request).reps.sign_off(rep.site, rep.id)  # leaving: no more offers on their accounts
    except NotLoggedIn:
        pass
    await end_session(request)  # the cookie, if kept, opens nothing any more
    return redirect(request, "/console/login")


@page()
async def workspace(request: Request, ctx: Ctx) -> Response:
    """The requests and chats of every site the session serves, each labelled with its site."""
    svc = services(request)
    serving = []
    for rep in await current_reps(request):
        site = await svc.sites.get(rep.site)
        if site is not None:
            serving.append({"key": site.key, "name": site.name, "rep": rep.id})
    return render(request, "workspace.html", {"rep": ctx.rep, "site": ctx.site, "nav": "workspace",
                                              "rule_labels": RULE_LABELS, "serving": serving})


@page()
async def switch_site(request: Request, ctx: Ctx) -> Response:
    """Make another of the session's sites the current one (admin pages, profile)."""
    chosen = await member(request, ctx.form.get("site"))
    if chosen is None:
        return error_page(request, 404, "You do not serve that site.", ctx.rep)
    request.session["site"] = chosen.site
    return redirect(request, safe_next(ctx.form.get("next")) if chosen.is_admin else "/console/")


@page()
async def visitor_history(request: Request, ctx: Ctx) -> Response:
    vid = request.path_params["vid"]
    if not ID_RE.match(vid):
        return error_page(request, 404, "No such visitor.", ctx.rep)
    query = request.query_params.get("q", "")[:QUERY_MAX]
    svc = services(request)
    asked = request.query_params.get("site")  # a chat of another of the session's sites
    if asked and asked != ctx.site.key:
        rep = await member(request, asked)
        site = await svc.sites.get(asked) if rep else None
        if rep is None or site is None:
            return error_page(request, 404, "No such visitor.", ctx.rep)
        ctx = Ctx(rep, site, ctx.form)
    chats = await svc.chats.of_visitor(ctx.site.key, vid, query)
    detail = await svc.visitors.detail(ctx.site.key, vid)
    if not chats and detail is None and not query:
        return error_page(request, 404, "No chats or recent visit for this visitor.", ctx.rep)
    return render(request, "visitor.html", {
        "rep": ctx.rep, "site": ctx.site, "vid": vid, "q": query, "chats": chats, "detail": detail,
        "nav": "",
    })
