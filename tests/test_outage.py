"""Bad days: Redis goes away under a running system (2 web workers, pages and a console
connected) and comes back on the same port, or goes away for good before the web server is
stopped. Live delivery must come back by itself, nothing acknowledged may be lost, /healthz
must tell the truth meanwhile, and the workers must still stop promptly, logging the outage
once rather than a traceback per tick."""

from __future__ import annotations

import signal
import time
from typing import Any, Iterator

import httpx
import pytest

from backend.testing.servers import RedisServer, poll
from tests.helpers import ConsoleSocket, Customer, Live, let_the_ticker_run, make_rep

PAGES = 6  # over 2 workers: each is all but certain to hold some
LATER = 4  # messages per chat after the restart
OUTAGE_S = 3.0


@pytest.fixture()
def durable_redis() -> Iterator[RedisServer]:
    """A Redis of its own (this test kills it) that keeps every acknowledged write."""
    server = RedisServer(persist=True)
    yield server
    server.stop()


def in_chats(live: Live, pages: int) -> tuple[ConsoleSocket, list[Any]]:
    """A representative with room for ``pages`` chats, on the console, in a chat with each of
    ``pages`` customers whose page is connected."""
    make_rep(live.api, live.key, email="ria@shop.example", capacity=pages)
    rep = ConsoleSocket(live, "ria@shop.example")
    rep.send({"type": "presence", "status": "available"})
    rep.expect(lambda m: m["type"] == "presence")
    customers = []
    for i in range(pages):
        customer = Customer(live, f"visitor-{i:04d}")
        customer.chat = customer.ask_for_help()
        customer.connect()
        rep.send({"type": "accept", "id": customer.chat})
        customer.expect(lambda m: m["type"] == "chat" and m["status"] == "active")
        customers.append(customer)
    return rep, customers


def texts(frame: dict[str, Any]) -> list[str]:
    """The message texts a page or console frame carries (live, history or snapshot)."""
    if frame["type"] == "msg":
        return [frame["msg"]["text"]]
    if frame["type"] == "history":
        return [m["text"] for m in frame["msgs"]]
    if frame["type"] == "chats":
        return [m["text"] for chat in frame["chats"] for m in chat["messages"]]
    return []


def receives(connection: Any, wanted: set[str]) -> set[str]:
    """Reads frames until every text in ``wanted`` arrived (or 10 s passed); what arrived."""
    got: set[str] = set()

    def all_there(frame: dict[str, Any]) -> bool:
        got.update(texts(frame))
        return wanted <= got

    try:
        connection.expect(all_there)
    except TimeoutError:
        pass
    return got & wanted


def health(live: Live) -> int:
    """/healthz on a fresh connection, so either worker may answer."""
    try:
        return httpx.get(live.url + "/healthz", timeout=10).status_code
    except httpx.HTTPError:
        return 0


def test_live_delivery_comes_back_after_redis_restarts(durable_redis: RedisServer) -> None:
    live = Live(durable_redis.url, workers=2)
    rep, customers = in_chats(live, PAGES)
    try:
        before = {c.chat: rep.say(c.chat, f"before, to {c.vid}") for c in customers}

        durable_redis.kill()
        time.sleep(OUTAGE_S)  # longer than any one retry: the outage of issue 8
        assert {health(live) for _ in range(4)} == {503}  # no storage, no live delivery: not healthy
        durable_redis.start()

        # Stale pooled connections are retried, not turned into errors: every request answers.
        site_url = f"{live.url}/v1/sites/{live.key}"
        answers = [httpx.get(site_url, headers=live.api.headers, timeout=10).status_code for _ in range(40)]
        assert answers == [200] * 40

        acked = {c.chat: [rep.say(c.chat, f"after {n}, to {c.vid}") for n in range(LATER)] for c in customers}
        for c in customers:
            wanted = {f"after {n}, to {c.vid}" for n in range(LATER)}
            assert receives(c, wanted) == wanted, f"{c.vid} missed messages sent after the restart"
        for c in customers:
            c.say(f"from {c.vid}, after")
        assert receives(rep, {f"from {c.vid}, after" for c in customers}) == \
            {f"from {c.vid}, after" for c in customers}, "the console missed customers' messages"

        assert poll(lambda: all(health(live) == 200 for _ in range(6)))

        stored = stored_messages(live)  # every acknowledged message is kept
        for c in customers:
            assert {before[c.chat], *acked[c.chat]} <= stored[c.chat]

        stop_within_10_s(live)
        log = live.web.output()
        assert "Traceback" not in log, log[-3000:]
        assert log.count("Redis unreachable") == 2 and log.count("Redis is back") == 2, log[-3000:]
    finally:
        for c in customers:
            c.close()
        rep.close()
        live.stop()


def stored_messages(live: Live) -> dict[str, set[str]]:
    """Message ids of each of Ria's chats, as a console opened now shows them."""
    fresh = ConsoleSocket(live, "ria@shop.example")
    try:
        frame = fresh.expect(lambda m: m["type"] == "chats")
    finally:
        fresh.close()
    return {chat["id"]: {m["id"] for m in chat["messages"]} for chat in frame["chats"]}


def stop_within_10_s(live: Live) -> None:
    live.web.proc.send_signal(signal.SIGTERM)
    live.web.proc.wait(10)  # raises TimeoutExpired if a worker hangs on


def test_workers_stop_promptly_when_redis_went_first(durable_redis: RedisServer) -> None:
    """As when scripts/start stopped Redis before the web server: the loops see Redis gone,
    log it once, and SIGTERM still ends every worker."""
    live = Live(durable_redis.url, workers=2, env={"BECKON_OFFER_TICK_S": "0.1"})
    rep, customers = in_chats(live, 2)
    waiting = Customer(live, "visitor-0100")  # needs help: the ticker runs the broker for the site
    try:
        durable_redis.kill()
        let_the_ticker_run(live.tick_s, passes=20)
        stop_within_10_s(live)
        log = live.web.output()
        assert "Traceback" not in log, log[-3000:]
        assert log.count("Redis unreachable") == 2, log[-3000:]  # once per worker, in one line
    finally:
        waiting.close()
        for c in customers:
            c.close()
        rep.close()
        live.stop()


def test_a_socket_closed_under_a_reconnect_counts_as_the_outage_not_a_bug() -> None:
    """uvloop's RuntimeError when redis-py writes to a connection whose socket closed as Redis
    went away (seen on a CI run): logged once as the outage, without a traceback."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    from backend.store import unreachable

    closed = RuntimeError("unable to perform operation on <TCPTransport closed=True reading=False 0x5>; "
                          "the handler is closed")
    assert unreachable(closed) and unreachable(RedisConnectionError("refused"))
    assert not unreachable(RuntimeError("something else")) and not unreachable(ValueError("closed"))
