"""The offer broker's I/O: run the reservation script, withdraw expired offers, record the
customer's response, and push the resulting commands to pages."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from typing import Any, Awaitable, Callable

import redis.asyncio as aioredis

from backend.core.policy import DEFAULT_AHT_S, OfferSettings, learned_seconds
from backend.domain.reps import PRESENCE_TIMEOUT_S
from backend.store import keys
from backend.store.scripts import Scripts
from backend.domain.tasks import cancel

log = logging.getLogger("beckon.offers")

SAMPLES_KEPT = 100
LIVE_WINDOW_MS = 90_000  # a visitor not heard from for this long has left the page
MAX_CANDIDATES = 200

Publish = Callable[[str, str, dict[str, Any]], Awaitable[None]]


def offer_command(offer: dict[str, Any], now_ms: int) -> dict[str, Any]:
    return {
        "type": "offer",
        "id": offer["id"],
        "kind": offer["kind"],
        "variant": offer["variant"],
        "short": bool(offer["short"]),
        "ttl_ms": max(0, int(offer["deadline"]) - now_ms),
    }


class Broker:
    def __init__(self, redis: aioredis.Redis, scripts: Scripts, publish: Publish,
                 settings_for: Callable[[str], Awaitable[OfferSettings | None]]) -> None:
        self.redis = redis
        self.scripts = scripts
        self.publish = publish
        self.settings_for = settings_for
        self._running: set[str] = set()
        self._again: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def timings(self, site: str, cfg: OfferSettings) -> dict[str, float]:
        """Response timeout, acceptable wait and average handle time, learned where possible."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.lrange(keys.response_times(site), 0, SAMPLES_KEPT - 1)
            pipe.lrange(keys.accepted_waits(site), 0, SAMPLES_KEPT - 1)
            pipe.lrange(keys.handle_times(site), 0, SAMPLES_KEPT - 1)
            resp, waits, handles = await pipe.execute()
        timeout = learned_seconds([float(x) for x in resp], cfg.response_timeout_s, cfg.timeout_min_s,
                                  cfg.timeout_max_s)
        acceptable = cfg.acceptable_wait_s
        if cfg.learn_acceptable_wait:
            acceptable = learned_seconds([float(x) for x in waits], cfg.acceptable_wait_s, 0, 3600)
        aht = sum(float(x) for x in handles) / len(handles) / 1000 if handles else DEFAULT_AHT_S
        return {"timeout_s": timeout, "acceptable_wait_s": acceptable, "aht_s": aht}

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
            await self.redis.sadd(keys.NEEDY_SITES, site)  # so the ticker looks at it too
            while True:
                self._again.discard(site)
                try:
                    await self.run(site)
                except Exception:  # noqa: BLE001 - the ticker retries; a poke must not crash
                    log.exception("offer broker run failed for a site")
                if site not in self._again:
                    return
        finally:
            self._running.discard(site)

    async def run(self, site: str) -> list[dict[str, Any]]:
        """Make every offer the site's capacity allows now, and push them."""
        cfg = await self.settings_for(site)
        if cfg is None:
            return []
        t = await self.timings(site, cfg)
        now = int(time.time() * 1000)
        raw = await self.scripts.broker(
            keys=[keys.presence(site), keys.rep_status(site), keys.capacity(site), keys.load(site),
                  keys.offers(site), keys.requests(site), keys.needy(site), keys.DEADLINES],
            args=[now, PRESENCE_TIMEOUT_S * 1000, t["aht_s"], t["acceptable_wait_s"], int(t["timeout_s"] * 1000),
                  keys.site_prefix(site), site,
                  json.dumps({"variant": cfg.variant, "min_cart_value": cfg.min_cart_value,
                              "require_access_code": cfg.require_access_code,
                              "short_for_first_visit": cfg.short_for_first_visit,
                              "leave_message": cfg.leave_message and bool(cfg.sales_email)}),
                  MAX_CANDIDATES, LIVE_WINDOW_MS, secrets.token_urlsafe(9) + "-"],
        )
        made = json.loads(raw)
        for offer in made:
            await self.publish(site, offer["vid"], offer_command(offer, now))
        return made

    async def sweep(self, cooldown_for: Callable[[str], Awaitable[float]]) -> set[str]:
        """Withdraw offers past their deadline; returns the sites that got slots back."""
        now = int(time.time() * 1000)
        due = await self.redis.zrangebyscore(keys.DEADLINES, "-inf", now, start=0, num=500)
        freed: set[str] = set()
        for member in due:
            site, _, vid = member.partition(" ")
            withdrawn = await self.scripts.withdraw(
                keys=[keys.offer(site, vid), keys.offers(site), keys.cooldown(site, vid), keys.DEADLINES],
                args=[vid, member, now, int(await cooldown_for(site))],
            )
            if withdrawn:
                freed.add(site)
                await self.publish(site, vid, {"type": "withdraw", "id": withdrawn})
        return freed

    async def respond(self, site: str, vid: str, offer_id: str, action: str, cfg: OfferSettings,
                      visitor_ttl_s: int) -> dict[str, Any]:
        """accept | dismiss | message. Returns ``{"ok": ..., "request": ...}`` or ``{"error": ...}``."""
        req_id = secrets.token_urlsafe(12)
        raw = await self.scripts.respond(
            keys=[keys.offer(site, vid), keys.offers(site), keys.cooldown(site, vid), keys.DEADLINES,
                  keys.requests(site), keys.request(site, req_id), keys.response_times(site),
                  keys.visitor(site, vid), keys.visitor_chats(site, vid)],
            args=[vid, offer_id, action, int(time.time() * 1000), int(cfg.cooldown_s), req_id,
                  f"{site} {vid}", SAMPLES_KEPT, visitor_ttl_s],
        )
        result = json.loads(raw)
        if "error" not in result and action != "accept":
            await self.publish(site, vid, {"type": "withdraw", "id": offer_id})
        return result

    async def current(self, site: str, vid: str) -> dict[str, Any] | None:
        raw = await self.redis.hgetall(keys.offer(site, vid))
        if not raw:
            return None
        return offer_command(raw, int(time.time() * 1000))


class Ticker:
    """Runs the broker for every site once a tick and sweeps expired offers, in each web
    worker (the scripts are atomic, so workers may overlap)."""

    def __init__(self, broker: Broker, redis: aioredis.Redis,
                 cooldown_for: Callable[[str], Awaitable[float]], interval_s: float = 0.5) -> None:
        self.broker = broker
        self.redis = redis
        self.cooldown_for = cooldown_for
        self.interval_s = interval_s
        self.task: asyncio.Task[None] | None = None

    async def tick(self) -> None:
        for site in await self.broker.sweep(self.cooldown_for):
            await self.broker.run(site)
        # Only sites that may have visitors needing help: not every site, every half second.
        for site in await self.redis.smembers(keys.NEEDY_SITES):
            if await self.redis.zcard(keys.needy(site)):
                await self.broker.run(site)
            else:
                await self.redis.srem(keys.NEEDY_SITES, site)
                if await self.redis.zcard(keys.needy(site)):  # someone became needy meanwhile
                    await self.redis.sadd(keys.NEEDY_SITES, site)

    async def seed(self) -> None:
        """After a restart: every site with needy visitors goes back on the ticker's list."""
        for site in await self.redis.smembers(keys.SITES):
            if await self.redis.zcard(keys.needy(site)):
                await self.redis.sadd(keys.NEEDY_SITES, site)

    async def _loop(self) -> None:
        try:
            await self.seed()
        except Exception:  # noqa: BLE001 - the pokes refill the list anyway
            log.exception("could not seed the list of sites with needy visitors")
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a failed tick (Redis restarting) must not end the loop
                log.exception("offer tick failed")
                await asyncio.sleep(2)
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        self.task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        await cancel(self.task)
