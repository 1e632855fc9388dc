"""Console login: a signed session cookie naming (site, rep), a CSRF token kept in it, and a
throttle on failed logins. The site always comes from the session, never from the request,
so a representative only ever reaches their own site's data."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.requests import HTTPConnection, Request

from backend.domain.reps import Rep
from backend.store import keys

FAILURES_ALLOWED = 10  # failed logins per e-mail ...
FAILURE_WINDOW_S = 15 * 60  # ... within this window
FAILURES_ALLOWED_PER_IP = 50  # failed logins from one address, any e-mails, in the window


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
    """The logged-in representative, re-read on every request so that deactivation or a
    role change takes effect at once."""
    site, rid = conn.session.get("site"), conn.session.get("rid")
    if not isinstance(site, str) or not isinstance(rid, str):
        raise NotLoggedIn()
    rep = await conn.app.state.reps.get(site, rid)
    if rep is None or not rep.active or conn.session.get("epoch") != login_epoch(rep):
        conn.session.clear()
        raise NotLoggedIn()
    return rep


async def require_admin(conn: HTTPConnection) -> Rep:
    rep = await current_rep(conn)
    if not rep.is_admin:
        raise Forbidden("This page is for the site's administrators.")
    return rep


def login_epoch(rep: Rep) -> str:
    """Binds a session to the rep's e-mail and password, so changing either ends older sessions."""
    return hashlib.sha256(f"{rep.site} {rep.id} {rep.email} {rep.credential_tag}".encode()).hexdigest()[:16]


def start_session(request: Request, rep: Rep) -> None:
    """A fresh session (and CSRF token) at login, so nothing set before it carries over."""
    request.session.clear()
    request.session.update({"site": rep.site, "rid": rep.id, "epoch": login_epoch(rep),
                            "csrf": secrets.token_urlsafe(24), "since": int(time.time())})


def _digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def _failure_keys(request: Request, email: str) -> list[tuple[str, int]]:
    """Failed logins are counted per e-mail (guessing one rep's password) and per address
    (trying many e-mails from one place), each with its own allowance."""
    ip = request.client.host if request.client else "unknown"
    return [(keys.login_failures("e:" + _digest(email)), FAILURES_ALLOWED),
            (keys.login_failures("ip:" + _digest(ip)), FAILURES_ALLOWED_PER_IP)]


async def throttled(request: Request, email: str) -> int:
    """Seconds until this e-mail, from this address, may try again (0: it may try now)."""
    redis = request.app.state.redis
    for key, allowed in _failure_keys(request, email):
        if int(await redis.get(key) or 0) >= allowed:
            return max(1, int(await redis.ttl(key)))
    return 0


async def record_failure(request: Request, email: str) -> None:
    async with request.app.state.redis.pipeline(transaction=True) as pipe:
        for key, _ in _failure_keys(request, email):
            pipe.incr(key)
            pipe.expire(key, FAILURE_WINDOW_S, nx=True)
        await pipe.execute()


async def clear_failures(request: Request, email: str) -> None:
    await request.app.state.redis.delete(_failure_keys(request, email)[0][0])


def safe_next(raw: Any) -> str:
    """Where to go after login: only a path inside the console (no open redirect)."""
    if not isinstance(raw, str) or len(raw) > 500:
        return "/console/"
    parts = urlsplit(raw)
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
    public = urlsplit(conn.app.state.settings.public_url)
    if origin.lower() == f"{public.scheme}://{public.netloc}".lower():
        return True
    host = conn.headers.get("host", "")
    return bool(host) and urlsplit(origin).netloc.lower() == host.lower()
