"""One pub/sub connection per web worker. A channel (one per visitor, one per
representative, one per site's console) is subscribed while a connection on this worker
listens to it.

The hub also vouches for the pages it holds: every PAGE_CONFIRM_S it records in Redis that
their visitors' pages are open, which is how the broker and the request expiry tell an open
page from a closed tab (core/policy.py:page_present)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Protocol

import redis.asyncio as aioredis

from backend.core.policy import PAGE_CONFIRM_S, SOCKET_WINDOW_MS
from backend.domain.tasks import cancel
from backend.store import keys

log = logging.getLogger("beckon.push")


class Receiver(Protocol):
    """A page's or console's connection, or anything that stands in for one."""

    async def send_text(self, data: str) -> None: ...


class Hub:
    def __init__(self, redis: aioredis.Redis, page_grace_ms: int) -> None:
        self.redis = redis
        self.page_grace_ms = page_grace_ms
        self.pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self.sockets: dict[str, set[Receiver]] = {}
        self.pages: dict[tuple[str, str], int] = {}  # (site, visitor) -> page connections here
        self.task: asyncio.Task[None] | None = None
        self.confirm_task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()  # set once anything is subscribed: the reader waits for it

    async def publish(self, site: str, vid: str, message: dict[str, Any]) -> None:
        """To every page of one visitor."""
        await self.redis.publish(keys.push_channel(site, vid), json.dumps(message))

    @staticmethod
    def console_channels(site: str, rid: str) -> tuple[str, str]:
        """What a representative's console listens to: the site's queue changes, and the
        rep's own chats."""
        return keys.console_channel(site), keys.rep_channel(site, rid)

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        await self.redis.publish(channel, json.dumps(message))

    async def attach_page(self, site: str, vid: str, ws: Receiver) -> None:
        page = (site, vid)
        self.pages[page] = self.pages.get(page, 0) + 1
        if self.pages[page] == 1:
            await self.redis.zadd(keys.pages(site), {vid: int(time.time() * 1000)})
        await self.attach(keys.push_channel(site, vid), ws)

    async def detach_page(self, site: str, vid: str, ws: Receiver) -> None:
        await self.detach(keys.push_channel(site, vid), ws)
        page = (site, vid)
        self.pages[page] = self.pages.get(page, 1) - 1
        if self.pages[page] <= 0:
            del self.pages[page]
            # Gone from here: stale after the grace, unless another worker holds a page of
            # the visitor (it confirms sooner) or the next page of the visit connects.
            stale_in = int(time.time() * 1000) - SOCKET_WINDOW_MS + self.page_grace_ms
            await self.redis.zadd(keys.pages(site), {vid: stale_in}, xx=True)

    async def confirm_pages(self) -> None:
        now = int(time.time() * 1000)
        by_site: dict[str, dict[str, int]] = {}
        for site, vid in self.pages:
            by_site.setdefault(site, {})[vid] = now
        async with self.redis.pipeline(transaction=False) as pipe:
            for site, members in by_site.items():
                pipe.zadd(keys.pages(site), members)
                pipe.zremrangebyscore(keys.pages(site), "-inf", now - 4 * SOCKET_WINDOW_MS)
            await pipe.execute()

    async def _confirm_loop(self) -> None:
        while True:
            await asyncio.sleep(PAGE_CONFIRM_S)
            try:
                await self.confirm_pages()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - Redis restarting; confirm again next time
                log.warning("could not confirm open pages; retrying")

    async def attach(self, channel: str, ws: Receiver) -> None:
        sockets = self.sockets.setdefault(channel, set())
        sockets.add(ws)
        if len(sockets) == 1:
            await self.pubsub.subscribe(channel)
            self.ready.set()

    async def detach(self, channel: str, ws: Receiver) -> None:
        sockets = self.sockets.get(channel)
        if sockets is None:
            return
        sockets.discard(ws)
        if not sockets:
            del self.sockets[channel]
            await self.pubsub.unsubscribe(channel)

    @property
    def connections(self) -> int:
        return sum(len(s) for s in self.sockets.values())

    async def _deliver(self, channel: str, data: str) -> None:
        for ws in list(self.sockets.get(channel, ())):
            try:
                await ws.send_text(data)
            except Exception:  # noqa: BLE001 - a closed socket is detached by its own handler
                pass

    async def _reader(self) -> None:
        while True:
            try:
                if not self.pubsub.subscribed:
                    self.ready.clear()
                    await self.ready.wait()
                    continue
                message = await self.pubsub.get_message(timeout=1.0)
                if message and message["type"] == "message":
                    await self._deliver(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - reconnect after Redis trouble; pages resubscribe
                log.exception("push reader failed; retrying")
                await asyncio.sleep(1)
                channels = list(self.sockets)
                self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                if channels:
                    await self.pubsub.subscribe(*channels)

    def start(self) -> None:
        self.task = asyncio.create_task(self._reader())
        self.confirm_task = asyncio.create_task(self._confirm_loop())

    async def stop(self) -> None:
        await cancel(self.confirm_task)
        await cancel(self.task)
        await self.pubsub.aclose()
