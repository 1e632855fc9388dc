"""Orders: the sales a site records, from its pages (``Beckon.purchase``) or signed by its
server, each order id stored once, joined to the visits of whoever bought, and kept for the
order retention.

Storing once is one atomic command, ``SET NX``: a retried or replayed order finds the first
one there and is answered as a duplicate; the time index and the joins are idempotent
follow-ups (a retry repairs an index a crash left behind).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis

from backend.core import orders as core
from backend.core.orders import Order
from backend.core.protocol import Batch
from backend.core.webhooks import stable_event_id
from backend.core.validation import ValidationError
from backend.domain.attribution import Attribution
from backend.domain.sites import Site
from backend.store import keys
from backend.store.keys import SiteHash as S

if TYPE_CHECKING:
    from backend.domain.webhooks import Webhooks

log = logging.getLogger("beckon.orders")

if TYPE_CHECKING:
    from backend.domain.leads import Leads

DAY_MS = 86_400_000
JOINED_MAX = 10  # visits an order is joined to, newest first
CUSTOMER_VISITS_KEPT = 10  # per customer id or e-mail: their newest visits
LIST_MAX = 1000


class OrderError(ValidationError):
    """An order that validated but cannot be kept (older than the retention)."""


class DeliveryConflict(Exception):
    """A webhook-id already delivered with another body: a sender's bug, never stored."""


@dataclass(frozen=True)
class Recorded:
    """``stored``: this call stored the order; False: the order id was already stored, and
    ``order`` is that first one."""

    stored: bool
    order: Order


SALE_ID_RE = re.compile(r"[A-Za-z0-9]{8,40}")  # what the console makes for a sale


def new_secret() -> str:
    return core.SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


class Orders:
    def __init__(self, redis: aioredis.Redis, retention_days: int) -> None:
        self.redis = redis
        self.retention_ms = retention_days * DAY_MS
        self.retention_days = retention_days
        self.attribution: Attribution | None = None  # credits each order once, as it is stored
        self.webhooks: Webhooks | None = None  # order.created, once per order
        self.leads: Leads | None = None  # a purchase lead per order, made once

    async def record(self, site: str, order: Order) -> Recorded:
        """Store ``order`` unless its id is stored already; joined to the named visitor and
        to the visits of the named customer (by id or e-mail, on any device)."""
        now = int(time.time() * 1000)
        ttl_ms = order.created_ms + self.retention_ms - now
        if ttl_ms <= 0:
            raise OrderError([("created", f"is older than the {self.retention_days} days orders are kept")])
        found = await self.customer_visits(site, order.customer_id, order.email)
        vids = list(dict.fromkeys([v for v in (order.visitor_id, *found) if v]))[:JOINED_MAX]
        order = order.joined(vids)
        key = keys.order(site, order.order_id)
        stored = bool(await self.redis.set(key, json.dumps(order.as_json()), nx=True, px=ttl_ms))
        first = order
        if not stored:
            raw = await self.redis.get(key)
            first = Order.from_json(json.loads(raw)) if raw else order  # expired between the two: ours
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(keys.orders(site), {first.order_id: first.created_ms}, nx=True)
            pipe.zremrangebyscore(keys.orders(site), "-inf", now - self.retention_ms)
            pipe.pexpire(keys.orders(site), self.retention_ms)
            await pipe.execute()
        if self.attribution and (stored or await self.attribution.of(site, first.order_id) is None):
            await self.attribution.credit(site, first)  # a retry credits an order whose crediting failed
        if self.leads is not None:
            await self.leads.order_stored(site, first)  # once per order; a retry makes one a crash left unmade
        if self.webhooks is not None:
            await self._emit(site, first)
        return Recorded(stored, first)

    async def _emit(self, site: str, order: Order) -> None:
        """order.created under an id made from the order's: a retry of the order queues it only
        if the first call did not (a crash between), never twice."""
        try:
            await self.webhooks.emit(site, "order.created", {"order": order.as_json()},  # type: ignore[union-attr]
                                     event_id=stable_event_id(site, "order.created", order.order_id))
        except Exception:  # the order is stored: a queue that is down loses the event (logged), not the sale
            log.exception("order.created webhook of order %s not queued", order.order_id)

    async def record_for_chat(self, site: str, vid: str, data: dict[str, Any]) -> Recorded:
        """A sale the chat's rep closed by phone or later, recorded from the console: an order of
        the chat's visitor (so attribution credits the chat), its id made from the console's
        one-off ``cid`` (a click sent twice records one sale). OrderError lists what is wrong."""
        cid = data.get("cid")
        if not isinstance(cid, str) or not SALE_ID_RE.fullmatch(cid):
            raise OrderError([("cid", "the console's sale id is missing; reload the page")])
        fields: dict[str, Any] = {"order_id": f"rep-{cid}", "value": data.get("value"), "currency": data.get("currency")}
        if data.get("product"):  # one line, the whole amount: its category picks the commission rate
            fields["items"] = [{"name": data.get("product"), "qty": 1, "price": data.get("value"),
                                "category": data.get("category") or ""}]
        order, errors = core.parse_order(fields, "rep", int(time.time() * 1000))
        if order is None:
            raise OrderError(errors)
        return await self.record(site, replace(order, visitor_id=vid))

    async def from_batch(self, site: Site, batch: Batch, vouched: bool) -> list[Recorded]:
        """What a batch of events tells the orders: who the visitor identified as (an identity
        the site vouches for joins the customer's later orders to this visit), and the
        purchases its page reported. Only for a page holding the visitor's token
        (``vouched``): knowing a visitor id is not enough to buy in their name."""
        if not vouched:
            return []
        now = int(time.time() * 1000)
        done = []
        for ev in batch.events:
            if ev["t"] == "id" and site.identity_trusted(ev):
                await self._remember(site.key, batch.vid, ev.get("id", ""), ev.get("email", ""), now)
                if self.leads is not None:  # new details for the customer's record: a registration update
                    await self.leads.identified(site, ev)
            elif ev["t"] == "buy":
                order = replace(ev["order"], visitor_id=batch.vid, created_ms=now, source="page")
                done.append(await self.record(site.key, order))
        return done

    async def _remember(self, site: str, vid: str, customer_id: str, email: str, now: int) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for kind, value in (("id", customer_id), ("email", email)):
                if value:
                    key = keys.customer_visitors(site, kind, value)
                    pipe.zadd(key, {vid: now})
                    pipe.zremrangebyrank(key, 0, -CUSTOMER_VISITS_KEPT - 1)
                    pipe.pexpire(key, self.retention_ms)
            await pipe.execute()

    async def customer_visits(self, site: str, customer_id: str, email: str) -> list[str]:
        """The visitor ids the customer identified as (by id, then e-mail), newest first."""
        found: list[str] = []
        for kind, value in (("id", customer_id), ("email", email)):
            if value:
                found += await self.redis.zrevrange(keys.customer_visitors(site, kind, value), 0, -1)
        return found

    async def deliver(self, site: str, msg_id: str, body: bytes, order: Order) -> Recorded:
        """A signed delivery from the site's server. A webhook-id seen before (within twice the
        signature's tolerance: older deliveries are refused anyway) is answered as the first
        time, storing nothing; DeliveryConflict if it came with another body."""
        digest = hashlib.sha256(body).hexdigest()
        key = keys.order_delivery(site, msg_id)
        seen = await self.redis.get(key)
        if seen is not None:
            first = json.loads(seen)
            if first["digest"] != digest:
                raise DeliveryConflict(msg_id)
            raw = await self.redis.get(keys.order(site, first["order_id"]))
            if raw:
                return Recorded(bool(first["stored"]), Order.from_json(json.loads(raw)))
        done = await self.record(site, order)
        await self.redis.set(key, json.dumps({"digest": digest, "stored": done.stored,
                                              "order_id": done.order.order_id}),
                             nx=True, ex=2 * core.TOLERANCE_S)
        return done

    async def get(self, site: str, order_id: str) -> Order | None:
        raw = await self.redis.get(keys.order(site, order_id))
        return Order.from_json(json.loads(raw)) if raw else None

    async def list(self, site: str, from_ms: int, to_ms: int, limit: int = LIST_MAX) -> list[Order]:
        """Orders whose time is in [from_ms, to_ms], oldest first."""
        floor = max(from_ms, int(time.time() * 1000) - self.retention_ms)
        ids = await self.redis.zrangebyscore(keys.orders(site), floor, to_ms, start=0, num=min(limit, LIST_MAX))
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for order_id in ids:
                pipe.get(keys.order(site, order_id))
            rows = await pipe.execute()
        return [Order.from_json(json.loads(raw)) for raw in rows if raw]

    async def secret(self, site: str) -> str:
        """The site's order-signing secret, made on first need (HSETNX: two first readers agree)."""
        await self.redis.hsetnx(keys.site(site), S.ORDER_SECRET, new_secret())
        return str(await self.redis.hget(keys.site(site), S.ORDER_SECRET))

    async def current_secret(self, site: str) -> str:
        """The secret, or "" while none was made (a delivery then cannot be signed)."""
        return str(await self.redis.hget(keys.site(site), S.ORDER_SECRET) or "")

    async def rotate_secret(self, site: str) -> str:
        """A new secret; the old one stops working at once."""
        fresh = new_secret()
        await self.redis.hset(keys.site(site), S.ORDER_SECRET, fresh)
        return fresh
