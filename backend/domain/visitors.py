"""Visitors: each batch of events folded and scored (one atomic script), and read-only views
of the state for the API and the console."""

from __future__ import annotations

import hmac
import json
import time
from typing import Any

import redis.asyncio as aioredis

from backend.config import Settings
from backend.core import scoring
from backend.core.models import Scored
from backend.core.protocol import Batch
from backend.core.validation import split_url
from backend.domain.sites import Site, identity_signed
from backend.store import keys
from backend.store.keys import VisitorHash as V
from backend.store.scripts import IngestLimits, Refused, Scripts

INT_FIELDS = {"page_n": V.PAGE_N, "page_ms": V.PAGE_MS, "field_max": V.FIELD_MAX, "errors": V.ERRORS,
              "visits": V.VISITS, "first": V.FIRST, "last": V.LAST, "heartbeats": V.HEARTBEATS}


class RateLimited(Exception):
    def __init__(self, retry_s: int) -> None:
        super().__init__(f"retry in {retry_s} s")
        self.retry_s = retry_s


def prepare_events(site: Site, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What only Python knows: a page view whose path matches one of the site's URL patterns
    is a service point, and an access code is checked against the site's codes (the codes
    themselves never reach visitor state)."""
    patterns = site.rules.get("rules", {}).get("service_point", {}).get("url_patterns")
    out = []
    for ev in events:
        if ev["t"] == "buy":  # an order: domain/orders.py keeps it, scoring never sees it
            continue
        if ev["t"] == "code":
            out.append({"t": "code", "ok": ev["code"] in site.offer.access_codes})
            continue
        if ev["t"] == "id":  # the signature stays here; the script learns what it proved
            ev = {**{k: v for k, v in ev.items() if k != "sig"},
                  "verified": identity_signed(site.identity_secret, ev), "trusted": site.identity_trusted(ev)}
        out.append(ev)
        parts = split_url(ev["url"]) if ev["t"] == "pv" and patterns else None  # protocol.py: it reads
        if parts is not None:
            path = parts.path or "/"
            out.extend({"t": "svc", "point": p} for p in scoring.service_points_for(site.rules, path))
    return out


def ingest_limits(settings: Settings) -> IngestLimits:
    return IngestLimits(
        ttl_s=settings.visitor_ttl_s, rate_visitor_per_min=settings.rate_visitor_per_min,
        rate_ip_per_min=settings.rate_ip_per_min, default_rules_json=json.dumps(scoring.DEFAULT_RULES),
        trail_max=scoring.TRAIL_MAX, errors_max=scoring.ERRORS_MAX, fields_max=scoring.FIELDS_MAX,
        dwell_slack_ms=scoring.DWELL_SLACK_MS, counter_ttl_s=settings.counter_retention_days * 86400,
    )


def _state(raw: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {name: int(float(raw.get(f, 0) or 0)) for name, f in INT_FIELDS.items()}
    page_at = int(float(raw.get(V.PAGE_AT, 0) or 0))
    out.update(
        url=raw.get(V.URL, ""),
        title=raw.get(V.TITLE, ""),
        language=raw.get(V.LANGUAGE, ""),
        service_point=raw.get(V.SERVICE_POINT, ""),
        cart_value=float(raw.get(V.CART, 0) or 0),
        currency=raw.get(V.CURRENCY, ""),
        flagged=raw.get(V.FLAGGED) == "1",
        score=float(raw.get(V.SCORE, 0) or 0),
        needs_assistance=raw.get(V.NEEDS) == "1",
        reasons=json.loads(raw.get(V.REASONS) or "[]"),
        # by the server's clock: from the page view's arrival to the latest batch
        page_seen_ms=max(0, out["last"] - page_at) if page_at else 0,
    )
    return out


class Visitors:
    def __init__(self, redis: aioredis.Redis, scripts: Scripts, settings: Settings) -> None:
        self.redis = redis
        self.scripts = scripts
        self.ttl_s = settings.visitor_ttl_s
        self.limits = ingest_limits(settings)

    async def ingest(self, site: Site, batch: Batch, ip: str) -> Scored:
        """Fold and score a validated batch. RateLimited when the visitor or address sent
        too much this minute."""
        events = prepare_events(site, batch.events)
        try:
            return await self.scripts.ingest(site.key, batch.vid, ip, events, int(time.time() * 1000), self.limits,
                                             batch.tok, site.offer.holdout_share)
        except Refused as exc:
            if exc.code == "limited":
                raise RateLimited(int(exc.detail["retry"])) from None
            raise

    async def token_ok(self, site: str, vid: str, token: object) -> bool:
        """Does the caller hold the token this visit was given (ingest.lua hands it out)?"""
        if not isinstance(token, str) or not token:
            return False
        stored = await self.redis.hget(keys.visitor(site, vid), V.TOKEN)
        return stored is not None and hmac.compare_digest(stored.encode(), token.encode())

    async def active(self, site: str, limit: int = 100) -> list[dict[str, Any]]:
        """Visitors seen within the inactivity TTL, most recent first."""
        now_ms = int(time.time() * 1000)
        vids = await self.redis.zrevrangebyscore(keys.active(site), "+inf", now_ms - self.ttl_s * 1000, start=0,
                                                 num=limit)
        if not vids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for vid in vids:
                pipe.hgetall(keys.visitor(site, vid))
                pipe.hgetall(keys.profile(site, vid))
            rows = await pipe.execute()
        out = []
        for i, vid in enumerate(vids):
            raw, prof = rows[2 * i], rows[2 * i + 1]
            if raw:
                out.append({"visitor": vid, "profile": prof, **_state(raw)})
        return out

    async def states(self, site: str, vids: list[str]) -> dict[str, dict[str, Any]]:
        """The folded state and identity of several visitors (as ``detail`` without the trail,
        dwell and errors): what matching reads for each visitor the broker looks at."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for vid in vids:
                pipe.hgetall(keys.visitor(site, vid))
                pipe.hgetall(keys.profile(site, vid))
            rows = iter(await pipe.execute())
        return {vid: {"visitor": vid, "profile": prof, **_state(raw)}
                for vid, raw, prof in ((v, next(rows), next(rows)) for v in vids) if raw}

    async def detail(self, site: str, vid: str) -> dict[str, Any] | None:
        """One visitor's state, page trail with dwell, field dwell and form errors."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.visitor(site, vid))
            pipe.lrange(keys.trail(site, vid), 0, -1)
            pipe.hgetall(keys.page_dwell(site, vid))
            pipe.hgetall(keys.field_dwell(site, vid))
            pipe.lrange(keys.errors(site, vid), 0, -1)
            pipe.hgetall(keys.profile(site, vid))
            raw, trail, dwell, fields, errors, prof = await pipe.execute()
        if not raw:
            return None
        pages = []
        for item in trail:
            page = json.loads(item)
            page["dwell_ms"] = int(dwell.get(str(page["n"]), 0))
            pages.append(page)
        return {
            "visitor": vid,
            "profile": prof,
            **_state(raw),
            "pages": pages,
            "fields": {name: int(ms) for name, ms in sorted(fields.items(), key=lambda kv: -int(kv[1]))},
            "form_errors": [json.loads(e) for e in errors],
        }
