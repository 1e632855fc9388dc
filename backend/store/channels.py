"""Pub/sub for the push hub, the same on a single Redis and on a cluster: sharded channels
(SPUBLISH / SSUBSCRIBE, Redis 7). A channel's name carries its site's hash tag, so on a
cluster each site's messages travel through the one shard that owns the site instead of being
broadcast to every node, and one busy site does not flood the others."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio.cluster import RedisCluster

from backend.store import Client

CLUSTER_POLL_S = 0.005


class Subscriber:
    """One worker's subscription connection(s): on a cluster, one per shard it listens to."""

    def __init__(self, client: Client) -> None:
        self.cluster = isinstance(client, RedisCluster)
        self.pubsub: Any = client.pubsub() if self.cluster else client.pubsub(ignore_subscribe_messages=True)
        self.channels: set[str] = set()

    @property
    def subscribed(self) -> bool:
        return bool(self.channels)

    async def subscribe(self, *channels: str) -> None:
        await self.pubsub.ssubscribe(*channels)
        self.channels.update(channels)

    async def unsubscribe(self, *channels: str) -> None:
        self.channels.difference_update(channels)
        await self.pubsub.sunsubscribe(*channels)

    async def get_message(self, timeout: float) -> tuple[str, str] | None:
        """The next message's (channel, data), or None after ``timeout``."""
        if self.cluster:
            # redis-py's cluster pub/sub waits on one shard at a time, and answers at once when it
            # has none: poll every shard briefly instead, pausing between rounds, so a message on
            # any shard waits at most a few ms and an idle reader never spins.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                try:
                    message = await self.pubsub.get_sharded_message(ignore_subscribe_messages=True,
                                                                    timeout=CLUSTER_POLL_S)
                except RuntimeError:  # a shard's connection left by its last unsubscribe
                    message = None
                if message or loop.time() >= deadline:
                    break
                await asyncio.sleep(CLUSTER_POLL_S)
        else:
            message = await self.pubsub.get_message(timeout=timeout)
        if message and message["type"] == "smessage":
            return message["channel"], message["data"]
        return None

    async def aclose(self) -> None:
        await self.pubsub.aclose()


async def publish(client: Client, channel: str, data: str) -> None:
    await client.spublish(channel, data)
