"""The public page where someone applies to represent a site: no login, a CSRF token in the
form as on the login page, a throttle per address and site on valid forms, and a honeypot field. Every
error is shown beside its field with what was typed; a known address gets the same thanks
as a new one."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from backend.core.protocol import ID_RE
from backend.core.rep_profile import split_list
from backend.domain.applications import Admins, ApplicationError, TooMany
from backend.domain.sites import Site
from backend.web.console import profile_form
from backend.web.console.auth import check_csrf, client_ip
from backend.web.console.web import EXPIRED, Form, error_page, read_form, render
from backend.web.http import services

HONEYPOT = "website"  # hidden from people; a bot filling every field gives itself away
ACCOUNT_TEXT = ["name", "email"]


def form_data(form: Form) -> dict[str, object]:
    """The form's fields in the API's shape (the domain validates them as it does a rep's)."""
    data: dict[str, object] = {name: form.get(name) for name in ("name", "email", "password")}
    for name in ("languages", "products", "areas"):
        data[name] = split_list(form.get(name))
    return {**data, **profile_form.own_part(form)}


async def _site(request: Request) -> Site | None:
    key = request.path_params["site"]
    return await services(request).sites.get(key) if ID_RE.match(key) else None


def _page(request: Request, site: Site, status: int = 200, typed: dict[str, Any] | None = None,
          errors: profile_form.Errors | None = None, message: str = "", done: bool = False) -> Response:
    return render(request, "join.html", {
        "rep": None, "site": site, "v": typed or {"alert_console": True, "alert_email": True},
        "errs": errors or {}, "days": profile_form.DAY_NAMES, "message": message, "done": done,
    }, status=status)


async def join_form(request: Request) -> Response:
    site = await _site(request)
    if site is None:
        return error_page(request, 404, "No such site.")
    return _page(request, site)


async def join(request: Request) -> Response:
    site = await _site(request)
    if site is None:
        return error_page(request, 404, "No such site.")
    form = await read_form(request)
    typed = {**profile_form.typed(form), **{name: form.get(name) for name in ACCOUNT_TEXT},
             "languages": form.get("languages"), "products": form.get("products"), "areas": form.get("areas")}
    if not check_csrf(request, form.get("csrf")):
        return _page(request, site, 403, typed, message=EXPIRED)
    if form.get(HONEYPOT):
        return _page(request, site, done=True)
    svc = services(request)
    admins = Admins(site.name, tuple(r.email for r in await svc.reps.list(site.key) if r.is_admin and r.active))
    try:
        await svc.applications.apply(site.key, form_data(form), admins, client_ip(request))
    except ApplicationError as exc:
        return _page(request, site, 400, typed, profile_form.collect(exc.errors))
    except TooMany as exc:
        return _page(request, site, 429, typed,
                     message=f"Too many applications from here. Try again in {max(1, round(exc.retry_s / 60))} minutes.")
    return _page(request, site, done=True)
