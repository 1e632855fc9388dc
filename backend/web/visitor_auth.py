"""Who may call on a visitor's behalf: a known site key, sent from one of that site's
origins, and (for anything beyond sending events) the visitor's token: a random secret the
visit's first page was given, which only pages holding it can present."""

from __future__ import annotations

from backend.core.protocol import ID_RE
from backend.domain.services import Services
from backend.domain.sites import Site
from backend.web.http import HTTPError


async def site_for_origin(svc: Services, site_key: str, origin: str) -> Site:
    site = await svc.sites.get(site_key)
    if site is None:
        raise HTTPError(403, "unknown site key", field="site")
    if origin not in site.origins:
        raise HTTPError(403, f"origin {origin[:100]!r} is not allowed for this site")
    return site


async def visitor_site(svc: Services, origin: str, site_key: object, vid: object, tok: object) -> Site:
    """The site of a visitor-facing call, after checking key, origin and visitor token."""
    if not isinstance(site_key, str) or not ID_RE.match(site_key) or not isinstance(vid, str) or not ID_RE.match(vid):
        raise HTTPError(400, "'site' and 'vid' must be 8-64 letters, digits, '-' or '_'")
    site = await site_for_origin(svc, site_key, origin)
    if not await svc.visitors.token_ok(site_key, vid, tok):
        raise HTTPError(403, "missing or wrong visitor token", field="tok")
    return site
