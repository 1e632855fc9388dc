"""One pub/sub connection per web worker. A channel (one per visitor, one per
representative, one per site's console) is subscribed while a connection on this worker
listens to it."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import redis.asyncio as aioredis
from starlette.websockets import WebSocket

from backend.store import keys
from backend.domain.tasks import cancel

log = logging.getLogger("beckon.push")


class Hub:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self.pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self.sockets: dict[str, set[WebSocket]] = {}
        self.task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()  # set once anything is subscribed: the reader waits for it

    async def publish(self, site: str, vid: str, message: dict[str, Any]) -> None:
        """To every page of one visitor."""
        await self.redis.publish(keys.push_channel(site, vid), json.dumps(message))

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        await self.redis.publish(channel, json.dumps(message))

    async def attach(self, channel: str, ws: WebSocket) -> None:
        sockets = self.sockets.setdefault(channel, set())
        sockets.add(ws)
        if len(sockets) == 1:
            await self.pubsub.subscribe(channel)
            self.ready.set()

    async def detach(self, channel: str, ws: WebSocket) -> None:
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

    async def stop(self) -> None:
        await cancel(self.task)
        await self.pubsub.aclose()
