"""Signed outbound webhooks (issue 13): endpoints over the site API, events from records and
orders, delivery by the real rq worker to a real receiver on 127.0.0.1 that checks each
signature, retries after a 500, no duplicate after a retried success, the delivery log and
the resend with the same id."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings as hsettings, strategies as st
from starlette.testclient import TestClient

from backend.app import create_app
from backend.config import Settings
from backend.core import webhooks as core
from backend.domain import webhooks as domain
from backend.testing.receiver import Receiver
from backend.testing.servers import free_port
from tests.helpers import (ORDER, ORIGIN, PASSWORD, admin, console_login, hostile_json, make_rep, post_order,
                           run_worker, secret_of)

ALL = list(core.EVENTS)


@pytest.fixture()
def hook_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Local receivers are http://127.0.0.1 (the worker reads the same from its environment);
    retries at once, so one burst of the worker runs them all."""
    monkeypatch.setenv("BECKON_WEBHOOKS_ALLOW_HTTP", "1")
    return dataclasses.replace(settings, webhooks_allow_http=True, webhook_retry_s=(0, 0))


@pytest.fixture()
def api(hook_settings: Settings, redis_client: Any) -> Iterator[TestClient]:
    with TestClient(create_app(hook_settings), base_url="http://beckon.test") as c:
        yield c


@pytest.fixture()
def key(api: TestClient) -> str:
    r = api.post("/v1/sites", json={"name": "Shop", "origins": [ORIGIN]}, headers=admin())
    assert r.status_code == 201, r.text
    return r.json()["key"]


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.stop()


def add_endpoint(api: TestClient, key: str, url: str, events: list[str] = ALL, auth: str | None = None) -> dict:
    r = api.post(f"/v1/sites/{key}/webhooks", json={"url": url, "events": events},
                 headers={"Authorization": f"Bearer {auth}"} if auth else admin())
    assert r.status_code == 201, r.text
    return r.json()


def upsert_customer(api: TestClient, key: str, **fields: Any) -> None:
    row = {"id": "c-1", "email": "ann@example.com", "name": "Ann", **fields}
    r = api.post(f"/v1/sites/{key}/records/customers", json={"records": [row]}, headers=admin())
    assert r.status_code == 200, r.text


def log_of(api: TestClient, key: str) -> list[dict]:
    r = api.get(f"/v1/sites/{key}/webhooks/deliveries", params={"limit": 1000}, headers=admin())
    assert r.status_code == 200, r.text
    return r.json()["deliveries"]


def work(settings: Settings) -> None:
    run_worker(settings, free_port())  # no mail here


# --- the pure part ------------------------------------------------------------------------------

def test_the_signature_is_the_one_orders_are_checked_with() -> None:
    body = core.envelope("evt_12345678", "order.created", 1, "site", {"a": 1})
    sent = core.headers("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "evt_12345678", int(time.time()), body)
    assert core.signature_problem("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", sent["webhook-id"],
                                  sent["webhook-timestamp"], sent["webhook-signature"], body, time.time()) is None
    assert json.loads(body) == {"id": "evt_12345678", "type": "order.created", "created": 1, "site": "site",
                                "data": {"a": 1}}


def test_a_delivered_event_starts_the_run_of_failures_again() -> None:
    assert core.failed_since_delivered([]) == (False, 0)
    assert core.failed_since_delivered(["failed", "retrying", "failed"]) == (False, 2)
    assert core.failed_since_delivered(["failed", "delivered", "failed", "retrying"]) == (True, 1)
    assert core.failed_since_delivered(["failed", "failed", "delivered"]) == (True, 0)


def test_the_retry_schedule() -> None:
    schedule = (10, 60, 300)
    assert [core.retry_after(n, schedule) for n in range(1, 5)] == [10, 60, 300, None]
    assert core.retry_after(1, ()) is None


@pytest.mark.parametrize("url, allowed, words", [
    ("http://crm.example.com/h", False, "https://"),
    ("https://user:pw@crm.example.com/h", True, "user name or password"),
    ("https://crm.example.com/h#frag", True, "fragment"),
    ("ftp://crm.example.com/h", True, "https://"),
    ("javascript:alert(1)", True, "https://"),
    ("https://127.0.0.1/h", False, "public address"),
    ("https://169.254.169.254/latest/meta-data", False, "public address"),
    ("https://localhost/h", False, "public address"),
    ("https://crm .example.com/h", True, "spaces"),
    ("https://crm.example.com:99999/h", True, "port"),
    ("https:///h", True, "host"),
])
def test_endpoint_urls_that_are_refused(url: str, allowed: bool, words: str) -> None:
    problems = core.url_problems(url, allowed)
    assert problems and any(words in m for _, m in problems), problems


def test_every_problem_of_an_endpoint_is_listed() -> None:
    fields, errors = core.parse_endpoint({"url": "http://x.example", "events": ["nope", 3], "active": "yes",
                                          "colour": "red"}, False)
    assert fields == {}
    assert {p for p, _ in errors} == {"url", "events[0]", "events[1]", "active", "colour"}


@given(hostile_json())
@hsettings(max_examples=300, deadline=None)
def test_hostile_endpoint_settings_never_raise(data: Any) -> None:
    fields, errors = core.parse_endpoint(data, False)
    assert bool(fields) != bool(errors) or (not fields and errors)


@pytest.mark.parametrize("address, refused", [
    ("10.0.0.5", True), ("172.16.0.1", True), ("192.168.1.1", True), ("127.0.0.1", True), ("0.0.0.0", True),
    ("169.254.169.254", True), ("100.64.0.1", True), ("224.0.0.1", True), ("240.0.0.1", True),
    ("255.255.255.255", True), ("::1", True), ("::", True), ("fe80::1", True), ("fe80::1%eth0", True),
    ("fd00::1", True), ("ff02::1", True), ("ff0e::1", True), ("::ffff:127.0.0.1", True), ("::ffff:10.0.0.5", True),
    ("::ffff:169.254.169.254", True), ("2002:7f00:1::", True), ("64:ff9b::a00:5", True), ("2001:db8::1", True),
    ("not an address", True),
    ("8.8.8.8", False), ("93.184.215.14", False), ("2606:4700:4700::1111", False), ("::ffff:8.8.8.8", False),
    ("64:ff9b::808:808", False),
])
def test_which_resolved_addresses_a_webhook_must_not_reach(address: str, refused: bool) -> None:
    assert core.not_public([address]) == ([address] if refused else [])


def _reachable_ipv4(address: ipaddress.IPv4Address) -> bool:
    return address.is_global and not address.is_multicast


@given(st.lists(st.one_of(st.ip_addresses(),
                          st.sampled_from(["10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10",
                                           "224.0.0.0/4", "::1/128", "fe80::/10", "fc00::/7", "ff00::/8",
                                           "::ffff:0:0/96", "2002::/16", "64:ff9b::/96"])
                          .flatmap(lambda net: st.ip_addresses(network=net))),
                min_size=1, max_size=5))
@example([ipaddress.ip_address("8.8.8.8"), ipaddress.ip_address("::ffff:127.0.0.1")])
@hsettings(max_examples=500, deadline=None)
def test_any_address_that_is_not_public_refuses_the_host(addresses: list) -> None:
    """Against Python's own classification: an IPv4 address is reachable when it is global and
    not multicast; an IPv6 one carrying an IPv4 address (mapped, 6to4, NAT64) as that address,
    any other as its own; the host is refused when any of them is not reachable."""
    def reachable(a: Any) -> bool:
        if a.version == 4:
            return _reachable_ipv4(a)
        carried = a.ipv4_mapped or a.sixtofour or (ipaddress.IPv4Address(int(a) & 0xFFFFFFFF)
                                                   if a in ipaddress.ip_network("64:ff9b::/96") else None)
        if carried is not None:
            return _reachable_ipv4(carried)
        return a.is_global and not a.is_multicast and not a.is_private and not a.is_reserved
    shown = [str(a) for a in addresses]
    expected = list(dict.fromkeys(str(a) for a in addresses if not reachable(a)))
    assert core.not_public(shown) == expected
    for a in addresses:
        if a.version == 4:  # the same address, IPv4-mapped, is judged the same
            assert bool(core.not_public([f"::ffff:{a}"])) == (not reachable(a))


def test_localhost_resolves_to_a_refused_address_unless_allowed() -> None:
    """The worker's check, with the machine's real resolver."""
    addresses, error, retry = domain._addresses(httpx.URL("https://localhost:8443/h"), allow_private=False)
    assert addresses == [] and retry is False
    assert error.startswith("the endpoint's host resolves to a private address (") and error.endswith("); refused")
    assert "127.0.0.1" in error or "::1" in error
    addresses, error, _ = domain._addresses(httpx.URL("https://localhost:8443/h"), allow_private=True)
    assert addresses and set(addresses) <= {"127.0.0.1", "::1"} and error == ""
    addresses, error, retry = domain._addresses(httpx.URL("https://no-such-host.invalid/h"), allow_private=False)
    assert addresses == [] and "does not resolve" in error and retry is True


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test's certificate")
def test_a_pinned_connection_still_checks_the_names_certificate(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The POST goes to the address checked, with the URL's name as TLS server name and Host:
    a certificate for another name is refused, as without pinning."""
    name = "localhost"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout",
                    str(tmp_path / "k.pem"), "-out", str(tmp_path / "c.pem"), "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName=DNS:{name}"], check=True, capture_output=True)
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["content-length"]))
            seen.append(self.headers["host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    monkeypatch.setattr(domain, "TLS", ssl.create_default_context(cafile=str(tmp_path / "c.pem")))

    def post(url: httpx.URL, addresses: list[str]) -> tuple[int | None, str]:
        with domain._client(5) as client:
            return domain._post(client, url, addresses, b"{}", {})

    try:
        url = httpx.URL(f"https://{name}:{port}/hooks")
        assert post(url, ["127.0.0.1"]) == (204, "")
        assert seen == [f"{name}:{port}"]
        status, error = post(httpx.URL(f"https://127.0.0.1:{port}/hooks"), ["127.0.0.1"])
        assert status is None and "certificate" in error
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))  # bound, never listening: refuses connections
        try:
            status, error = post(url, ["::1", "127.0.0.1"])  # ::1 may not listen: the next
            assert status == 204, error
            status, error = post(httpx.URL(f"https://{name}:{dead.getsockname()[1]}/"), ["127.0.0.1"])
            assert status is None and "ConnectError" in error and "(at 127.0.0.1)" in error
        finally:
            dead.close()
    finally:
        server.shutdown()
        server.server_close()


# --- delivery through the worker ----------------------------------------------------------------

def test_a_customer_upsert_is_delivered_signed_with_the_endpoints_secret(api: TestClient, key: str,
                                                                         hook_settings: Settings,
                                                                         receiver: Receiver) -> None:
    made = add_endpoint(api, key, receiver.url, ["customer.upserted"])
    assert made["secret"].startswith("whsec_") and made["events"] == ["customer.upserted"]
    assert "secret" not in api.get(f"/v1/sites/{key}/webhooks/{made['id']}", headers=admin()).json()
    receiver.secret = made["secret"]
    upsert_customer(api, key)
    work(hook_settings)
    [got] = receiver.deliveries
    assert got.problem is None and got.status == 200
    event = got.json()
    assert event["type"] == "customer.upserted" and event["site"] == key and event["id"] == got.id
    assert event["data"]["status"] == "created" and event["data"]["customer"]["email"] == "ann@example.com"
    [attempt] = log_of(api, key)
    assert (attempt["event"], attempt["outcome"], attempt["status"], attempt["attempt"]) == (got.id, "delivered",
                                                                                              200, 1)
    upsert_customer(api, key)  # unchanged: no event
    upsert_customer(api, key, name="Ann Lee")
    work(hook_settings)
    assert [d.json()["data"]["status"] for d in receiver.deliveries] == ["created", "updated"]


def test_a_500_is_retried_and_the_retry_succeeds(api: TestClient, key: str, hook_settings: Settings,
                                                 receiver: Receiver) -> None:
    receiver.secret = add_endpoint(api, key, receiver.url)["secret"]
    receiver.fail_first = 2
    upsert_customer(api, key)
    work(hook_settings)
    assert [d.status for d in receiver.deliveries] == [500, 500, 200]
    assert len({d.id for d in receiver.deliveries}) == 1 and len({d.body for d in receiver.deliveries}) == 1
    log = log_of(api, key)
    assert [(a["attempt"], a["outcome"], a["status"]) for a in reversed(log)] == [
        (1, "retrying", 500), (2, "retrying", 500), (3, "delivered", 200)]
    assert "answered 500" in log[-1]["error"]


def import_customers(api: TestClient, key: str, n: int) -> None:
    rows = [{"id": f"c-{i}", "email": f"c{i}@example.com"} for i in range(n)]
    r = api.post(f"/v1/sites/{key}/records/customers", json={"records": rows}, headers=admin())
    assert r.status_code == 200 and all(x["status"] == "created" for x in r.json()["results"]), r.text


def test_an_imports_events_go_in_batches_and_only_the_failed_ones_are_tried_again(api: TestClient, key: str,
                                                                           hook_settings: Settings,
                                                                           receiver: Receiver) -> None:
    receiver.secret = add_endpoint(api, key, receiver.url, ["customer.upserted"])["secret"]
    receiver.fail_first = 2
    import_customers(api, key, domain.BATCH + 20)  # two batch jobs
    work(hook_settings)
    assert len(receiver.processed) == domain.BATCH + 20  # each event once, every signature checked
    assert all(d.problem is None for d in receiver.deliveries) and len(receiver.deliveries) == domain.BATCH + 22
    failed_first = [d.id for d in receiver.deliveries[:2]]
    log = list(reversed(log_of(api, key)))
    retried = [(a["event"], a["attempt"], a["outcome"]) for a in log if a["event"] in failed_first]
    assert sorted(retried) == sorted([(e, 1, "retrying") for e in failed_first] + [(e, 2, "delivered")
                                                                                   for e in failed_first])
    assert {(a["attempt"], a["outcome"]) for a in log if a["event"] not in failed_first} == {(1, "delivered")}


def test_a_batch_whose_endpoint_is_down_is_tried_again_as_a_batch(api: TestClient, key: str,
                                                                      hook_settings: Settings) -> None:
    down = f"http://127.0.0.1:{free_port()}/hooks"  # nothing listens
    add_endpoint(api, key, down, ["customer.upserted"])
    import_customers(api, key, 4)
    work(hook_settings)
    log = list(reversed(log_of(api, key)))
    firsts = [a for a in log if a["attempt"] == 1]
    assert len(firsts) == 4 and all(a["outcome"] == "retrying" and a["status"] is None for a in firsts)
    assert firsts[0]["error"].startswith("ConnectError")
    assert all(a["error"].startswith("not tried: ConnectError") for a in firsts[1:])  # one refusal is enough
    # then together on the schedule: attempts 2 and 3, the last marked failed for the resend button
    assert sorted((a["event"], a["attempt"], a["outcome"]) for a in log if a["attempt"] > 1) == sorted(
        (a["event"], n, "retrying" if n == 2 else "failed") for a in firsts for n in (2, 3))


def test_an_endpoint_whose_events_keep_failing_for_good_is_paused_until_turned_on(api: TestClient, key: str,
                                                                                 hook_settings: Settings) -> None:
    made = add_endpoint(api, key, f"http://127.0.0.1:{free_port()}/hooks", ["customer.upserted"])  # nothing listens
    import_customers(api, key, core.PAUSE_AFTER - 1)
    work(hook_settings)
    endpoint = f"/v1/sites/{key}/webhooks/{made['id']}"
    assert api.get(endpoint, headers=admin()).json()["active"] is True  # one event short
    upsert_customer(api, key, id="c-new")
    work(hook_settings)
    paused = log_of(api, key)[0]
    assert (paused["outcome"], paused["endpoint"], paused["attempt"]) == ("paused", made["id"], 0)
    assert f"{core.PAUSE_AFTER} events in a row failed" in paused["error"]
    assert api.get(endpoint, headers=admin()).json()["active"] is False
    upsert_customer(api, key, id="c-new", name="Ann Lee")  # nothing is queued for it while paused
    work(hook_settings)
    assert log_of(api, key)[0] == paused
    # turned on again, its count starts anew: one more event failing for good does not pause it
    assert api.put(endpoint, json={"active": True}, headers=admin()).status_code == 200
    upsert_customer(api, key, id="c-new", name="Ann Lee-Smith")
    work(hook_settings)
    assert log_of(api, key)[0]["outcome"] == "failed" and api.get(endpoint, headers=admin()).json()["active"]


def test_a_retried_success_is_processed_once(api: TestClient, key: str, hook_settings: Settings) -> None:
    """The receiver processed the first delivery but its answer was lost (a 500 after the
    work): the retry carries the same webhook-id, and the receiver drops it."""
    lost = Receiver(fail_first=1, process_failed=True)
    try:
        lost.secret = add_endpoint(api, key, lost.url)["secret"]
        upsert_customer(api, key)
        work(hook_settings)
        assert [d.status for d in lost.deliveries] == [500, 200]
        assert len({d.id for d in lost.deliveries}) == 1 and len(lost.processed) == 1
    finally:
        lost.stop()


def test_a_delivery_failed_for_good_is_logged_and_resent_with_the_same_id(api: TestClient, key: str,
                                                                          hook_settings: Settings,
                                                                          receiver: Receiver) -> None:
    made = add_endpoint(api, key, receiver.url)
    receiver.secret, receiver.fail_first = made["secret"], 3  # every try of three
    upsert_customer(api, key)
    work(hook_settings)
    failed = log_of(api, key)[0]
    assert failed["outcome"] == "failed" and failed["attempt"] == 3 and not receiver.processed
    first = receiver.deliveries[0]
    r = api.post(f"/v1/sites/{key}/webhooks/deliveries/{failed['event']}/resend?endpoint={made['id']}",
                 headers=admin())
    assert r.status_code == 202, r.text
    work(hook_settings)
    last = receiver.deliveries[-1]
    assert last.status == 200 and last.id == first.id and last.body == first.body
    assert log_of(api, key)[0]["resend"] is True and log_of(api, key)[0]["outcome"] == "delivered"
    for bad in (f"deliveries/{failed['event']}/resend?endpoint=wh_00000000", "deliveries/evt_nothing0/resend?endpoint="
                + made["id"]):
        assert api.post(f"/v1/sites/{key}/webhooks/{bad}", headers=admin()).status_code == 404


def test_an_order_is_delivered_once_as_order_created(api: TestClient, key: str, hook_settings: Settings,
                                                    receiver: Receiver) -> None:
    receiver.secret = add_endpoint(api, key, receiver.url, ["order.created"])["secret"]
    secret = secret_of(api, key)
    assert post_order(api, key, secret).status_code == 201
    assert post_order(api, key, secret, msg_id="msg_0002").status_code == 200  # the shop's retry: a duplicate
    upsert_customer(api, key)  # not subscribed
    work(hook_settings)
    [got] = receiver.deliveries
    assert got.problem is None and got.json()["type"] == "order.created"
    assert got.json()["data"]["order"]["order_id"] == ORDER["order_id"]
    assert got.json()["data"]["order"]["value"] == "129.90"


def test_a_rotated_secret_signs_from_the_next_attempt(api: TestClient, key: str, hook_settings: Settings,
                                                      receiver: Receiver) -> None:
    made = add_endpoint(api, key, receiver.url)
    upsert_customer(api, key)
    r = api.post(f"/v1/sites/{key}/webhooks/{made['id']}/secret", headers=admin())
    assert r.status_code == 200 and r.json()["secret"] != made["secret"]
    receiver.secret = made["secret"]  # a receiver still on the old one refuses
    work(hook_settings)
    assert receiver.deliveries[0].problem and "does not match" in receiver.deliveries[0].problem
    assert log_of(api, key)[0]["outcome"] == "failed"


def test_an_inactive_or_unsubscribed_endpoint_gets_nothing(api: TestClient, key: str, hook_settings: Settings,
                                                          receiver: Receiver) -> None:
    made = add_endpoint(api, key, receiver.url)
    r = api.put(f"/v1/sites/{key}/webhooks/{made['id']}", json={"active": False}, headers=admin())
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["url"] == receiver.url
    upsert_customer(api, key)
    work(hook_settings)
    assert receiver.deliveries == [] and log_of(api, key) == []


# --- the API ------------------------------------------------------------------------------------

def test_endpoints_are_listed_edited_and_removed(api: TestClient, key: str) -> None:
    made = add_endpoint(api, key, "https://crm.example.com/hooks", ["lead.created"])
    listed = api.get(f"/v1/sites/{key}/webhooks", headers=admin()).json()
    assert [e["id"] for e in listed["endpoints"]] == [made["id"]] and "secret" not in listed["endpoints"][0]
    assert listed["events"] == ALL
    r = api.put(f"/v1/sites/{key}/webhooks/{made['id']}", json={"events": ["order.created", "lead.created"],
                                                                 "description": "CRM"}, headers=admin())
    assert r.status_code == 200 and r.json()["events"] == ["lead.created", "order.created"]
    assert api.delete(f"/v1/sites/{key}/webhooks/{made['id']}", headers=admin()).status_code == 204
    assert api.get(f"/v1/sites/{key}/webhooks/{made['id']}", headers=admin()).status_code == 404
    assert api.delete(f"/v1/sites/{key}/webhooks/{made['id']}", headers=admin()).status_code == 404


def test_a_site_has_at_most_ten_endpoints(api: TestClient, key: str) -> None:
    for i in range(core.MAX_ENDPOINTS):
        add_endpoint(api, key, f"https://crm.example.com/{i}")
    r = api.post(f"/v1/sites/{key}/webhooks", json={"url": "https://crm.example.com/x", "events": ALL},
                 headers=admin())
    assert r.status_code == 400 and "at most 10" in r.json()["errors"][0]["message"]


def test_http_is_refused_unless_allowed(client: TestClient, site: dict) -> None:
    """The suite's default settings: no BECKON_WEBHOOKS_ALLOW_HTTP."""
    r = client.post(f"/v1/sites/{site['key']}/webhooks", json={"url": "http://crm.example.com/h", "events": ALL},
                    headers=admin())
    assert r.status_code == 400 and "https://" in r.json()["errors"][0]["message"]
    r = client.post(f"/v1/sites/{site['key']}/webhooks", json={"url": "https://crm.example.com/h", "events": ALL},
                    headers=admin())
    assert r.status_code == 201


def test_another_sites_key_cannot_see_or_resend(api: TestClient, key: str, hook_settings: Settings,
                                                receiver: Receiver) -> None:
    made = add_endpoint(api, key, receiver.url)
    receiver.secret = made["secret"]
    upsert_customer(api, key)
    work(hook_settings)
    event = log_of(api, key)[0]["event"]
    other = api.post("/v1/sites", json={"name": "Other", "origins": ["https://other.example"]}, headers=admin()).json()
    token = api.post(f"/v1/sites/{other['key']}/api-keys", json={"label": "crm"}, headers=admin()).json()["key"]
    mine = api.post(f"/v1/sites/{key}/api-keys", json={"label": "crm"}, headers=admin()).json()["key"]
    assert api.get(f"/v1/sites/{key}/webhooks", headers={"Authorization": f"Bearer {mine}"}).status_code == 200
    theirs = {"Authorization": f"Bearer {token}"}
    for method, path in [("GET", "webhooks"), ("GET", f"webhooks/{made['id']}"), ("GET", "webhooks/deliveries"),
                         ("POST", f"webhooks/{made['id']}/secret"), ("DELETE", f"webhooks/{made['id']}"),
                         ("POST", f"webhooks/deliveries/{event}/resend?endpoint={made['id']}")]:
        r = api.request(method, f"/v1/sites/{key}/{path}", headers=theirs)
        assert r.status_code == 404, (method, path, r.text)
    # on its own site, this site's ids mean nothing
    r = api.post(f"/v1/sites/{other['key']}/webhooks/deliveries/{event}/resend?endpoint={made['id']}", headers=theirs)
    assert r.status_code == 404
    assert api.get(f"/v1/sites/{key}/webhooks/{made['id']}", headers=admin()).status_code == 200


@given(body=hostile_json())
@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_hostile_endpoint_bodies_are_400_with_messages(api: TestClient, key: str, body: Any) -> None:
    try:
        content = json.dumps(body).encode()
    except (UnicodeEncodeError, ValueError):
        content = repr(body).encode("utf-8", "surrogatepass")
    for method, path in [("POST", "webhooks"), ("PUT", "webhooks/wh_0000000000000000")]:
        r = api.request(method, f"/v1/sites/{key}/webhooks", content=content, headers=admin()) \
            if method == "POST" else api.request(method, f"/v1/sites/{key}/{path}", content=content, headers=admin())
        assert r.status_code in (201, 400, 404), (r.status_code, r.text)
        if r.status_code == 400:
            assert r.json()["error"]


@given(url=st.one_of(st.text(max_size=60), st.text(max_size=20).map(lambda t: "https://" + t),
                     st.sampled_from(["https://a.example/\ud800", "https://[::1", "https://a.example:0/",
                                      "https://a.example:-1/", "https://%00/", "https://a.example/\r\nX: y"])),
       events=st.lists(st.sampled_from(ALL + ["x", ""]), max_size=3))
@hsettings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_hostile_urls_are_400_never_500(api: TestClient, key: str, url: str, events: list[str]) -> None:
    r = api.post(f"/v1/sites/{key}/webhooks", content=json.dumps({"url": url, "events": events}).encode(),
                 headers=admin())
    assert r.status_code in (201, 400), r.text
    if r.status_code == 201:
        api.delete(f"/v1/sites/{key}/webhooks/{r.json()['id']}", headers=admin())


# --- the admin page ------------------------------------------------------------------------------

def test_the_admin_page_adds_rotates_resends_and_removes(api: TestClient, key: str, hook_settings: Settings,
                                                         receiver: Receiver) -> None:
    make_rep(api, key, email="boss@example.com", name="Boss", role="admin")
    csrf = console_login(api, "boss@example.com")
    r = api.post("/console/admin/webhooks", data={"csrf": csrf, "url": receiver.url, "events": ["customer.upserted"],
                                                  "description": "<script>alert(1)</script>"})
    assert r.status_code == 200 and [h.status_code for h in r.history] == [303], r.text  # a reload posts nothing
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    secret = re.search(r'id="new-secret" data-endpoint="(wh_[0-9a-f]+)">(whsec_[^<]+)<', r.text)
    wid, receiver.secret = secret.group(1), secret.group(2)
    assert api.get(str(r.url)).text.count("whsec_") == 0  # shown once: the same URL again shows nothing
    assert api.get("/console/admin/webhooks").text.count("whsec_") == 0
    bad = api.post("/console/admin/webhooks", data={"csrf": csrf, "url": "ftp://x", "events": ["nope"]})
    assert bad.status_code == 400 and "must start with https://" in bad.text and "must be one of" in bad.text
    receiver.fail_first = 3
    upsert_customer(api, key)
    work(hook_settings)
    page = api.get("/console/admin/webhooks").text
    assert "failed" in page and 'action="/console/admin/webhooks/resend"' in page
    event = log_of(api, key)[0]["event"]
    r = api.post("/console/admin/webhooks/resend", data={"csrf": csrf, "event": event, "endpoint": wid},
                 follow_redirects=False)
    assert r.status_code == 303
    work(hook_settings)
    assert receiver.deliveries[-1].status == 200 and receiver.deliveries[-1].id == event
    assert api.post("/console/admin/webhooks/resend", data={"event": event, "endpoint": wid}).status_code == 403
    r = api.post(f"/console/admin/webhooks/{wid}", data={"csrf": csrf, "events": ["order.created", "lead.created"]},
                 follow_redirects=False)
    assert r.status_code == 303
    assert api.get(f"/v1/sites/{key}/webhooks/{wid}", headers=admin()).json()["events"] == ["lead.created",
                                                                                           "order.created"]
    assert api.get(f"/v1/sites/{key}/webhooks/{wid}", headers=admin()).json()["active"] is False
    r = api.post(f"/console/admin/webhooks/{wid}/secret", data={"csrf": csrf})
    assert r.status_code == 200 and "whsec_" in r.text
    r = api.post(f"/console/admin/webhooks/{wid}/delete", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and api.get(f"/v1/sites/{key}/webhooks", headers=admin()).json()["endpoints"] == []
    assert api.post(f"/console/admin/webhooks/{wid}/delete", data={"csrf": csrf}).status_code == 404


def test_auditors_read_the_webhooks_page_and_reps_do_not(api: TestClient, key: str) -> None:
    add_endpoint(api, key, "https://crm.example.com/hooks?a=<b>")
    make_rep(api, key, email="audit@example.com", name="Aud", role="auditor")
    make_rep(api, key, email="rep@example.com", name="Rep")
    form = api.get("/console/login").text
    api.post("/console/login", data={"csrf": re.search(r'name="csrf" value="([^"]+)"', form).group(1),
                                     "email": "audit@example.com", "password": PASSWORD, "next": "/console/"})
    page = api.get("/console/admin/webhooks")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # the logout form's
    assert page.status_code == 200 and "https://crm.example.com/hooks?a=&lt;b&gt;" in page.text
    assert "Add an endpoint" not in page.text and "Rotate secret" not in page.text
    r = api.post("/console/admin/webhooks", data={"csrf": csrf, "url": "https://x.example", "events": ALL})
    assert r.status_code == 403
    console_login(api, "rep@example.com")
    assert api.get("/console/admin/webhooks").status_code == 403


def test_a_salesperson_who_chose_the_webhook_hears_their_customer_needs_help(api: TestClient, key: str,
                                                                             hook_settings: Settings,
                                                                             receiver: Receiver) -> None:
    from tests.helpers import NEEDY, ingest

    receiver.secret = add_endpoint(api, key, receiver.url, ["alert.customer_needs_help"])["secret"]
    for kind, rows in (("staff", [{"id": "ann", "name": "Ann", "email": "ann@shop.example",
                                   "alerts": {"channels": ["webhook"], "events": ["customer_needs_help"]}}]),
                       ("customers", [{"id": "c1", "email": "cyd@example.com", "name": "Cyd",
                                       "assigned_staff": "ann"}])):
        assert api.post(f"/v1/sites/{key}/records/{kind}", json={"records": rows}, headers=admin()).status_code == 200
    ingest(api, key, "visitor-help01", [{"t": "id", "id": "c1"}, *NEEDY])
    work(hook_settings)
    [got] = receiver.deliveries
    event = got.json()
    assert got.problem is None and event["type"] == "alert.customer_needs_help"
    assert (event["data"]["staff"]["id"], event["data"]["customer"]["id"], event["data"]["visitor"]) == (
        "ann", "c1", "visitor-help01")


def test_a_host_resolving_to_a_private_address_is_refused_at_delivery(client: TestClient, site: dict,
                                                                     settings: Settings, receiver: Receiver,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """An https:// URL whose NAME passes the endpoint's checks but resolves to this machine:
    the worker resolves it, refuses, and logs why; nothing reaches the receiver, no retry."""
    monkeypatch.delenv("BECKON_WEBHOOKS_ALLOW_HTTP", raising=False)
    name = socket.gethostname()
    try:
        resolved = {str(info[4][0]) for info in socket.getaddrinfo(name, 443, type=socket.SOCK_STREAM)}
    except OSError:
        pytest.skip(f"this machine's name {name!r} does not resolve")
    if not core.not_public(resolved) or core.url_problems(f"https://{name}/", False):
        pytest.skip(f"this machine's name {name!r} resolves to public addresses or is refused by its look")
    port = receiver.url.split(":")[2].split("/")[0]
    key = site["key"]
    add = client.post(f"/v1/sites/{key}/webhooks", json={"url": f"https://{name}:{port}/hooks", "events": ALL},
                      headers=admin())
    assert add.status_code == 201, add.text
    upsert_customer(client, key)
    work(settings)
    [attempt] = log_of(client, key)
    assert attempt["outcome"] == "failed" and attempt["status"] is None and attempt["attempt"] == 1
    assert attempt["error"].startswith("the endpoint's host resolves to a private address (")
    assert attempt["error"].endswith("); refused") and any(a in attempt["error"] for a in resolved)
    assert receiver.deliveries == []


def test_a_name_resolving_to_this_machine_is_delivered_when_allowed(api: TestClient, key: str,
                                                                    hook_settings: Settings,
                                                                    receiver: Receiver) -> None:
    """BECKON_WEBHOOKS_ALLOW_HTTP=1: http://localhost reaches the receiver on 127.0.0.1 through
    the address checked (::1 first, where localhost has it, is tried and passed over)."""
    url = receiver.url.replace("127.0.0.1", "localhost")
    receiver.secret = add_endpoint(api, key, url, ["customer.upserted"])["secret"]
    upsert_customer(api, key)
    work(hook_settings)
    [got] = receiver.deliveries
    assert got.problem is None and got.status == 200 and got.headers["host"] == url.split("/")[2]
    assert log_of(api, key)[0]["outcome"] == "delivered"
