"""Pub/sub for the push hub, the same on a single Redis and on a cluster: sharded channels
(SPUBLISH / SSUBSCRIBE, Redis 7). A channel's name carries its site's hash tag, so on a
cluster each site's messages travel through the one shard that owns the site instead of being
broadcast to every node, and one busy site does not flood the others."""

from __future__ import annotations

from typing import Any

from redis.asyncio.cluster import RedisCluster

from backend.store import Client


class Subscriber:
    """One worker's subscription connection(s): on a cluster, one per shard it listens to."""

    def __init__(self, client: Client) -> None:
        self.cluster = isinstance(client, RedisCluster)
        self.pubsub: Any = client.pubsub() if self.cluster else client.pubsub(ignore_subscribe_messages=True)

    @property
    def subscribed(self) -> bool:
        if self.cluster:
            return bool(getattr(self.pubsub, "shard_channels", None)) or any(
                p.subscribed for p in getattr(self.pubsub, "node_pubsub_mapping", {}).values())
        return bool(self.pubsub.subscribed)

    async def subscribe(self, *channels: str) -> None:
        await self.pubsub.ssubscribe(*channels)

    async def unsubscribe(self, *channels: str) -> None:
        await self.pubsub.sunsubscribe(*channels)

    async def get_message(self, timeout: float) -> tuple[str, str] | None:
        """The next message's (channel, data), or None after ``timeout``."""
        if self.cluster:
            message = await self.pubsub.get_sharded_message(ignore_subscribe_messages=True, timeout=timeout)
        else:
            message = await self.pubsub.get_message(timeout=timeout)
        if message and message["type"] == "smessage":
            return message["channel"], message["data"]
        return None

    async def aclose(self) -> None:
        await self.pubsub.aclose()


async def publish(client: Client, channel: str, data: str) -> None:
    await client.spublish(channel, data)
