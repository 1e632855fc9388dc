"""Read-only views of visitor state for the API and the console."""

from __future__ import annotations

import json
import time
from typing import Any

import redis.asyncio as aioredis

from backend.store import keys

INT_FIELDS = ("page_n", "page_ms", "field_max", "errors", "visits", "first", "last")


def _state(raw: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {f: int(float(raw.get(f, 0) or 0)) for f in INT_FIELDS}
    out.update(
        url=raw.get("url", ""),
        title=raw.get("title", ""),
        service_point=raw.get("svc", ""),
        cart_value=float(raw.get("cart", 0) or 0),
        currency=raw.get("currency", ""),
        flagged=raw.get("flagged") == "1",
        score=float(raw.get("score", 0) or 0),
        needs_assistance=raw.get("needs") == "1",
        reasons=json.loads(raw.get("reasons") or "[]"),
    )
    return out


async def active(redis: aioredis.Redis, site: str, ttl_s: int, limit: int = 100) -> list[dict[str, Any]]:
    """Visitors seen within the inactivity TTL, most recent first."""
    now_ms = int(time.time() * 1000)
    vids = await redis.zrevrangebyscore(keys.active(site), "+inf", now_ms - ttl_s * 1000, start=0, num=limit)
    if not vids:
        return []
    async with redis.pipeline(transaction=False) as pipe:
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


async def detail(redis: aioredis.Redis, site: str, vid: str) -> dict[str, Any] | None:
    """One visitor's state, page trail with dwell, field dwell and form errors."""
    async with redis.pipeline(transaction=False) as pipe:
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
