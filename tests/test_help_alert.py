"""'My customer is on the site and needs help' (issue 13): when a visitor whose identity the site
vouches for is a customer with an assigned salesperson who chose this event, and starts needing
help, that salesperson hears of it over each channel they chose (the console, e-mail, a signed
webhook), once an hour per customer; a customer without a salesperson, a salesperson who did not
choose the event, or an identity the site does not vouch for alerts nobody."""

from __future__ import annotations

from starlette.testclient import TestClient

from backend.domain.sites import identity_signature
from tests.helpers import NEEDY, admin, console_login, expect, ingest, make_rep, run_worker

HOST = "http://beckon.test"


def records(client: TestClient, key: str, kind: str, rows: list) -> None:
    r = client.post(f"/v1/sites/{key}/records/{kind}", json={"records": rows}, headers=admin())
    assert r.status_code == 200 and all(x["status"] != "error" for x in r.json()["results"]), r.text


def test_the_assigned_salesperson_hears_once_an_hour_over_the_channels_they_chose(client: TestClient, site: dict,
                                                                                  smtp, settings) -> None:
    key = site["key"]
    rid = make_rep(client, key, email="ann@shop.example", name="Ann")
    records(client, key, "staff", [
        {"id": "ann", "name": "Ann", "email": "ann@shop.example", "rep": rid,
         "alerts": {"channels": ["console", "email"], "events": ["customer_needs_help"]}},
        {"id": "bob", "name": "Bob", "email": "bob@shop.example", "alerts": {"channels": ["email"],
                                                                               "events": ["new_lead"]}}])
    records(client, key, "customers", [
        {"id": "c1", "email": "cyd@example.com", "name": "Cyd <b>Young</b>", "phone": "+44 1", "assigned_staff": "ann"},
        {"id": "c2", "email": "dee@example.com", "name": "Dee", "assigned_staff": "bob"},
        {"id": "c3", "email": "eve@example.com", "name": "Eve"}])
    csrf = console_login(client, "ann@shop.example")
    with client.websocket_connect(f"ws://beckon.test/console/ws?csrf={csrf}", headers={"Origin": HOST}) as ws:
        ingest(client, key, "visitor-c1-01", [{"t": "id", "id": "c1"}, *NEEDY])
        frame = expect(ws, "customer-needs-help")
        assert (frame["customer"], frame["name"], frame["visitor"]) == ("c1", "Cyd <b>Young</b>", "visitor-c1-01")
        assert "form_errors" in frame["reasons"] or frame["reasons"]
    ingest(client, key, "visitor-c1-02", [{"t": "id", "id": "c1"}, *NEEDY])  # again within the hour: no alert
    for vid, cid in (("visitor-c2-01", "c2"), ("visitor-c3-01", "c3"), ("visitor-xx-01", "nobody")):
        ingest(client, key, vid, [{"t": "id", "id": cid}, *NEEDY])  # Bob chose other events; Eve has nobody
    run_worker(settings, smtp)
    assert [m["To"] for m in smtp.messages] == ["ann@shop.example"]
    msg = smtp.messages[0]
    assert msg["Subject"] == "Cyd <b>Young</b> needs help on Shop now"
    body = msg.get_body(("plain",)).get_content()
    assert "+44 1" in body and "/console/visitors/visitor-c1-01" in body
    html = msg.get_body(("html",)).get_content()
    assert "<b>Young</b>" not in html and "&lt;b&gt;Young&lt;/b&gt;" in html


def test_an_identity_the_site_does_not_vouch_for_alerts_nobody(client: TestClient, site: dict, smtp,
                                                               settings) -> None:
    key = site["key"]
    records(client, key, "staff", [{"id": "ann", "name": "Ann", "email": "ann@shop.example",
                                    "alerts": {"channels": ["email"], "events": ["customer_needs_help"]}}])
    records(client, key, "customers", [{"id": "c1", "email": "cyd@example.com", "assigned_staff": "ann"}])
    secret = client.put(f"/v1/sites/{key}/identity", json={"required": True}, headers=admin()).json()["secret"]
    ingest(client, key, "visitor-0001", [{"t": "id", "id": "c1"}, *NEEDY])  # unsigned: a claim
    run_worker(settings, smtp)
    assert smtp.messages == []
    ingest(client, key, "visitor-0002", [{"t": "id", "id": "c1", "sig": identity_signature(secret, "c1")}, *NEEDY])
    run_worker(settings, smtp)
    assert [m["To"] for m in smtp.messages] == ["ann@shop.example"]
