"""Attribution end to end (real Redis, the real collector, broker, offer answer, claim and
order API): an order from a customer who chatted is credited to the chat's rep with the
commission, and counts once as a purchase in the treatment arm (later orders add revenue
only); a holdout visitor's order counts in the holdout arm with no credit; an order that
owes nothing to help is stored and counted nowhere."""

from __future__ import annotations

from decimal import Decimal

from starlette.testclient import TestClient

from backend.core import counters
from backend.store import keys
from tests.helpers import NEEDY, admin, ingest, make_rep, post_order, presence, secret_of, waiting_request


def credit(client: TestClient, key: str, order_id: str):
    return client.portal.call(client.app.state.services.orders.attribution.of, key, order_id)


def day_counts(client: TestClient, key: str) -> dict[str, str]:
    r = client.app.state.services.redis
    today = counters.day(int(client.portal.call(r.time)[0]) * 1000)
    return client.portal.call(r.hgetall, keys.day_counts(key, today))


def order(order_id: str, email: str, value: str = "990.00") -> dict:
    return {"order_id": order_id, "value": value, "currency": "EUR", "email": email,
            "items": [{"sku": "K1", "name": "Sea kayak", "qty": 1, "price": "899.00", "category": "Kayaks"},
                      {"sku": "P1", "name": "Paddle", "qty": 2, "price": "45.50", "category": "paddles"}]}


def test_a_chat_that_sold_credits_its_rep_and_counts_once_in_the_treatment_arm(client: TestClient,
                                                                                site: dict) -> None:
    key = site["key"]
    client.put(f"/v1/sites/{key}/sales-settings", json={"commission_rate": "0.05", "category_rates": {
        "kayaks": "0.10"}}, headers=admin()).raise_for_status()
    rid = make_rep(client, key)
    presence(client, key, rid, "available")
    cid = waiting_request(client, key, vid="visitor-phone1", events=NEEDY + [
        {"t": "id", "email": "claire@example.fr"}])
    client.portal.call(client.app.state.services.chats.accept, key, cid, rid)
    ingest(client, key, "visitor-laptop", [{"t": "pv", "url": "https://shop.example/thanks"},
                                            {"t": "id", "email": "claire@example.fr"}])  # the other device
    secret = secret_of(client, key)
    assert post_order(client, key, secret, order("SO-1", "claire@example.fr")).status_code in (200, 201)

    found = credit(client, key, "SO-1")
    assert (found.kind, found.rep, found.chat, found.arm) == ("chatted", rid, cid, "treatment")
    assert found.commission == Decimal("94.45")  # 10% of 899 + 5% of 91
    counts = day_counts(client, key)
    assert counts["treatment:purchased"] == "1" and counts["treatment:revenue:EUR"] == "99000"
    assert counts[f"rep:{rid}:conversions"] == "1" and counts[f"rep:{rid}:commission:EUR"] == "9445"

    assert post_order(client, key, secret, order("SO-2", "claire@example.fr", "10.00"), msg_id="msg_2"
                      ).status_code in (200, 201)
    counts = day_counts(client, key)
    assert counts["treatment:purchased"] == "1"  # she converted once
    assert counts["treatment:revenue:EUR"] == "100000" and counts[f"rep:{rid}:conversions"] == "2"
    # the same order sent again is neither credited nor counted twice
    post_order(client, key, secret, order("SO-2", "claire@example.fr", "10.00"), msg_id="msg_3")
    assert day_counts(client, key)["treatment:revenue:EUR"] == "100000"


def test_a_holdout_visitors_order_counts_in_the_holdout_and_one_without_help_nowhere(client: TestClient,
                                                                                   site: dict) -> None:
    key = site["key"]
    client.put(f"/v1/sites/{key}/offer-settings", json={"holdout_share": 0.5}, headers=admin()).raise_for_status()
    held = next(v for v in (f"visitor-h{i:04d}" for i in range(100)) if counters.arm(key, v, 0.5) == "holdout")
    ingest(client, key, held, NEEDY + [{"t": "id", "email": "held@example.com"}])
    secret = secret_of(client, key)
    post_order(client, key, secret, order("SO-H", "held@example.com"))
    found = credit(client, key, "SO-H")
    assert (found.kind, found.rep, found.arm) == ("", "", "holdout")
    ingest(client, key, "visitor-calm01", [{"t": "pv", "url": "https://shop.example/"},
                                           {"t": "id", "email": "calm@example.com"}])
    post_order(client, key, secret, order("SO-C", "calm@example.com"), msg_id="msg_c")
    calm = credit(client, key, "SO-C")
    assert (calm.kind, calm.arm) == ("", "")
    counts = day_counts(client, key)
    assert counts["holdout:purchased"] == "1" and counts["holdout:revenue:EUR"] == "99000"
    assert "treatment:purchased" not in counts


def test_an_order_whose_crediting_failed_is_credited_when_it_is_sent_again(client: TestClient, site: dict) -> None:
    """The order was stored but crediting it failed before its claim (Redis went away): the
    shop's retry, answered as a duplicate, credits it then, and only once."""
    key = site["key"]
    rid = make_rep(client, key)
    presence(client, key, rid, "available")
    cid = waiting_request(client, key, vid="visitor-retry1", events=NEEDY + [{"t": "id", "email": "r@example.com"}])
    client.portal.call(client.app.state.services.chats.accept, key, cid, rid)
    orders = client.app.state.services.orders
    secret = secret_of(client, key)
    saved, orders.attribution = orders.attribution, None  # as if crediting had failed
    try:
        assert post_order(client, key, secret, order("SO-R", "r@example.com"), msg_id="msg_r1").status_code == 201
    finally:
        orders.attribution = saved
    assert credit(client, key, "SO-R") is None and "treatment:purchased" not in day_counts(client, key)
    again = post_order(client, key, secret, order("SO-R", "r@example.com"), msg_id="msg_r2")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert credit(client, key, "SO-R").rep == rid
    post_order(client, key, secret, order("SO-R", "r@example.com"), msg_id="msg_r3")
    assert day_counts(client, key)["treatment:purchased"] == "1" and day_counts(client, key)[
        f"rep:{rid}:conversions"] == "1"
