"""Several web hosts (separate ``beckon serve`` processes, standing for machines) on one store,
behind a real load balancer (HAProxy, round robin, no sticky sessions): a page held by one
host chats with a console held by another, and an offer made by one host's broker reaches a
page held by the other. Runs on the single Redis and on the cluster."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Iterator

import httpx
import pytest

from backend.testing.balancer import Balancer
from backend.testing.servers import WebServer, free_port
from tests.helpers import ADMIN, ORIGIN, ConsoleSocket, Customer, admin, make_rep, poll


@pytest.fixture()
def hosts(redis_server, redis_client) -> Iterator[tuple[WebServer, WebServer, Balancer]]:
    lb_port = free_port()
    env = {"BECKON_REDIS_URL": redis_server.url, "BECKON_QUEUE_URL": redis_server.queue_url,
           "BECKON_ADMIN_TOKEN": ADMIN, "BECKON_PUBLIC_URL": f"http://127.0.0.1:{lb_port}"}
    # Host A's offer ticker sleeps: the offer below can only come from host B's broker.
    a = WebServer("backend.app:create_app", {**env, "BECKON_OFFER_TICK_S": "60"})
    b = WebServer("backend.app:create_app", env)
    lb = Balancer([a.url, b.url])
    yield a, b, lb
    lb.stop()
    a.stop()
    b.stop()


def test_a_page_on_one_host_chats_with_a_console_on_another(hosts) -> None:
    a, b, lb = hosts
    with httpx.Client(base_url=lb.url, headers=admin(), timeout=10) as api:  # the site owner, via the balancer
        key = api.post("/v1/sites", json={"name": "Shop", "origins": [ORIGIN]}).json()["key"]
        make_rep(api, key, email="ria@shop.example", name="Ria", capacity=2)
    on_a = SimpleNamespace(url=a.url, key=key, demo_url=ORIGIN)
    on_b = SimpleNamespace(url=b.url, key=key, demo_url=ORIGIN)

    customer = Customer(on_a, "visitor-0001")  # needs help; its page's socket is held by host A
    customer.connect()
    console = ConsoleSocket(on_b, "ria@shop.example")  # the rep's console is held by host B
    try:
        console.send({"type": "presence", "status": "available"})
        # B's broker, run when the rep became available, makes the offer; A's socket delivers it
        offer = customer.expect(lambda m: m["type"] == "offer")
        r = customer.http.post(f"/v1/offers/{offer['id']}/accept",
                               content=json.dumps({"site": key, "vid": "visitor-0001", "tok": customer.tok}))
        chat = r.json()["request"]
        console.expect(lambda m: m["type"] == "queue" and m["requests"])
        console.send({"type": "accept", "id": chat})
        customer.expect(lambda m: m["type"] == "chat" and m["status"] == "active")
        customer.say("Hello from host A")
        got = console.expect(lambda m: m["type"] == "msg" and m["msg"]["from"] == "visitor")
        assert got["msg"]["text"] == "Hello from host A"
        console.say(chat, "Hello from host B")
        got = customer.expect(lambda m: m["type"] == "msg" and m["msg"]["from"] == "rep")
        assert got["msg"]["text"] == "Hello from host B"
    finally:
        console.close()
        customer.close()


def test_when_a_host_dies_the_balancer_sends_pages_to_the_other(hosts) -> None:
    a, b, lb = hosts
    with httpx.Client(base_url=lb.url, headers=admin(), timeout=10) as api:
        key = api.post("/v1/sites", json={"name": "Shop", "origins": [ORIGIN]}).json()["key"]
        a.proc.kill()  # a machine gone at once
        # within its health checks (1 s apart, 2 failures) every request lands on host B
        def all_answered() -> bool:
            try:
                return all(api.get(f"/v1/sites/{key}").status_code == 200 for _ in range(6))
            except httpx.HTTPError:  # a request in flight to the dead host as it died
                return False

        assert poll(all_answered, timeout=15)
    via_lb = SimpleNamespace(url=lb.url, key=key, demo_url=ORIGIN)
    for i in range(4):  # pages keep connecting, through the balancer, to the host that is left
        customer = Customer(via_lb, f"visitor-{i:04d}")
        customer.connect()
        customer.socket.send(json.dumps({"type": "say", "text": "anyone?", "cid": "c1"}))
        assert customer.expect(lambda m: m["type"] == "error")["message"] == "there is no open chat"
        customer.close()
