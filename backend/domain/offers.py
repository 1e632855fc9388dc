"""The offer broker's I/O: run the reservation script, withdraw expired offers, end chat
requests whose page is gone, record the customer's response, and push the results."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from dataclasses import dataclass


from backend.core import frames
from backend.core.models import Offer, OfferMade, Slots
from backend.core.policy import (
    SOCKET_WINDOW_MS, OfferSettings, estimate_wait, handle_time_s, learned_seconds, live_window_ms,
)
from backend.domain.push import Hub
from backend.domain.reps import PRESENCE_TIMEOUT_S
from backend.domain.routing import Routing
from backend.domain.sites import Sites
from backend.domain.touches import Touches
from backend.domain.tasks import UNAVAILABLE, Backoff, Outage, cancel, one_line
from backend.store import Client, keys, unreachable
from backend.store.scripts import PageWindows, Refused, Scripts, offer_from

log = logging.getLogger("beckon.offers")

MAX_CANDIDATES = 200
REQUESTS_CHECKED = 200  # waiting requests looked at per site and tick
RETENTION_S = 30 * 86400  # an abandoned request's record, like a chat's transcript


class OfferClosed(Exception):
    """The offer a customer answered is no longer open (expired, withdrawn, answered)."""


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Timings:
    """Learned where possible: how long an offer stays, the acceptable wait, the handle time
    of a chat (core/policy.py:handle_time_s)."""

    timeout_s: float
    acceptable_wait_s: float
    aht_s: float


@dataclass(frozen=True)
class Availability:
    slots: Slots
    timings: Timings

    @property
    def estimated_wait_s(self) -> float | None:
        return estimate_wait(self.slots.capacity, self.slots.in_use, self.timings.aht_s)

    def as_json(self) -> dict[str, object]:
        s = self.slots
        return {"capacity": s.capacity, "chats": s.chats, "offers": s.offers, "pending_requests": s.pending,
                "in_use": s.in_use, "estimated_wait_s": self.estimated_wait_s,
                "timeout_s": self.timings.timeout_s, "acceptable_wait_s": self.timings.acceptable_wait_s,
                "aht_s": self.timings.aht_s}


class Broker:
    def __init__(self, redis: Client, scripts: Scripts, hub: Hub, sites: Sites, heartbeat_s: int,
                 page_grace_ms: int, chat_ttl_s: int = 24 * 3600) -> None:
        self.redis = redis
        self.chat_ttl_s = chat_ttl_s  # a chat request's lifetime (Settings.chat_ttl_s)
        self.scripts = scripts
        self.hub = hub
        self.sites = sites
        self.windows = PageWindows(live_window_ms(heartbeat_s), page_grace_ms, SOCKET_WINDOW_MS)
        self._running: set[str] = set()
        self._again: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.routing: Routing | None = None  # who sees a new request (set once chats exist)
        self.touches: Touches | None = None  # each visitor's latest help, for attribution

    async def timings(self, site: str, cfg: OfferSettings) -> Timings:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.lrange(keys.response_times(site), 0, keys.SAMPLES_KEPT - 1)
            pipe.lrange(keys.accepted_waits(site), 0, keys.SAMPLES_KEPT - 1)
            pipe.lrange(keys.handle_times(site), 0, keys.SAMPLES_KEPT - 1)
            resp, waits, handles = await pipe.execute()
        timeout = learned_seconds([float(x) for x in resp], cfg.response_timeout_s, cfg.timeout_min_s,
                                  cfg.timeout_max_s)
        acceptable = cfg.acceptable_wait_s
        if cfg.learn_acceptable_wait:
            acceptable = learned_seconds([float(x) for x in waits], cfg.acceptable_wait_s, 0, 3600)
        return Timings(timeout, acceptable, handle_time_s([float(x) for x in handles]))

    async def availability(self, site: str, cfg: OfferSettings) -> Availability:
        """What the broker sees: capacity, slots in use, the estimated wait, learned timings."""
        slots = await self.scripts.availability(site, now_ms(), PRESENCE_TIMEOUT_S * 1000)
        return Availability(slots, await self.timings(site, cfg))

    def poke(self, site: str) -> None:
        """Ask for a broker run soon without waiting for it. Runs for one site never overlap
        in this worker, and any number of pokes while one runs cause a single run after it,
        so a burst of visitors starting to need help costs a few runs, not one each."""
        if site in self._running:
            self._again.add(site)
            return
        self._running.add(site)
        task = asyncio.create_task(self._run_coalesced(site))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_coalesced(self, site: str) -> None:
        try:
            try:
                await self.redis.sadd(keys.NEEDY_SITES, site)  # so the ticker looks at it too
            except UNAVAILABLE as exc:  # a poke as Redis goes: nothing to run, and no task error
                log.debug("offer broker poke failed: %s", one_line(exc))
                return
            while True:
                self._again.discard(site)
                try:
                    await self.run(site)
                except UNAVAILABLE as exc:  # the ticker retries, and logs the outage
                    log.debug("offer broker run failed: %s", one_line(exc))
                except Exception:  # noqa: BLE001 - the ticker retries; a poke must not crash
                    log.exception("offer broker run failed for a site")
                if site not in self._again:
                    return
        finally:
            self._running.discard(site)

    async def run(self, site: str) -> list[OfferMade]:
        """Make every offer the site's capacity allows now, and push them."""
        cfg = await self.sites.offer_settings(site)
        if cfg is None:
            return []
        t = await self.timings(site, cfg)
        pools = await self._pools(site)
        now = now_ms()
        made = await self.scripts.broker(
            site, now, PRESENCE_TIMEOUT_S * 1000, t.aht_s, t.acceptable_wait_s, int(t.timeout_s * 1000),
            json.dumps({"variant": cfg.variant, "min_cart_value": cfg.min_cart_value,
                        "require_access_code": cfg.require_access_code,
                        "short_for_first_visit": cfg.short_for_first_visit,
                        "leave_message": cfg.leave_message_works}),
            MAX_CANDIDATES, self.windows, secrets.token_urlsafe(9) + "-", pools,
        )
        if made:
            await self.redis.sadd(keys.OFFER_SITES, site)  # the sweeper withdraws them when due
        for m in made:
            await self.hub.publish(site, m.visitor, frames.offer(m.offer, now))
        if self.touches:
            await self.touches.offered(site, [m.visitor for m in made if m.offer.kind == "help"], now)
        return made

    async def _pools(self, site: str) -> str:
        """On a site with matching rule sets: which reps may answer each visitor the script
        looks at (the candidates, those holding an offer, those waiting for a rep), as
        broker.lua reads it; "" where anyone may answer anyone."""
        if self.routing is None or not (await self.routing.matching.rule_sets(site)).sets:
            return ""  # most sites: one GET, nothing more
        site_obj = await self.sites.get(site)
        if site_obj is None:
            return ""
        vids = set(await self.redis.zrevrange(keys.needy(site), 0, MAX_CANDIDATES - 1))
        vids.update(await self.redis.zrange(keys.offers(site), 0, -1))
        vids.update(c.visitor for c in await self.routing.chats.waiting(site))
        found = await self.routing.matching.pools(site_obj, sorted(vids))
        return json.dumps(found.as_json()) if found else ""

    async def cooldown_s(self, site: str) -> float:
        cfg = await self.sites.offer_settings(site)
        return cfg.cooldown_s if cfg else 0.0

    async def sweep(self) -> set[str]:
        """Withdraw offers past their deadline; returns the sites that got slots back."""
        now = now_ms()
        freed: set[str] = set()
        for site in await self.redis.smembers(keys.OFFER_SITES):
            await self._sweep_site(site, now, freed)
            await forget_when_empty(self.redis, keys.OFFER_SITES, keys.deadlines(site), site)
        return freed

    async def _sweep_site(self, site: str, now: int, freed: set[str]) -> None:
        for vid in await self.redis.zrangebyscore(keys.deadlines(site), "-inf", now, start=0, num=500):
            withdrawn = await self.scripts.withdraw(site, vid, now, int(await self.cooldown_s(site)))
            if withdrawn:
                freed.add(site)
                await self.hub.publish(site, vid, frames.withdraw(withdrawn))

    async def expire_requests(self, site: str) -> list[str]:
        """End the site's waiting requests whose page is gone; consoles drop them."""
        expired = await self.scripts.expire_requests(site, now_ms(), self.windows, RETENTION_S, REQUESTS_CHECKED)
        if expired:
            await self.hub.send(keys.console_channel(site), frames.queue_changed())
        return expired

    async def respond(self, site: str, vid: str, offer_id: str, action: str, cfg: OfferSettings,
                      visitor_ttl_s: int) -> str | None:
        """accept | dismiss | message; the new chat request's id on accept. OfferClosed when
        the offer is no longer open (or, for accept, is not a HELP offer)."""
        req_id = secrets.token_urlsafe(12)
        initial = await self.routing.initial_targets(site) if self.routing and action == "accept" else "*"
        try:
            request = await self.scripts.respond(site, vid, offer_id, action, now_ms(), int(cfg.cooldown_s), req_id,
                                                 visitor_ttl_s, self.chat_ttl_s, initial)
        except Refused:
            raise OfferClosed() from None
        if action == "accept":
            await self.redis.sadd(keys.REQUEST_SITES, site)  # the ticker ends it if the page goes, or widens it
            if self.touches and request:
                await self.touches.went_on(site, vid, "accepted")
            if self.routing and request:
                await self.routing.route(site, request, vid, initial)
        else:
            await self.hub.publish(site, vid, frames.withdraw(offer_id))
        return request

    async def stop(self) -> None:
        """Runs started by pokes end with the worker."""
        for task in list(self._tasks):
            await cancel(task, 1.0)

    async def current(self, site: str, vid: str) -> Offer | None:
        raw = await self.redis.hgetall(keys.offer(site, vid))
        if not raw:
            return None
        return offer_from({**raw, "short": raw.get(keys.OfferHash.SHORT) == "1"})


async def forget_when_empty(redis: Client, listing: str, zset: str, site: str) -> None:
    """Take ``site`` off a ticker's list once its ``zset`` is empty (and put it back if it
    filled meanwhile), so the ticker visits only sites with something to do."""
    if await redis.zcard(zset):
        return
    await redis.srem(listing, site)
    if await redis.zcard(zset):  # filled meanwhile
        await redis.sadd(listing, site)


class Ticker:
    """Each tick, in each web worker (the scripts are atomic, so workers may overlap):
    withdraw expired offers, end requests whose page is gone, widen requests whose
    escalation time passed, and run the broker for every site that may have visitors needing
    help."""

    def __init__(self, broker: Broker, redis: Client, interval_s: float,
                 outage: Outage | None = None) -> None:
        self.broker = broker
        self.redis = redis
        self.interval_s = interval_s
        self.outage = outage or Outage(log)
        self.task: asyncio.Task[None] | None = None

    async def tick(self) -> None:
        freed = await self.broker.sweep()
        for site in await self.redis.smembers(keys.REQUEST_SITES):
            if await self.broker.expire_requests(site):
                freed.add(site)
            if self.broker.routing:
                await self.broker.routing.escalate(site)
                await self.broker.routing.look_after(site)
            await forget_when_empty(self.redis, keys.REQUEST_SITES, keys.requests(site), site)
        for site in freed:
            await self.broker.run(site)
        # Only sites that may have visitors needing help: not every site, every tick.
        for site in await self.redis.smembers(keys.NEEDY_SITES):
            if site not in freed and await self.redis.zcard(keys.needy(site)):
                await self.broker.run(site)
            else:
                await forget_when_empty(self.redis, keys.NEEDY_SITES, keys.needy(site), site)

    async def seed(self) -> None:
        """After a restart: every site with needy visitors, waiting requests or offers out goes
        back on the ticker's lists."""
        for site in await self.redis.smembers(keys.SITES):
            for zset, listing in ((keys.needy(site), keys.NEEDY_SITES), (keys.requests(site), keys.REQUEST_SITES),
                                  (keys.deadlines(site), keys.OFFER_SITES)):
                if await self.redis.zcard(zset):
                    await self.redis.sadd(listing, site)

    async def _loop(self) -> None:
        """Tick every interval_s. Without Redis: one log line for the outage (Outage), retries
        with backoff, and the lists of sites seeded again once it is back."""
        backoff = Backoff(first_s=self.interval_s)
        seeded = False
        while True:
            delay = self.interval_s
            try:
                if not seeded:
                    await self.seed()
                    seeded = True
                await self.tick()
                self.outage.back()
                backoff.reset()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - an outage, or a bug in one tick: the loop goes on
                if unreachable(exc):
                    self.outage.lost(exc, "the offer ticker")
                    seeded = False  # Redis may come back empty-handed: seed the lists of sites again
                    delay = backoff.next()
                else:
                    log.exception("offer tick failed")
                    delay = max(self.interval_s, 2.0)
            await asyncio.sleep(delay)

    def start(self) -> None:
        self.task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        await cancel(self.task)

