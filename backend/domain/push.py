"""One pub/sub connection per web worker. A channel (one per visitor, one per
representative, one per site's console) is subscribed while a connection on this worker
listens to it.

The hub also vouches for the pages it holds: every PAGE_CONFIRM_S it records in Redis that
their visitors' pages are open, which is how the broker and the request expiry tell an open
page from a closed tab (core/policy.py:page_present).

When Redis goes away the reader keeps trying, with backoff, until it is back; then it
subscribes every channel again and catches its pages and consoles up on what they missed
meanwhile (``catch_up``; pages drop messages they already have). Until then ``delivering``
is False and /healthz says so."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any, Awaitable, Callable, Protocol

from backend.core.policy import PAGE_CONFIRM_S, SOCKET_WINDOW_MS
from backend.domain.tasks import UNAVAILABLE, Backoff, Outage, cancel
from backend.store import Client, keys, unreachable
from backend.store.channels import Subscriber, publish

log = logging.getLogger("beckon.push")


class Receiver(Protocol):
    """A page's or console's connection, or anything that stands in for one. One that also
    has ``resync()`` is asked to refresh itself after an outage (the console's Tap)."""

    async def send_text(self, data: str) -> None: ...


# The frames that bring one visitor's pages up to date: (site, visitor) -> frames.
CatchUp = Callable[[str, str], Awaitable[list[dict[str, Any]]]]


class Hub:
    def __init__(self, redis: Client, page_grace_ms: int, outage: Outage | None = None) -> None:
        self.redis = redis
        self.page_grace_ms = page_grace_ms
        self.outage = outage or Outage(log)
        self.pubsub = Subscriber(redis)
        self.sockets: dict[str, set[Receiver]] = {}  # channel -> connections here listening to it
        self.sites: dict[str, int] = {}  # site -> channels here of that site (its hub channel is subscribed)
        self.pages: dict[tuple[str, str], int] = {}  # (site, visitor) -> page connections here
        self.task: asyncio.Task[None] | None = None
        self.confirm_task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()  # set once anything is subscribed: the reader waits for it
        self.catch_up: CatchUp | None = None  # set by Services: chats and offers
        self.delivering = True  # False from losing the pub/sub connection until resubscribed
        self._resync = False  # a (un)subscribe failed: subscribe everything afresh
        self._lock = asyncio.Lock()  # one (un)subscribe at a time on the pub/sub connection

    async def publish(self, site: str, vid: str, message: dict[str, Any]) -> None:
        """To every page of one visitor."""
        await self.send(keys.push_channel(site, vid), message)

    @staticmethod
    def console_channels(site: str, rid: str) -> tuple[str, str]:
        """What a representative's console listens to: the site's queue changes, and the
        rep's own chats."""
        return keys.console_channel(site), keys.rep_channel(site, rid)

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Through the site's hub channel, addressed to ``channel``: a worker subscribes once
        per site it holds connections of, not once per page, so pages coming and going cost
        no (un)subscribe (on a cluster those stalled a worker under churn)."""
        await self.send_many([channel], message)

    async def send_many(self, channels: list[str], message: dict[str, Any]) -> None:
        """One publish to several channels of one site (a chat message to the visitor's pages
        and the rep's consoles): ``"<channel> <channel>\\n<json>"``."""
        site = keys.site_of(channels[0])
        assert all(keys.site_of(c) == site and " " not in c for c in channels), channels
        await publish(self.redis, keys.hub_channel(site), " ".join(channels) + "\n" + json.dumps(message))

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
            await self._mark_gone(site, vid)

    async def confirm_pages(self) -> None:
        now = int(time.time() * 1000)
        confirmed = list(self.pages)
        by_site: dict[str, dict[str, int]] = {}
        for site, vid in confirmed:
            by_site.setdefault(site, {})[vid] = now
        async with self.redis.pipeline(transaction=False) as pipe:
            for site, members in by_site.items():
                pipe.zadd(keys.pages(site), members)
                pipe.zremrangebyscore(keys.pages(site), "-inf", now - 4 * SOCKET_WINDOW_MS)
            await pipe.execute()
        # A page that closed while this was on its way may have had its "gone" mark written
        # first (another connection) and then overwritten by "open" from here: mark it again,
        # or it would look open for another SOCKET_WINDOW_MS.
        for site, vid in confirmed:
            if (site, vid) not in self.pages:
                await self._mark_gone(site, vid)

    async def _mark_gone(self, site: str, vid: str) -> None:
        """Stale after the grace, unless another worker holds a page of the visitor (it
        confirms sooner) or the next page of the visit connects."""
        stale_in = int(time.time() * 1000) - SOCKET_WINDOW_MS + self.page_grace_ms
        with contextlib.suppress(*UNAVAILABLE):  # without Redis it goes stale by itself
            await self.redis.zadd(keys.pages(site), {vid: stale_in}, xx=True)

    async def _confirm_loop(self) -> None:
        while True:
            await asyncio.sleep(PAGE_CONFIRM_S)
            try:
                await self.confirm_pages()
                self.outage.back()
            except asyncio.CancelledError:
                raise
            except UNAVAILABLE as exc:  # confirm again next time
                self.outage.lost(exc, "page confirmations")

    async def attach(self, channel: str, ws: Receiver) -> None:
        sockets = self.sockets.setdefault(channel, set())
        sockets.add(ws)
        if len(sockets) == 1:
            site = keys.site_of(channel)
            self.sites[site] = self.sites.get(site, 0) + 1
            if self.sites[site] == 1:
                await self._subscription("subscribe", keys.hub_channel(site))
            self.ready.set()

    async def detach(self, channel: str, ws: Receiver) -> None:
        sockets = self.sockets.get(channel)
        if sockets is None:
            return
        sockets.discard(ws)
        if not sockets:
            del self.sockets[channel]
            site = keys.site_of(channel)
            self.sites[site] -= 1
            if self.sites[site] <= 0:
                del self.sites[site]
                await self._subscription("unsubscribe", keys.hub_channel(site))

    async def _subscription(self, command: str, channel: str) -> None:
        """(Un)subscribe one channel. Without Redis the reader subscribes everything in
        ``sockets`` again once it is back, so a connection attaching meanwhile is not refused."""
        try:
            async with self._lock:
                await getattr(self.pubsub, command)(channel)
        except UNAVAILABLE:
            self._resync = True
            self.ready.set()

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
        backoff = Backoff()
        while True:
            try:
                if self._resync:
                    await self._resubscribe()
                    backoff.reset()
                    continue
                if not self.pubsub.subscribed:
                    self.ready.clear()
                    await self.ready.wait()
                    continue
                message = await self.pubsub.get_message(timeout=1.0)
                if message:
                    to, _, data = message[1].partition("\n")
                    for channel in to.split(" "):
                        await self._deliver(channel, data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - an outage, or a bug: either way start afresh
                self.delivering = False
                self._resync = True
                if unreachable(exc):
                    self.outage.lost(exc, "live delivery")
                else:
                    log.exception("push reader failed; subscribing again")
                await asyncio.sleep(backoff.next())

    async def _resubscribe(self) -> None:
        """A fresh pub/sub connection with every channel a connection here listens to."""
        async with self._lock:
            old, self.pubsub = self.pubsub, Subscriber(self.redis)
            self._resync = False
            with contextlib.suppress(Exception):
                await old.aclose()
            channels = [keys.hub_channel(site) for site in self.sites]
            if channels:
                await self.pubsub.subscribe(*channels)
            else:
                await self.redis.ping()
        missed = not self.delivering
        self.delivering = True
        self.outage.back()
        if missed:
            await self._catch_up()

    async def _catch_up(self) -> None:
        """What was published while this worker was not subscribed never reached it: each
        page here gets its chat's state and messages again, each console a fresh snapshot."""
        for site, vid in list(self.pages):
            frames = await self.catch_up(site, vid) if self.catch_up else []
            for frame in frames:
                await self._deliver(keys.push_channel(site, vid), json.dumps(frame))
        for sockets in list(self.sockets.values()):
            for ws in list(sockets):
                resync = getattr(ws, "resync", None)
                if resync is not None:
                    resync()

    def start(self) -> None:
        self.task = asyncio.create_task(self._reader())
        self.confirm_task = asyncio.create_task(self._confirm_loop())

    async def stop(self) -> None:
        await cancel(self.confirm_task)
        await cancel(self.task)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pubsub.aclose(), 2)
