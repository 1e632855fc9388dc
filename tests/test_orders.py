"""Recording sales (issue 11): orders signed by a shop's server (POST /v1/sites/KEY/orders,
Standard Webhooks signatures), orders from the page (Beckon.purchase through the collector),
each order id stored once, every bad field listed, joined to the buyer's visits on any
device, kept for the order retention."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import subprocess
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from starlette.testclient import TestClient

from backend.app import create_app
from backend.config import Settings
from backend.core import orders as core
from backend.store import keys
from tests.helpers import (ORDER, ORIGIN, TEXT, Live, admin, console_login, hostile_json, ingest, make_rep, poll,
                           post_order, secret_of, signed, wait_js)


def listed(client: TestClient, key: str) -> list[dict]:
    r = client.get(f"/v1/sites/{key}/orders", headers=admin())
    assert r.status_code == 200, r.text
    return r.json()["orders"]


def second_site(client: TestClient) -> str:
    r = client.post("/v1/sites", json={"name": "Other shop", "origins": ["https://other.example"]}, headers=admin())
    assert r.status_code == 201, r.text
    return r.json()["key"]


# --- the signature -----------------------------------------------------------------------------

def test_signatures_are_standard_webhooks_ones() -> None:
    """The test vector of standardwebhooks.com: a shop may sign with one of its libraries."""
    sig = core.signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                         b'{"test": 2432232314}')
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_signed_order_is_stored_with_its_amounts_as_decimals(client: TestClient, site: dict) -> None:
    secret = secret_of(client, site["key"])
    assert secret.startswith("whsec_") and secret == secret_of(client, site["key"])
    r = post_order(client, site["key"], secret)
    assert r.status_code == 201, r.text
    assert r.json()["stored"] is True and r.json()["duplicate"] is False
    [order] = listed(client, site["key"])
    assert order["order_id"] == "SO-1001" and order["source"] == "server"
    assert order["value"] == "129.90" and [i["price"] for i in order["items"]] == ["119.90", "5.00"]
    assert client.get(f"/v1/sites/{site['key']}/orders/SO-1001", headers=admin()).json()["customer_id"] == "cust-77"


def test_several_signatures_pass_when_one_matches(client: TestClient, site: dict) -> None:
    body = json.dumps(ORDER).encode()
    headers = signed(secret_of(client, site["key"]), body)
    headers["webhook-signature"] = "v1,bm90IHRoaXMgb25l " + headers["webhook-signature"]
    assert client.post(f"/v1/sites/{site['key']}/orders", content=body, headers=headers).status_code == 201


@pytest.mark.parametrize("what, change, words", [
    ("no signature", {"webhook-signature": ""}, "v1 signature"),
    ("no webhook-id", {"webhook-id": ""}, "webhook-id"),
    ("no timestamp", {"webhook-timestamp": ""}, "webhook-timestamp"),
    ("a signature of another body", {"webhook-signature": core.signature("whsec_AAAA", "msg_0001", 1, b"{}")},
     "does not match"),
])
def test_a_wrong_or_missing_signature_is_a_401_and_stores_nothing(client: TestClient, site: dict, what: str,
                                                                   change: dict, words: str) -> None:
    body = json.dumps(ORDER).encode()
    headers = {**signed(secret_of(client, site["key"]), body), **change}
    r = client.post(f"/v1/sites/{site['key']}/orders", content=body, headers=headers)
    assert r.status_code == 401 and words in r.json()["error"], r.text
    assert listed(client, site["key"]) == []


def test_a_body_changed_after_signing_is_refused(client: TestClient, site: dict) -> None:
    body = json.dumps(ORDER).encode()
    headers = signed(secret_of(client, site["key"]), body)
    r = client.post(f"/v1/sites/{site['key']}/orders", content=body.replace(b"129.9", b"1.9"), headers=headers)
    assert r.status_code == 401 and listed(client, site["key"]) == []


@pytest.mark.parametrize("shift, words", [(-301, "minutes old"), (+301, "minutes ahead")])
def test_a_stale_or_future_timestamp_is_a_401_saying_so(client: TestClient, site: dict, shift: int,
                                                         words: str) -> None:
    r = post_order(client, site["key"], secret_of(client, site["key"]), at=time.time() + shift)
    assert r.status_code == 401 and words in r.json()["error"], r.text
    assert listed(client, site["key"]) == []


# --- stored once -------------------------------------------------------------------------------

def test_a_replayed_delivery_gets_the_first_answer_and_is_stored_once(client: TestClient, site: dict) -> None:
    secret = secret_of(client, site["key"])
    body = json.dumps(ORDER).encode()
    headers = signed(secret, body, "msg_replayed")
    first = client.post(f"/v1/sites/{site['key']}/orders", content=body, headers=headers)
    again = client.post(f"/v1/sites/{site['key']}/orders", content=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert len(listed(client, site["key"])) == 1


def test_the_same_order_id_sent_again_answers_success_as_a_duplicate(client: TestClient, site: dict) -> None:
    secret = secret_of(client, site["key"])
    assert post_order(client, site["key"], secret, msg_id="msg_first").status_code == 201
    retry = post_order(client, site["key"], secret, {**ORDER, "value": "999.00"}, msg_id="msg_retry")
    assert retry.status_code == 200, retry.text
    assert retry.json()["duplicate"] is True and retry.json()["stored"] is False
    assert retry.json()["order"]["value"] == "129.90"  # the first one stands
    assert [o["value"] for o in listed(client, site["key"])] == ["129.90"]


def test_a_webhook_id_reused_for_another_order_is_a_conflict(client: TestClient, site: dict) -> None:
    secret = secret_of(client, site["key"])
    assert post_order(client, site["key"], secret, msg_id="msg_same").status_code == 201
    r = post_order(client, site["key"], secret, {**ORDER, "order_id": "SO-1002"}, msg_id="msg_same")
    assert r.status_code == 409 and "webhook-id" in r.json()["error"]
    assert [o["order_id"] for o in listed(client, site["key"])] == ["SO-1001"]


# --- bad fields --------------------------------------------------------------------------------

BAD_ORDERS = [
    ("a currency that is no ISO 4217 code", {"currency": "EURO"}, "currency"),
    ("an unknown currency", {"currency": "XYZ"}, "currency"),
    ("a negative amount", {"value": -5}, "value"),
    ("a negative price", {"items": [{"sku": "A", "price": "-0.01"}]}, "items[0].price"),
    ("too many decimals", {"value": "129.999"}, "value"),
    ("a float that is no decimal", {"value": 0.30000000000000004}, "value"),
    ("decimals in yen", {"currency": "JPY", "value": 1200.5, "items": []}, "value"),
    ("an amount as a word", {"value": "NaN"}, "value"),
    ("an amount as true", {"value": True}, "value"),
    ("no quantity", {"items": [{"sku": "A", "qty": 0, "price": 1}]}, "items[0].qty"),
    ("an item that is a number", {"items": [7]}, "items[0]"),
    ("an order id with a space", {"order_id": "SO 1"}, "order_id"),
    ("an e-mail without @", {"email": "nobody"}, "email"),
    ("a time in seconds", {"created": 1700000000}, "created"),
]


@pytest.mark.parametrize("what, change, field", BAD_ORDERS, ids=[b[0] for b in BAD_ORDERS])
def test_a_bad_field_is_a_400_naming_it_and_stores_nothing(client: TestClient, site: dict, what: str,
                                                           change: dict, field: str) -> None:
    r = post_order(client, site["key"], secret_of(client, site["key"]), {**ORDER, **change})
    assert r.status_code == 400, r.text
    assert field in [e["field"] for e in r.json()["errors"]]
    assert listed(client, site["key"]) == []


def test_every_problem_is_listed_at_once(client: TestClient, site: dict) -> None:
    r = post_order(client, site["key"], secret_of(client, site["key"]),
                   {"order_id": "", "value": -1, "currency": "eur0", "items": [{"qty": 1.5, "price": "1.234"}]})
    assert r.status_code == 400
    assert {e["field"] for e in r.json()["errors"]} == {"order_id", "value", "currency", "items[0]",
                                                         "items[0].qty", "items[0].price"}


def test_three_decimals_are_fine_in_dinars_and_kept_exactly(client: TestClient, site: dict) -> None:
    r = post_order(client, site["key"], secret_of(client, site["key"]),
                   {"order_id": "KW-1", "value": 1234567.125, "currency": "KWD"})
    assert r.status_code == 201, r.text
    assert r.json()["order"]["value"] == "1234567.125"
    assert Decimal(listed(client, site["key"])[0]["value"]) == Decimal("1234567.125")


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(hostile_json(), st.fixed_dictionaries(
    {"order_id": hostile_json(), "value": hostile_json(), "currency": st.sampled_from(["EUR", "JPY", "KWD", 5])},
    optional={"items": st.lists(st.dictionaries(st.sampled_from(["sku", "name", "qty", "price", "category"]),
                                                hostile_json()), max_size=3),
              "email": hostile_json(), "visitor_id": hostile_json(), "created": hostile_json()})))
def test_hostile_signed_bodies_get_a_4xx_never_a_500(client: TestClient, site: dict, data: Any) -> None:
    body = json.dumps(data).encode("utf-8", "surrogatepass")
    r = post_order(client, site["key"], secret_of(client, site["key"]), body=body,
                   msg_id="msg_" + hashlib.sha1(body).hexdigest()[:16])
    assert r.status_code in (200, 201, 400, 409), r.text
    if r.status_code == 400:
        assert r.json()["error"]


# --- one site's secret and key open that site only ---------------------------------------------

def test_another_sites_secret_or_key_cannot_post_or_read(client: TestClient, site: dict) -> None:
    other = second_site(client)
    assert post_order(client, other, secret_of(client, site["key"])).status_code == 401
    r = client.post(f"/v1/sites/{site['key']}/api-keys", json={"label": "shop"}, headers=admin())
    own_key = {"Authorization": f"Bearer {r.json()['key']}"}
    assert client.get(f"/v1/sites/{other}/orders", headers=own_key).status_code == 404
    assert client.get(f"/v1/sites/{other}/order-secret", headers=own_key).status_code == 404
    assert client.post(f"/v1/sites/{other}/order-secret", headers=own_key).status_code == 404
    assert client.get(f"/v1/sites/{site['key']}/orders", headers=own_key).status_code == 200
    assert client.get(f"/v1/sites/{site['key']}/orders").status_code == 401
    # the API key itself is no signature
    body = json.dumps(ORDER).encode()
    assert client.post(f"/v1/sites/{site['key']}/orders", content=body, headers=own_key).status_code == 401


def test_after_rotation_the_old_secret_is_refused_and_the_new_one_works(client: TestClient, site: dict) -> None:
    old = secret_of(client, site["key"])
    r = client.post(f"/v1/sites/{site['key']}/order-secret", headers=admin())
    new = r.json()["secret"]
    assert new != old and secret_of(client, site["key"]) == new
    assert post_order(client, site["key"], old, msg_id="msg_old").status_code == 401
    assert post_order(client, site["key"], new, msg_id="msg_new").status_code == 201


def test_the_admin_page_shows_the_secret_and_rotates_it_with_csrf(client: TestClient, site: dict) -> None:
    make_rep(client, site["key"], email="owner@example.com", role="admin")
    csrf = console_login(client, "owner@example.com")
    secret = secret_of(client, site["key"])
    assert secret in client.get("/console/admin/site").text
    refused = client.post("/console/admin/order-secret", data={"csrf": "forged"}, follow_redirects=False)
    assert refused.status_code == 403 and secret_of(client, site["key"]) == secret
    r = client.post("/console/admin/order-secret", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    fresh = secret_of(client, site["key"])
    assert fresh != secret and fresh in client.get("/console/admin/site").text


# --- who bought: the visitor, or the customer on any device ------------------------------------

def test_an_order_by_e_mail_joins_the_visit_where_the_customer_identified(client: TestClient, site: dict) -> None:
    key = site["key"]
    ingest(client, key, "phone-visitor-01", [{"t": "pv", "url": "https://shop.example/tents"},
                                             {"t": "id", "email": "Ada@Shop.example"}])
    ingest(client, key, "laptop-visitor-1", [{"t": "pv", "url": "https://shop.example/"}])
    r = post_order(client, key, secret_of(client, key),
                   {**ORDER, "customer_id": "", "email": "ADA@shop.example", "visitor_id": "laptop-visitor-1"})
    assert r.status_code == 201, r.text
    assert r.json()["order"]["visitors"] == ["laptop-visitor-1", "phone-visitor-01"]


def test_an_order_by_customer_id_joins_their_visits(client: TestClient, site: dict) -> None:
    ingest(client, site["key"], "tablet-visitor-1", [{"t": "pv", "url": "https://shop.example/"},
                                                     {"t": "id", "id": "cust-77", "name": "Ada"}])
    r = post_order(client, site["key"], secret_of(client, site["key"]))
    assert r.json()["order"]["visitors"] == ["tablet-visitor-1"]


# --- from the page: Beckon.purchase ------------------------------------------------------------

BUY = {"t": "buy", "order_id": "WEB-7", "value": 59.5, "currency": "eur",
       "items": [{"sku": "MUG", "name": "Mug", "qty": 2, "price": 29.75, "category": "kitchen"}]}


def test_a_purchase_on_the_page_is_stored_for_that_visitor_once(client: TestClient, site: dict) -> None:
    key = site["key"]
    answer = ingest(client, key, "buyer-visitor-1", [{"t": "pv", "url": "https://shop.example/thanks"}, BUY])
    assert answer["orders"] == [{"order_id": "WEB-7", "duplicate": False}]
    again = ingest(client, key, "buyer-visitor-1", [BUY])  # a reload of the thank-you page
    assert again["orders"] == [{"order_id": "WEB-7", "duplicate": True}]
    [order] = listed(client, key)
    assert (order["source"], order["visitor_id"], order["visitors"]) == ("page", "buyer-visitor-1", ["buyer-visitor-1"])
    assert (order["value"], order["currency"], order["items"][0]["price"]) == ("59.50", "EUR", "29.75")
    # the visit itself went on as usual
    assert client.get(f"/v1/sites/{key}/visitors/buyer-visitor-1", headers=admin()).json()["pages"]


def test_a_page_without_the_visitors_token_cannot_buy_in_their_name(client: TestClient, site: dict) -> None:
    key = site["key"]
    ingest(client, key, "victim-visitor1", [{"t": "pv", "url": "https://shop.example/"}])
    body = {"v": 1, "site": key, "vid": "victim-visitor1", "pid": "pageview-0002", "events": [BUY]}
    r = client.post("/v1/events", content=json.dumps(body), headers=TEXT)
    assert r.status_code == 200 and "orders" not in r.json()
    assert listed(client, key) == []


def test_a_bad_purchase_on_the_page_is_refused_with_every_problem(client: TestClient, site: dict) -> None:
    body = {"v": 1, "site": site["key"], "vid": "buyer-visitor-2", "pid": "pageview-0001",
            "events": [{"t": "pv", "url": "https://shop.example/"},
                       {**BUY, "value": -1, "currency": "XXX", "items": [{"sku": "A", "price": 1.001}]}]}
    r = client.post("/v1/events", content=json.dumps(body), headers=TEXT)
    assert r.status_code == 400
    assert r.json()["field"] == "events[1].currency"
    assert [e["field"] for e in r.json()["errors"]] == ["events[1].currency", "events[1].value",
                                                        "events[1].items[0].price"]
    assert listed(client, site["key"]) == []


# --- retention ---------------------------------------------------------------------------------

@pytest.fixture()
def short_retention(settings: Settings, redis_client: redis.Redis) -> Iterator[TestClient]:
    with TestClient(create_app(dataclasses.replace(settings, order_retention_days=1)),
                    base_url="http://beckon.test") as c:
        yield c


def test_orders_are_kept_for_the_configured_retention(short_retention: TestClient, redis_client: redis.Redis) -> None:
    client = short_retention
    key = client.post("/v1/sites", json={"name": "Shop", "origins": [ORIGIN]}, headers=admin()).json()["key"]
    secret = secret_of(client, key)
    now_ms = int(time.time() * 1000)
    too_old = post_order(client, key, secret, {**ORDER, "created": now_ms - 25 * 3600_000}, msg_id="msg_old")
    assert too_old.status_code == 400 and too_old.json()["errors"][0]["field"] == "created"
    kept = post_order(client, key, secret, {**ORDER, "created": now_ms - 23 * 3600_000}, msg_id="msg_kept")
    assert kept.status_code == 201, kept.text
    ttl = redis_client.pttl(keys.order(key, ORDER["order_id"]))
    assert 0 < ttl <= 3600_000  # gone an hour from now, a day after its time
    assert [o["order_id"] for o in listed(client, key)] == ["SO-1001"]
    assert re.fullmatch(r"\d+", str(listed(client, key)[0]["created"]))


# --- with real servers: the README's shell example, and Beckon.purchase in Chromium -------------

def test_the_readmes_shell_example_records_an_order(live: Live) -> None:
    """The curl and openssl lines of "Recording sales", run as written against a live server."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    script = re.search(r"```sh\n(BECKON=https://beckon\.example\.com\n.*?)```", readme, re.S).group(1)
    secret = live.api.get(f"/v1/sites/{live.key}/order-secret").json()["secret"]
    script = script.replace("BECKON=https://beckon.example.com", f"BECKON={live.url}") \
        .replace("SITE=SITE_KEY", f"SITE={live.key}").replace("SECRET=whsec_...", f"SECRET={secret}")
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["stored"] is True and answer["order"]["value"] == "129.90", answer


@pytest.mark.browser
def test_beckon_purchase_in_a_real_page_records_the_order(live: Live, browser, page_errors) -> None:
    context = browser.new_context()
    page = context.new_page()
    errors = page_errors(page)
    page.goto(live.demo_url + "/")
    wait_js(page, "window.Beckon && window.Beckon.vid && window.Beckon.tok")
    vid = page.evaluate("Beckon.vid")
    # what a careless page might pass never throws into it
    page.evaluate("Beckon.purchase(); Beckon.purchase(null); Beckon.purchase({order_id: 'X', currency: 'EURO'})")
    page.evaluate("""Beckon.purchase({order_id: 'WEB-42', value: 59.5, currency: 'eur', extra: document.body,
                     items: [{sku: 'MUG', name: 'Mug', qty: 2, price: '29.75', category: 'kitchen', el: window}]})""")
    page.evaluate("Beckon.flush()")

    def stored() -> list:
        return live.api.get(f"/v1/sites/{live.key}/orders").json()["orders"]

    assert poll(stored), "the purchase never reached the collector"
    [order] = stored()
    assert (order["order_id"], order["value"], order["visitor_id"]) == ("WEB-42", "59.50", vid)
    assert errors == []
    context.close()
