"""Console login: a signed session cookie naming the person's memberships (site -> server-side
session id, one per site their password opens) and the current site (the one admin pages and
the profile act on), a CSRF token kept in it, and a throttle on failed logins
(backend/domain/logins.py). A site always comes from the session, never from the request
alone: a request may only pick one of the session's sites, each re-checked every time, so a
representative only ever reaches the data of sites they serve."""

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


def memberships(conn: HTTPConnection) -> dict[str, str]:
    """Site -> session id, as the cookie has them (a cookie from before several sites: one)."""
    found = conn.session.get("m")
    if isinstance(found, dict):
        return {k: v for k, v in found.items() if isinstance(k, str) and isinstance(v, str)}
    site, sid = conn.session.get("site"), conn.session.get("sid")
    return {site: sid} if isinstance(site, str) and isinstance(sid, str) else {}


async def member(conn: HTTPConnection, site: str) -> Rep | None:
    """The session's representative on ``site``, while that membership's session lives and the
    account is active (re-read each time: logout, deactivation or a role change count at once)."""
    sid = memberships(conn).get(site)
    if sid is None:
        return None
    svc = services(conn)
    rid = await svc.sessions.rep_of(site, sid)
    rep = await svc.reps.get(site, rid) if rid else None
    return rep if rep is not None and rep.active else None


async def current_reps(conn: HTTPConnection) -> list[Rep]:
    """Every membership of the session still alive; the ended ones leave the cookie."""
    held = memberships(conn)
    alive = [rep for rep in [await member(conn, site) for site in held] if rep is not None]
    if not alive:
        conn.session.clear()
        raise NotLoggedIn()
    if len(alive) < len(held):
        conn.session["m"] = {rep.site: held[rep.site] for rep in alive}
        conn.session.pop("sid", None)
    return alive


async def current_rep(conn: HTTPConnection) -> Rep:
    """The logged-in representative on the session's current site; when that membership has
    ended, another of the session's takes its place."""
    site = conn.session.get("site")
    rep = await member(conn, site) if isinstance(site, str) else None
    if rep is None:
        rep = (await current_reps(conn))[0]
        conn.session["site"] = rep.site
    return rep


async def require_admin(conn: HTTPConnection) -> Rep:
    rep = await current_rep(conn)
    if not rep.is_admin:
        raise Forbidden("This page is for the site's administrators.")
    return rep


async def start_session(request: Request, reps: tuple[Rep, ...]) -> None:
    """A fresh session (and CSRF token) at login, so nothing set before it carries over: one
    server-side session per membership, each ended on its own (deactivation on one site)."""
    sessions = services(request).sessions
    held = {rep.site: await sessions.start(rep.site, rep.id) for rep in reps}
    current = next((rep for rep in reps if rep.is_admin), reps[0])
    request.session.clear()
    request.session.update({"m": held, "site": current.site, "csrf": secrets.token_urlsafe(24)})


async def end_session(request: Request) -> None:
    for site, sid in memberships(request).items():
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
