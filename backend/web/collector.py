"""``POST /v1/events``: validate a batch, then fold and score it in one Redis round trip."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.core import scoring
from backend.core.protocol import ProtocolError, parse_batch
from backend.web.http import HTTPError, read_body
from backend.store import keys
from backend.core.tokens import visitor_token

ACCEPTED_TYPES = ("text/plain", "application/json")
DEFAULT_RULES_JSON = json.dumps(scoring.DEFAULT_RULES)


def cors_headers(origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": "Retry-After",
        "Vary": "Origin",
    }


def prepare_events(site: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What only Python knows: a page view whose path matches one of the site's URL patterns
    is a service point, and an access code is checked against the site's codes (the codes
    themselves never reach visitor state)."""
    patterns = site.rules.get("rules", {}).get("service_point", {}).get("url_patterns")
    out = []
    for ev in events:
        if ev["t"] == "code":
            out.append({"t": "code", "ok": ev["code"] in site.offer.access_codes})
            continue
        out.append(ev)
        if ev["t"] == "pv" and patterns:
            path = urlsplit(ev["url"]).path or "/"
            out.extend({"t": "svc", "point": p} for p in scoring.service_points_for(site.rules, path))
    return out


class Collector:
    def __init__(self, state: Any) -> None:
        # ``state`` is filled in by the app's lifespan (redis, sites, scripts, settings).
        self.state = state

    async def preflight(self, request: Request) -> Response:
        origin = request.headers.get("origin", "")
        if not origin or not await self.state.sites.origin_known(origin):
            return JSONResponse({"error": "this origin is not allowed to send events"}, status_code=403)
        return Response(
            status_code=204,
            headers={
                **cors_headers(origin),
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": "Content-Type",
                "Access-Control-Max-Age": "86400",
            },
        )

    async def ingest(self, request: Request) -> Response:
        origin = request.headers.get("origin", "")
        cors: dict[str, str] = {}
        try:
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype not in ACCEPTED_TYPES:
                raise HTTPError(415, "send the batch as text/plain or application/json")
            settings = self.state.settings
            body = await read_body(request, settings.max_body_bytes)
            try:
                data = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                raise HTTPError(400, "the body is not valid JSON") from None
            batch = parse_batch(data, settings.max_events)
            site = await self.state.sites.get(batch.site)
            if site is None:
                raise HTTPError(403, "unknown site key", field="site")
            if origin not in site.origins:
                raise HTTPError(403, f"origin {origin[:100]!r} is not allowed for this site")
            cors = cors_headers(origin)
            if site.consent_required and not batch.consent:
                raise HTTPError(403, "this site requires the visitor's consent before sending", field="consent")
            result = await self._run(site, batch, request.client.host if request.client else "unknown")
            if "limited" in result:
                retry = str(result["limited"])
                raise HTTPError(429, "too many requests; retry later", headers={"Retry-After": retry})
        except ProtocolError as exc:
            return JSONResponse(exc.as_json(), status_code=exc.status, headers=cors)
        except HTTPError as exc:
            return exc.response(cors)
        if result["newly"]:
            self.state.broker.poke(site.key)
        return JSONResponse(
            {
                "ok": True,
                "hb": settings.heartbeat_s,
                "cmd": result["offer"],
                "watch": result["watch"],
                "tok": visitor_token(settings.secret_key, site.key, batch.vid),
            },
            headers=cors,
        )

    async def _run(self, site: Any, batch: Any, ip: str) -> dict[str, Any]:
        events = prepare_events(site, batch.events)
        call_keys, args = ingest_call(self.state.settings, site.key, batch.vid, ip, events, int(time.time() * 1000))
        return json.loads(await self.state.scripts.ingest(keys=call_keys, args=args))


def ingest_call(
    settings: Any, site: str, vid: str, ip: str, events: list[dict[str, Any]], now_ms: int
) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV for ``ingest.lua`` (shared with the test that holds Lua to its twin)."""
    args = [
        now_ms,
        settings.visitor_ttl_s,
        settings.rate_visitor_per_min,
        settings.rate_ip_per_min,
        json.dumps(events),
        DEFAULT_RULES_JSON,
        scoring.TRAIL_MAX,
        scoring.ERRORS_MAX,
        scoring.FIELDS_MAX,
        vid,
    ]
    return keys.ingest(site, vid, ip, now_ms // 60_000), args
