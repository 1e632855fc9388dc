"""A flooded worker turns batches of events away at once (503 with Retry-After), so chat
keeps its share of the worker (scripts/bench/chat.py measures chat under a flood); a worker
with room takes them."""

from __future__ import annotations

import asyncio
import json

import httpx

from backend.web.load_gate import GateLimits, overloaded
from backend.testing.servers import RedisServer
from tests.helpers import Live, TEXT, batch


def test_the_decision() -> None:
    limits = GateLimits(max_inflight=64, max_lag_ms=100)
    assert not overloaded(63, 99.0, limits)
    assert overloaded(64, 0.0, limits)
    assert overloaded(4, 150.0, limits)  # late, and batches are piling up
    assert not overloaded(1, 500.0, limits)  # late for another reason: shedding would not help


def test_a_flood_is_shed_with_retry_after_then_taken_again(redis_server: RedisServer, redis_client) -> None:
    live = Live(redis_server.url, env={"BECKON_COLLECTOR_MAX_INFLIGHT": "4"})
    try:
        def body(i: int) -> str:
            return json.dumps(batch(live.key, [{"t": "pv", "url": live.demo_url + "/", "title": "Home"}],
                                    vid=f"visitor-{i:04d}"))

        headers = {**TEXT, "Origin": live.demo_url}

        async def flood() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=live.url, timeout=30,
                                         limits=httpx.Limits(max_connections=200)) as client:
                return await asyncio.gather(*(client.post("/v1/events", content=body(i), headers=headers)
                                              for i in range(150)))

        answers = asyncio.run(flood())
        codes = [a.status_code for a in answers]
        assert set(codes) <= {200, 503}, codes
        shed = [a for a in answers if a.status_code == 503]
        assert shed and codes.count(200) >= 4
        assert all(a.headers["retry-after"] == "2" and a.json()["error"] == "busy; retry later" for a in shed)
        assert shed[0].headers["access-control-allow-origin"] == live.demo_url  # the page can read it
        # once the flood is over, batches are taken again
        r = httpx.post(live.url + "/v1/events", content=body(999), headers=headers)
        assert r.status_code == 200
    finally:
        live.stop()
