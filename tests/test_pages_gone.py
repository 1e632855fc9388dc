"""A page that is gone holds nothing: its waiting chat request ends within seconds and frees
the representative's slot, and a freed slot is offered only to visitors whose page is still
open (real Redis, the app's own ticker)."""

from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from backend.config import Settings
from backend.core.policy import live_window_ms
from backend.testing.servers import RedisServer
from tests.helpers import (
    ADMIN, NEEDY, admin, ingest, let_the_ticker_run, make_rep, offered, page_socket, poll, presence,
    respond,
    waiting_request,
)

GRACE_S = 1.0
HEARTBEAT_S = 1  # so a page that stops sending is gone after live_window_ms(1) = 7 s


@pytest.fixture()
def settings(redis_server: RedisServer) -> Settings:
    return Settings(redis_url=redis_server.url, queue_redis_url=redis_server.queue_url, admin_token=ADMIN,
                    rate_visitor_per_min=1000,
                    rate_ip_per_min=10_000, page_grace_s=GRACE_S, heartbeat_s=HEARTBEAT_S, holdout_default=0.0)


def availability(client: TestClient, key: str) -> dict:
    return client.get(f"/v1/sites/{key}/availability", headers=admin()).json()


def waiting(client: TestClient, key: str) -> list[str]:
    return [r["id"] for r in client.get(f"/v1/sites/{key}/requests", headers=admin()).json()["requests"]]


def test_a_request_whose_page_said_goodbye_ends_and_frees_the_only_slot(client: TestClient, site: dict) -> None:
    key = site["key"]
    presence(client, key, make_rep(client, key, capacity=1), "available")
    request = waiting_request(client, key, "visitor-gone")
    assert waiting(client, key) == [request]
    assert availability(client, key)["in_use"] == 1
    ingest(client, key, "visitor-gone", [{"t": "bye"}])  # the tab closed: pagehide's beacon
    assert poll(lambda: waiting(client, key) == [], timeout=GRACE_S + 5), waiting(client, key)
    slots = availability(client, key)
    assert slots["pending_requests"] == 0 and slots["in_use"] == 0 and slots["estimated_wait_s"] == 0
    # and the next visitor is offered help on the slot it held
    ingest(client, key, "visitor-next")
    assert offered(client, key, "visitor-next")["cmd"]["kind"] == "help"


def test_a_request_lives_while_its_page_is_connected_and_ends_once_it_is_not(client: TestClient, site: dict) -> None:
    key = site["key"]
    presence(client, key, make_rep(client, key, capacity=1), "available")
    ingest(client, key, "visitor-sock")
    answer = offered(client, key, "visitor-sock")
    with page_socket(client, key, "visitor-sock") as ws:
        ws.receive_json()  # the offer
        r = respond(client, key, "visitor-sock", answer["tok"], answer["cmd"]["id"], "accept")
        request = r.json()["request"]
        # no batch for longer than the live window: the open connection alone keeps it
        time.sleep(live_window_ms(HEARTBEAT_S) / 1000 + 1)
        assert waiting(client, key) == [request]
    assert poll(lambda: waiting(client, key) == [], timeout=GRACE_S + 10), "closing the page did not end it"


def test_a_page_that_stops_sending_is_gone_after_two_missed_heartbeats(client: TestClient, site: dict) -> None:
    key = site["key"]
    presence(client, key, make_rep(client, key, capacity=1), "available")
    request = waiting_request(client, key, "visitor-quiet")
    assert waiting(client, key) == [request]
    assert poll(lambda: waiting(client, key) == [], timeout=live_window_ms(HEARTBEAT_S) / 1000 + 5)


def test_freed_capacity_goes_to_open_pages_not_to_closed_ones(client: TestClient, site: dict, settings) -> None:
    key = site["key"]
    rid = make_rep(client, key, capacity=1)
    # the most needed visitor closed the tab; another is still reading
    ingest(client, key, "visitor-left", NEEDY + [{"t": "cart", "value": 900, "currency": "EUR"}, {"t": "bye"}])
    ingest(client, key, "visitor-here")
    time.sleep(GRACE_S + 0.2)
    presence(client, key, rid, "available")
    assert offered(client, key, "visitor-here")["cmd"]["kind"] == "help"
    let_the_ticker_run(settings.offer_tick_s)
    assert availability(client, key)["offers"] == 1  # nothing held for the page that is gone
    # coming back (a new page view) makes the visitor eligible again
    assert ingest(client, key, "visitor-left", NEEDY)["cmd"] is None  # the only slot is taken
