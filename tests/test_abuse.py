"""Abuse limits against the product as operators run it (``beckon serve``): guessing
passwords in parallel, and spoofing the client address through X-Forwarded-For."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from backend.domain.logins import ADDRESS_ALLOWED, DELAY_MAX_S, EMAIL_FREE, PAIR_ALLOWED, verdict
from backend.testing.servers import RedisServer
from tests.helpers import Live, make_rep


@pytest.fixture()
def served(redis_server: RedisServer, redis_client) -> Live:
    server = Live(redis_server.url)
    make_rep(server.api, server.key, email="ria@shop.example")
    yield server
    server.stop()


def csrf(client: httpx.Client | httpx.AsyncClient, html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_parallel_guesses_are_counted_before_any_is_checked(served: Live) -> None:
    async def guess_40() -> list[int]:
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
            token = csrf(client, (await client.get("/console/login")).text)
            form = {"csrf": token, "email": "ria@shop.example", "password": "not the password"}
            answers = await asyncio.gather(*(client.post("/console/login", data=form) for _ in range(40)))
            return [a.status_code for a in answers]

    codes = asyncio.run(guess_40())
    assert codes.count(401) == PAIR_ALLOWED  # checked, and wrong
    assert codes.count(429) == 40 - PAIR_ALLOWED  # refused unchecked


def test_a_forged_forwarded_for_does_not_make_a_new_address(served: Live) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as client:
        token = csrf(client, client.get("/console/login").text)
        codes = [client.post("/console/login", headers={"X-Forwarded-For": f"203.0.113.{i}"},
                             data={"csrf": token, "email": "ria@shop.example", "password": "wrong again"}
                             ).status_code for i in range(PAIR_ALLOWED + 1)]
        assert codes == [401] * PAIR_ALLOWED + [429]


def test_guessing_from_elsewhere_slows_the_account_but_never_locks_its_owner_out() -> None:
    # from one address: locked after PAIR_ALLOWED, whatever the account's history
    assert not verdict(PAIR_ALLOWED + 1, 1, 1).allowed
    assert not verdict(1, ADDRESS_ALLOWED + 1, 1).allowed
    # the owner, from their own address, after a thousand guesses from elsewhere: allowed, slowed
    owner = verdict(1, 1, 1000)
    assert owner.allowed and owner.delay_s == DELAY_MAX_S
    delays = [verdict(1, 1, n).delay_s for n in range(1, EMAIL_FREE + 6)]
    assert delays[:EMAIL_FREE] == [0.0] * EMAIL_FREE and delays[EMAIL_FREE:] == sorted(delays[EMAIL_FREE:])
    assert delays[EMAIL_FREE] > 0
