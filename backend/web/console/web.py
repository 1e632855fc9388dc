"""What every console page shares: templates (autoescaped), strict security headers, form
parsing with a size limit, and the login / admin / CSRF gate around each handler."""

from __future__ import annotations

import functools
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from backend.core.scoring import RULE_LABELS
from backend.web.console.auth import (
    Forbidden, NotLoggedIn, check_csrf, csrf_token, current_rep, login_url, member, memberships,
)
from backend.web.http import HTTPError, read_body, services
from backend.domain.reps import Rep
from backend.domain.sites import Site

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
FORM_MAX_BYTES = 256 * 1024
FORM_MAX_FIELDS = 400
EXPIRED = "This form has expired. Reload the page and try again."

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


@functools.lru_cache(maxsize=None)
def _version(name: str) -> str:
    path = STATIC / name
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10] if path.exists() else "0"


def static_url(name: str) -> str:
    """A versioned URL, so browsers cache static files but never use a stale one."""
    return f"/console/static/{name}?v={_version(name)}"


templates.globals["static"] = static_url


def _datetime(ms: Any) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(int(ms or 0) / 1000))


def _time(ms: Any) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(int(ms or 0) / 1000))


def _measure(value: Any, unit: str) -> str:
    """A rule's value as people read it: whole seconds or minutes for times, a number else."""
    if unit == "s" and isinstance(value, (int, float)):
        seconds = round(value)
        return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60} s"
    return f"{value:g}" if isinstance(value, float) else str(value)


templates.filters["datetime"] = _datetime
templates.filters["time"] = _time
templates.filters["measure"] = _measure
templates.globals["rule_labels"] = RULE_LABELS


def security_headers(request: Request) -> dict[str, str]:
    """No inline script or style, nothing from elsewhere, never framed."""
    host = request.headers.get("host", "")
    ws = f" ws://{host} wss://{host}" if host else ""
    return {
        "Content-Security-Policy": (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self'{ws}; media-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    context.setdefault("switch", getattr(request.state, "switch", []))  # the session's sites, set by page()
    html = templates.get_template(name).render(request=request, csrf=csrf_token(request), **context)
    return HTMLResponse(html, status_code=status, headers=security_headers(request))


def redirect(request: Request, url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=security_headers(request))


def error_page(request: Request, status: int, message: str, rep: Rep | None = None) -> HTMLResponse:
    return render(request, "error.html", {"rep": rep, "status": status, "message": message}, status=status)


class Form:
    """An urlencoded form body: the first value of a field, or all of them."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        for key, value in self.pairs:
            if key == name:
                return value
        return default

    def getlist(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]

    def __contains__(self, name: str) -> bool:
        return any(key == name for key, _ in self.pairs)


async def read_form(request: Request, max_fields: int = FORM_MAX_FIELDS) -> Form:
    """Console forms are small and urlencoded; anything else is refused with a 4xx."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_body(request, FORM_MAX_BYTES)
    if ctype != "application/x-www-form-urlencoded" and (body or ctype):
        raise HTTPError(415, "send the form as application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                          max_num_fields=max_fields)
    except (UnicodeDecodeError, ValueError):
        raise HTTPError(400, "the form could not be read") from None
    return Form(pairs)


@dataclass
class Ctx:
    """What a console handler gets: who is asking, their site, and the form they sent."""

    rep: Rep
    site: Site
    form: Form


Handler = Callable[[Request, Ctx], Awaitable[Response]]


AUDITORS_READ = "An auditor's account reads the reports and changes nothing."


async def follow_site(request: Request) -> None:
    """A page opened with ``?site=KEY`` (a link from a chat of another of the session's sites)
    makes that site the current one, as the header's switch does, so its forms post there too.
    Only among the session's own live memberships; anything else is ignored."""
    asked = request.query_params.get("site") if request.method == "GET" else None
    if asked and asked != request.session.get("site") and asked in memberships(request) \
            and await member(request, asked) is not None:
        request.session["site"] = asked


def page(admin: bool = False, reports: bool = False, reads: bool = False,
         max_fields: int = FORM_MAX_FIELDS) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wraps a handler: login (and the admin role, or for ``reports`` admin or auditor)
    required, CSRF checked on every POST. An auditor reaches the reports, and reads (GET) the
    pages marked ``reads`` (best practices), and nothing else. ``max_fields``: a form of many
    rows (the territory table) may post more fields than the usual limit."""

    def wrap(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(fn)
        async def endpoint(request: Request) -> Response:
            await follow_site(request)
            try:
                rep = await current_rep(request)
                reading = reads and rep.is_auditor and request.method == "GET"
                if admin and not reading and not rep.is_admin:
                    raise Forbidden("This page is for the site's administrators.")
            except NotLoggedIn:
                if request.method in ("GET", "HEAD"):
                    return redirect(request, login_url(request))
                return JSONResponse({"error": "please log in"}, status_code=401,
                                    headers=security_headers(request))
            except Forbidden as exc:
                return error_page(request, 403, exc.message)
            if reports and not rep.sees_reports:
                return error_page(request, 403, "The reports are for the site's administrators and auditors.", rep)
            if rep.is_auditor and not reading and (not reports or request.method != "GET"):
                if request.method == "GET" and request.url.path == "/console/":
                    return redirect(request, "/console/reports")
                return error_page(request, 403, AUDITORS_READ, rep)
            site = await services(request).sites.get(rep.site, fresh=True)
            if site is None:
                return error_page(request, 404, "This site no longer exists.", rep)
            held = memberships(request)
            if len(held) > 1:  # one person serving several sites: the header switches among them
                found = [await services(request).sites.get(key) for key in held]
                request.state.switch = [(s.key, s.name) for s in found if s]
            form = Form([])
            if request.method == "POST":
                form = await read_form(request, max_fields)
                if not check_csrf(request, form.get("csrf")):
                    return error_page(request, 403, EXPIRED, rep)
            return await fn(request, Ctx(rep, site, form))

        return endpoint

    return wrap
