"""Console login: a signed session cookie naming (site, rep), a CSRF token kept in it, and a
throttle on failed logins (backend/domain/logins.py). The site always comes from the session, never from the request,
so a representative only ever reaches their own site's data."""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.requests import HTTPConnection, Request

from backend.core.validation import split_url
from backend.domain.reps import Rep
from backend.web.http import services

class NotLoggedIn(Exception):
    """No valid session: pages redirect to the login form, other requests get a 401."""


class Forbidden(Exception):
    """Logged in, but this page is for admins (or the form's CSRF token is wrong)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def csrf_token(conn: HTTPConnection) -> str:
    """The session's CSRF token, created on first use (the login form needs one too)."""
    token = conn.session.get("csrf")
    if not isinstance(token, str) or len(token) < 20:
        token = secrets.token_urlsafe(24)
        conn.session["csrf"] = token
    return token


def check_csrf(conn: HTTPConnection, given: str | None) -> bool:
    expected = conn.session.get("csrf")
    return isinstance(expected, str) and isinstance(given, str) and hmac.compare_digest(expected, given)


async def current_rep(conn: HTTPConnection) -> Rep:
    """The logged-in representative, re-read on every request so that logout elsewhere,
    deactivation or a role change takes effect at once."""
    site, sid = conn.session.get("site"), conn.session.get("sid")
    if not isinstance(site, str) or not isinstance(sid, str):
        raise NotLoggedIn()
    svc = services(conn)
    rid = await svc.sessions.rep_of(site, sid)
    rep = await svc.reps.get(site, rid) if rid else None
    if rep is None or not rep.active:
        conn.session.clear()
        raise NotLoggedIn()
    return rep


async def require_admin(conn: HTTPConnection) -> Rep:
    rep = await current_rep(conn)
    if not rep.is_admin:
        raise Forbidden("This page is for the site's administrators.")
    return rep


async def start_session(request: Request, rep: Rep) -> None:
    """A fresh session (and CSRF token) at login, so nothing set before it carries over."""
    sid = await services(request).sessions.start(rep.site, rep.id)
    request.session.clear()
    request.session.update({"site": rep.site, "sid": sid, "csrf": secrets.token_urlsafe(24)})


async def end_session(request: Request) -> None:
    site, sid = request.session.get("site"), request.session.get("sid")
    if isinstance(site, str) and isinstance(sid, str):
        await services(request).sessions.end(site, sid)
    request.session.clear()


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def safe_next(raw: Any) -> str:
    """Where to go after login: only a path inside the console (no open redirect)."""
    if not isinstance(raw, str) or len(raw) > 500:
        return "/console/"
    parts = split_url(raw)
    if parts is None:  # not even a URL: "http://[shop.example]/"
        return "/console/"
    if parts.scheme or parts.netloc or not parts.path.startswith("/console/") or raw.startswith("//") \
            or "\\" in raw or parts.path.startswith("/console/login"):
        return "/console/"
    return raw


def login_url(conn: HTTPConnection) -> str:
    target = conn.url.path + (f"?{conn.url.query}" if conn.url.query else "")
    return "/console/login?next=" + quote(safe_next(target), safe="")


def same_origin(conn: HTTPConnection, origin: str | None) -> bool:
    """A browser's Origin must be this server's own: the public URL or the Host it used.
    Cross-site pages cannot forge either header."""
    if not origin:
        return False
    public = urlsplit(services(conn).settings.public_url)
    if origin.lower() == f"{public.scheme}://{public.netloc}".lower():
        return True
    host = conn.headers.get("host", "")
    parts = split_url(origin)
    return bool(host) and parts is not None and parts.netloc.lower() == host.lower()
