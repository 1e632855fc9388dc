"""The collector's pipelined Redis connection (store/lane.py), against real Redis: many batches
in flight on one connection each get their own answer, and what a lane cannot do itself (a
script Redis forgot, a frozen or restarted Redis) still ends in an answer."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal

import pytest

from backend.config import Settings
from backend.core.protocol import Batch
from backend.domain.services import Services
from backend.store import UNAVAILABLE
from backend.testing.servers import RedisServer
from tests.helpers import ORIGIN


async def _services(settings: Settings) -> tuple[Services, object]:
    svc = Services.build(settings)
    await svc.open()
    key = (await svc.sites.create("Lane shop", [ORIGIN])).key
    site = await svc.sites.get(key)
    return svc, site


def _cart(vid: str, value: int) -> Batch:
    return Batch(site="", vid=vid, pid="pageview-0001", consent=False,
                 events=[{"t": "pv", "url": ORIGIN + "/p/" + vid, "title": "P", "visits": 1},
                         {"t": "cart", "value": value, "currency": "EUR"}])


def test_batches_in_flight_together_each_get_their_own_answer(settings: Settings, redis_client) -> None:
    """300 visitors at once, each with its own cart: every answer is its caller's (its own
    token, its own score), and Redis holds each visitor's own cart."""
    settings = dataclasses.replace(settings, rate_visitor_per_min=10**6, rate_ip_per_min=10**6)

    async def run() -> None:
        svc, site = await _services(settings)
        try:
            vids = [f"lane-visitor-{i:04d}" for i in range(300)]
            scored = await asyncio.gather(*(svc.visitors.ingest(site, _cart(v, 100 + i), "127.0.0.1")
                                            for i, v in enumerate(vids)))
            assert len({s.token for s in scored}) == 300
            for i, (vid, s) in enumerate(zip(vids, scored)):
                assert await svc.visitors.token_ok(site.key, vid, s.token)
                cart = next((r for r in s.reasons if r["rule"] == "cart_value"), None)
                assert cart is not None and cart["value"] == 100 + i
        finally:
            await svc.stop()

    asyncio.run(run())


def test_a_script_redis_forgot_is_loaded_again(settings: Settings, redis_client) -> None:
    async def run() -> None:
        svc, site = await _services(settings)
        try:
            await svc.visitors.ingest(site, _cart("lane-visitor-0001", 10), "127.0.0.1")
            for node in ([redis_client] if not hasattr(redis_client, "get_primaries") else
                         [redis_client.get_redis_connection(n) for n in redis_client.get_primaries()]):
                node.script_flush()
            scored = await svc.visitors.ingest(site, _cart("lane-visitor-0001", 20), "127.0.0.1")
            assert any(r["rule"] == "cart_value" and r["value"] == 20 for r in scored.reasons)
        finally:
            await svc.stop()

    asyncio.run(run())


def test_a_frozen_redis_fails_the_batch_instead_of_holding_it_and_a_restart_costs_nothing() -> None:
    """SIGSTOP: the batch waiting on the lane fails (the collector answers 503) after the
    lane's timeout, instead of hanging. A Redis restarted meanwhile is found again."""
    own = RedisServer()
    settings = Settings(redis_url=own.url, queue_redis_url=own.url, admin_token="lane-admin-token")

    async def run() -> None:
        svc, site = await _services(settings)
        try:
            await svc.visitors.ingest(site, _cart("lane-visitor-0001", 10), "127.0.0.1")
            os.kill(own.pid, signal.SIGSTOP)
            try:
                with pytest.raises(UNAVAILABLE):  # the lane's error; a hang would end in asyncio's
                    await asyncio.wait_for(svc.visitors.ingest(site, _cart("lane-visitor-0001", 11), "127.0.0.1"),
                                           60)
            finally:
                os.kill(own.pid, signal.SIGCONT)
            own.kill()
            own.start()  # empty: a fresh Redis on the same port
            key = (await svc.sites.create("Lane shop again", [ORIGIN])).key
            site2 = await svc.sites.get(key)
            scored = await svc.visitors.ingest(site2, _cart("lane-visitor-0002", 12), "127.0.0.1")
            assert scored.token
        finally:
            await svc.stop()

    try:
        asyncio.run(run())
    finally:
        own.stop()
