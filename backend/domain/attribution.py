"""What an order is credited to, counted as it arrives (core/attribution.py decides).

When an order is stored (once per order id), the visitors it was joined to (the one that
bought, and every visit of the same customer) are looked up for:

- their latest help episode (domain/touches.py): the order is attributed to the most recent
  one within the site's window, and a chat credits its representative with the sale and the
  commission (counted on the order's day as ``rep:<rid>:...``);
- their latest need of help (keys.needed, written by lua/ingest.lua): if one began within the
  window, the order counts in that arm and band: ``purchased`` once per need (a customer
  who needed help converts once; their later orders add revenue only), revenue always.

So the uplift compares like with like: holdout visitors are never offered help and have no
episode, yet their purchases count in the holdout arm as the treatment's do in theirs.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import Decimal

import redis.asyncio as aioredis

from backend.core import attribution as core
from backend.core import counters
from backend.core.attribution import Line
from backend.core.currencies import minor_units, to_minor
from backend.core.orders import Order
from backend.domain.practices import Practices
from backend.domain.sales import Sales
from backend.domain.touches import Touches
from backend.store import keys
from backend.store.keys import NeededHash as N


@dataclass(frozen=True)
class Need:
    """A visitor's latest need of help, as ingest.lua kept it past the visit."""

    visitor: str
    arm: str
    band: str
    at_ms: int
    reasons: tuple[str, ...]  # the scoring rules that fired
    path: str  # the page


@dataclass(frozen=True)
class Credit:
    """What one order was attributed to; ``kind`` "" when it owes nothing to help."""

    order_id: str
    kind: str  # offered | accepted | chatted | ""
    visitor: str
    rep: str
    chat: str
    commission: Decimal
    arm: str  # the arm of the need it followed, "" when none in the window
    band: str

    def as_json(self) -> dict[str, str]:
        return {"order_id": self.order_id, "kind": self.kind, "visitor": self.visitor, "rep": self.rep,
                "chat": self.chat, "commission": str(self.commission), "arm": self.arm, "band": self.band}


class Attribution:
    def __init__(self, redis: aioredis.Redis, touches: Touches, sales: Sales, counter_ttl_s: int,
                 retention_ms: int, practices: Practices | None = None) -> None:
        self.redis = redis
        self.practices = practices  # the materials used in a credited chat share its sale
        self.touches = touches
        self.sales = sales
        self.counter_ttl_s = counter_ttl_s
        self.retention_ms = retention_ms

    async def credit(self, site: str, order: Order) -> Credit | None:
        """Attribute a stored order and count it, once: the credit is claimed first (SET NX),
        so a retry of an order whose crediting failed midway credits it, and a second call
        for one already credited does nothing (None)."""
        settings = await self.sales.settings(site)
        vids = list(order.visitors)
        found = core.attribute(order.created_ms, await self.touches.of(site, vids), settings.attribution_days)
        lines = [Line(i.category, i.price * i.qty) for i in order.items]
        units = minor_units(order.currency) or 0
        earned = core.commission(order.value, lines, settings, units) if found and found.rep else Decimal(0)
        need = await self._need(site, vids, order.created_ms, settings.attribution_days)
        credit = Credit(order.order_id, found.kind if found else "", found.visitor if found else "",
                        found.rep if found else "", found.chat if found else "", earned,
                        need.arm if need else "", need.band if need else "")
        ttl_ms = max(order.created_ms + self.retention_ms - int(time.time() * 1000), 1000)
        if not await self.redis.set(keys.order_credit(site, order.order_id), json.dumps(credit.as_json()), nx=True,
                                    px=ttl_ms):
            return None
        day_key = keys.day_counts(site, counters.day(order.created_ms))
        revenue = to_minor(order.value, order.currency)
        async with self.redis.pipeline(transaction=False) as pipe:
            if need:
                arm, band = need.arm, need.band
                first = await self.redis.hsetnx(keys.needed(site, need.visitor), N.BOUGHT, order.created_ms)
                for band_name in ("", band) if band else ("",):
                    if first:
                        pipe.hincrby(day_key, counters.field_name(arm, counters.PURCHASED, band_name), 1)
                    pipe.hincrby(day_key, counters.revenue_field(arm, order.currency, band_name), revenue)
                if first:  # which struggles, and which pages, led to a sale (the reports per reason and page)
                    for reason in need.reasons:
                        pipe.hincrby(day_key, counters.reason_field(reason, arm, counters.PURCHASED), 1)
                    await self._count_page(site, order.created_ms, counters.page_field(arm, counters.PURCHASED,
                                                                                        need.path))
            if credit.rep:
                pipe.hincrby(day_key, counters.rep_field(credit.rep, counters.CONVERSIONS), 1)
                pipe.hincrby(day_key, counters.rep_field(credit.rep, counters.REVENUE, order.currency), revenue)
                pipe.hincrby(day_key, counters.rep_field(credit.rep, counters.COMMISSION, order.currency),
                             to_minor(earned, order.currency))
            pipe.expire(day_key, self.counter_ttl_s)
            await pipe.execute()
        if credit.chat and self.practices:
            await self.practices.sold(site, credit.chat, order.value, order.currency)
        return credit

    async def of(self, site: str, order_id: str) -> Credit | None:
        raw = await self.redis.get(keys.order_credit(site, order_id))
        if not raw:
            return None
        d = json.loads(raw)
        return Credit(d["order_id"], d["kind"], d["visitor"], d["rep"], d["chat"], Decimal(d["commission"]),
                      d["arm"], d["band"])

    async def _count_page(self, site: str, at_ms: int, page_field: str) -> None:
        key = keys.day_pages(site, counters.day(at_ms))
        if await self.redis.hexists(key, page_field) or await self.redis.hlen(key) < counters.PAGES_MAX:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hincrby(key, page_field, 1)
                pipe.expire(key, self.counter_ttl_s)
                await pipe.execute()

    async def _need(self, site: str, vids: list[str], order_ms: int, window_days: int) -> Need | None:
        """The latest need of help among the visitors that began before the order and within
        the window."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for vid in vids:
                pipe.hgetall(keys.needed(site, vid))
            raws = await pipe.execute()
        best: Need | None = None
        for vid, raw in zip(vids, raws):
            try:
                at = int(raw.get(N.AT, ""))
            except ValueError:
                continue
            if raw.get(N.ARM) in counters.ARMS and at <= order_ms and order_ms - at <= window_days * core.DAY_MS:
                if best is None or at > best.at_ms:
                    best = Need(vid, raw[N.ARM], raw.get(N.BAND, ""), at,
                                tuple(r for r in raw.get(N.REASONS, "").split(",") if r), raw.get(N.PATH, "/"))
        return best
