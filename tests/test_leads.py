"""Leads in Redis and over the site API (domain/leads.py, web/leads_api.py): a contact request
from the site's server, the widget's "leave a message", a registration update (the records API,
a signed identify()) and a purchase (a signed order) each stored with who it was routed to and
why; the territory table and lead settings; another site's key sees nothing; hostile bodies get
a 4xx, never a 5xx."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings as hsettings
from starlette.testclient import TestClient

from backend.domain.sites import identity_signature

from tests.helpers import (NEEDY, ORIGIN, TEXT, admin, batch, hostile_json, ingest, offered, post_order, respond,
                           secret_of)

ANN = {"id": "ann", "name": "Ann Seller", "email": "ann@shop.example", "areas": ["SW1"], "products": ["kayaks"]}
BOB = {"id": "bob", "name": "Bob Seller", "email": "bob@shop.example", "products": ["kayaks"]}
SEA = {"model": "sea-1", "name": "Sea kayak", "category": "kayaks", "price": "899.00", "currency": "EUR",
       "related": {"attachments": ["paddle-2"], "expendables": ["wax"], "options": ["skeg"]}}


def records(client: TestClient, key: str, kind: str, rows: list) -> None:
    r = client.post(f"/v1/sites/{key}/records/{kind}", json={"records": rows}, headers=admin())
    assert r.status_code == 200 and all(x["status"] != "error" for x in r.json()["results"]), r.text


def post_lead(client: TestClient, key: str, body: dict, headers: dict | None = None):
    return client.post(f"/v1/sites/{key}/leads", json=body, headers=headers or admin())


def leads(client: TestClient, key: str, **params) -> list[dict]:
    r = client.get(f"/v1/sites/{key}/leads", params=params, headers=admin())
    assert r.status_code == 200, r.text
    return r.json()["leads"]


def test_a_contact_request_from_the_sites_server_is_routed_stored_and_listed(client: TestClient, site: dict) -> None:
    key = site["key"]
    records(client, key, "staff", [ANN, BOB])
    records(client, key, "products", [SEA])
    records(client, key, "customers", [{"id": "c1", "email": "cy@example.com", "name": "Cy", "phone": "+44 1",
                                        "postcode": "EH1 1AA", "assigned_staff": "bob"}])
    r = post_lead(client, key, {"email": "dee@example.com", "name": "Dee", "postcode": "sw1a 1aa", "model": "SEA-1",
                                "comment": "Which paddle?", "consent": True})
    assert r.status_code == 201, r.text
    lead = r.json()
    assert (lead["kind"], lead["source"], lead["line"], lead["status"]) == ("contact", "api", "kayaks", "sent")
    assert lead["routed"] == {"staff": "ann", "path": "territory", "why": "area SW1 and sea-1 (their staff record)"}
    # a known customer: their record fills what the request leaves out, their salesperson gets it
    r = post_lead(client, key, {"customer_id": "c1", "email": "cy.new@example.com", "consent": True})
    lead2 = r.json()
    assert (lead2["customer"], lead2["name"], lead2["email"], lead2["phone"], lead2["postcode"]) == (
        "c1", "Cy", "cy.new@example.com", "+44 1", "EH11AA")
    assert lead2["routed"]["path"] == "assigned" and lead2["routed"]["staff"] == "bob"
    assert [x["id"] for x in leads(client, key)] == [lead["id"], lead2["id"]]
    page = client.get(f"/v1/sites/{key}/leads", params={"limit": 1}, headers=admin()).json()
    assert [x["id"] for x in page["leads"]] == [lead["id"]] and page["cursor"]
    rest = leads(client, key, cursor=page["cursor"])
    assert [x["id"] for x in rest] == [lead2["id"]]
    assert client.get(f"/v1/sites/{key}/leads/{lead['id']}", headers=admin()).json() == lead
    assert client.get(f"/v1/sites/{key}/leads/ld_nothing-here", headers=admin()).status_code == 404
    # no consent: kept, marked, nobody routed
    lead3 = post_lead(client, key, {"email": "eve@example.com", "postcode": "SW1", "consent": False}).json()
    assert (lead3["status"], lead3["routed"]["path"], lead3["routed"]["staff"]) == ("no_consent", "no_consent", "")


def test_the_rotation_takes_turns_only_for_rotated_leads(client: TestClient, site: dict) -> None:
    key = site["key"]
    records(client, key, "staff", [ANN, BOB])
    records(client, key, "products", [SEA])
    got = [post_lead(client, key, {"email": f"x{i}@example.com", "postcode": "EH1", "model": "sea-1",
                                   "consent": True}).json()["routed"] for i in range(3)]
    assert [g["staff"] for g in got] == ["ann", "bob", "ann"] and {g["path"] for g in got} == {"rotation"}
    post_lead(client, key, {"email": "t@example.com", "postcode": "SW1", "model": "sea-1", "consent": True})
    assert post_lead(client, key, {"email": "y@example.com", "postcode": "EH1", "model": "sea-1",
                                   "consent": True}).json()["routed"]["staff"] == "bob"


def test_territories_and_lead_settings(client: TestClient, site: dict) -> None:
    key = site["key"]
    url = f"/v1/sites/{key}/territories"
    records(client, key, "staff", [ANN, BOB])
    r = client.put(url, json=[{"areas": ["sw"], "products": ["kayaks"], "staff": "bob"},
                              {"areas": ["EH"], "staff": "zed"}, {"areas": [], "staff": "ann"}], headers=admin())
    assert r.status_code == 400
    assert [(e["field"], e["message"]) for e in r.json()["errors"]] == [  # every row's problems at once
        ("[1].staff", "no staff member has the id 'zed'; add the staff first"),
        ("[2].areas", "name at least one area code or postcode prefix")]
    r = client.put(url, json=[{"areas": ["EH"], "staff": "zed"}], headers=admin())
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "[0].staff"
    table = [{"areas": ["SW"], "products": ["kayaks"], "staff": "bob"}]
    assert client.put(url, json={"territories": table}, headers=admin()).status_code == 200
    assert client.get(url, headers=admin()).json() == {"territories": table}
    lead = post_lead(client, key, {"email": "d@example.com", "postcode": "SW1A", "model": "kayaks",
                                   "consent": True}).json()
    assert lead["routed"] == {"staff": "bob", "path": "territory", "why": "area SW and kayaks (territory row 1)"}

    url = f"/v1/sites/{key}/lead-settings"
    assert client.get(url, headers=admin()).json() == {"extra_to": [], "sales_email": ""}
    r = client.put(url, json={"extra_to": ["a@x.example"] * 11}, headers=admin())
    assert r.status_code == 400
    r = client.put(url, json={"extra_to": ["a,b@x.example", "Leads@Shop.example"], "cc": 1}, headers=admin())
    assert {e["field"] for e in r.json()["errors"]} == {"extra_to[0]", "cc"}
    assert client.put(url, json={"extra_to": ["Leads@Shop.example"]}, headers=admin()).status_code == 200
    assert client.get(url, headers=admin()).json()["extra_to"] == ["leads@shop.example"]


def test_another_sites_key_can_neither_read_nor_post_leads(client: TestClient, site: dict) -> None:
    key = site["key"]
    other = client.post("/v1/sites", json={"name": "Other", "origins": ["https://other.example"]},
                        headers=admin()).json()["key"]
    theirs = client.post(f"/v1/sites/{other}/api-keys", json={"label": "crm"}, headers=admin()).json()["key"]
    mine = client.post(f"/v1/sites/{key}/api-keys", json={"label": "crm"}, headers=admin()).json()["key"]
    lead = post_lead(client, key, {"email": "d@example.com"}, headers={"Authorization": f"Bearer {mine}"}).json()
    bad = {"Authorization": f"Bearer {theirs}"}
    assert post_lead(client, key, {"email": "d@example.com"}, headers=bad).status_code == 404
    for path in ("leads", f"leads/{lead['id']}", "territories", "lead-settings"):
        assert client.get(f"/v1/sites/{key}/{path}", headers=bad).status_code == 404
    assert client.put(f"/v1/sites/{key}/territories", json=[], headers=bad).status_code == 404
    assert leads(client, other) == []


def test_the_widgets_message_is_a_contact_lead(client: TestClient, site: dict) -> None:
    key = site["key"]
    client.put(f"/v1/sites/{key}/offer-settings", json={"leave_message": True, "sales_email": "sales@shop.example"},
               headers=admin()).raise_for_status()
    records(client, key, "staff", [ANN])
    ingest(client, key, "visitor-0001", NEEDY + [{"t": "id", "name": "Fay", "area": "sw1a 2bb"}])
    answer = offered(client, key, "visitor-0001")
    r = respond(client, key, "visitor-0001", answer["tok"], answer["cmd"]["id"], "message", name="",
                email="Fay@example.com", message="Call me\nplease")
    assert r.status_code == 200, r.text
    [lead] = leads(client, key)
    assert (lead["source"], lead["visitor"], lead["name"], lead["email"], lead["comment"], lead["postcode"]) == (
        "widget", "visitor-0001", "Fay", "fay@example.com", "Call me\nplease", "SW1A2BB")
    assert lead["status"] == "no_consent"  # the form asked no consent, and no record gives it


def test_registration_updates_from_the_records_api_and_a_signed_identify(client: TestClient, site: dict) -> None:
    key = site["key"]
    records(client, key, "staff", [ANN])
    records(client, key, "customers", [{"id": "c1", "email": "cy@example.com", "name": "Cy", "assigned_staff": "ann",
                                        "consent": {"sales": True}}])
    assert leads(client, key) == []  # a created customer is no lead
    records(client, key, "customers", [{"id": "c1", "phone": "+44 20 1234"}])
    records(client, key, "customers", [{"id": "c1", "products_owned": ["sea-1"]}])  # not a contact detail
    [lead] = leads(client, key)
    assert (lead["kind"], lead["source"], lead["changes"], lead["phone"], lead["routed"]["staff"]) == (
        "registration", "api", ["phone"], "+44 20 1234", "ann")
    # an unsigned identify() is no lead, though this site does not require signing: anyone
    # could type a customer's id or e-mail address and have staff change their record
    ingest(client, key, "visitor-0002", [{"t": "pv", "url": "https://shop.example/"},
                                         {"t": "id", "id": "c1", "name": "Mallory"}])
    assert len(leads(client, key)) == 1
    # a signed identify() with a new name: one lead, however often the page says it
    secret = client.put(f"/v1/sites/{key}/identity", json={"required": False}, headers=admin()).json()["secret"]
    for _ in range(2):
        ingest(client, key, "visitor-0002", [{"t": "pv", "url": "https://shop.example/"},
                                             {"t": "id", "id": "c1", "name": "Cy Young",
                                              "sig": identity_signature(secret, "c1")}])
    found = leads(client, key)
    assert len(found) == 2 and (found[1]["source"], found[1]["changes"], found[1]["name"]) == (
        "identify", ["name"], "Cy Young")
    # a CSV import is the site correcting its records in bulk, not a customer: no lead
    r = client.post(f"/v1/sites/{key}/records/customers.csv", content="id,phone\nc1,+44 20 9999\n",
                    headers={**admin(), "Content-Type": "text/csv"})
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "updated", r.text
    assert len(leads(client, key)) == 2


def test_a_purchase_is_a_lead_once_with_the_products_line(client: TestClient, site: dict) -> None:
    key = site["key"]
    records(client, key, "staff", [ANN, BOB])
    records(client, key, "products", [SEA])
    records(client, key, "customers", [{"id": "cust-77", "email": "g@example.com", "name": "Gus",
                                        "consent": {"sales": True}, "postcode": "SW1 9ZZ"}])
    order = {"order_id": "SO-1", "value": 899, "currency": "EUR", "customer_id": "cust-77",
             "items": [{"sku": "SEA-1", "name": "Sea kayak", "qty": 1, "price": "899.00"}]}
    secret = secret_of(client, key)
    assert post_order(client, key, secret, order).status_code == 201
    assert post_order(client, key, secret, order, msg_id="msg_0002").status_code == 200  # a duplicate
    [lead] = leads(client, key)
    assert (lead["kind"], lead["source"], lead["order_id"], lead["model"], lead["line"], lead["name"]) == (
        "purchase", "order", "SO-1", "sea-1", "kayaks", "Gus")
    assert lead["routed"]["staff"] == "ann" and lead["status"] == "sent"
    # an order is no consent: a buyer without stored consent is kept as no_consent
    order2 = {**order, "order_id": "SO-2", "customer_id": "", "email": "new@example.com"}
    assert post_order(client, key, secret, order2, msg_id="msg_0003").status_code == 201
    assert leads(client, key)[1]["status"] == "no_consent"
    # Beckon.purchase from the page
    ingest(client, key, "visitor-0003", [{"t": "pv", "url": "https://shop.example/"}])
    ingest(client, key, "visitor-0003", [{"t": "buy", **order, "order_id": "SO-3"}])
    assert [x["order_id"] for x in leads(client, key)][-1] == "SO-3"


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=hostile_json())
def test_hostile_bodies_get_a_4xx(client: TestClient, site: dict, body: object) -> None:
    key = site["key"]
    raw = json.dumps(body).encode("utf-8", "surrogatepass")
    for method, path in (("POST", "leads"), ("PUT", "territories"), ("PUT", "lead-settings")):
        r = client.request(method, f"/v1/sites/{key}/{path}", content=raw,
                           headers={**admin(), "Content-Type": "application/json"})
        assert r.status_code < 500, (path, r.text)
    for q in ({"cursor": "x"}, {"cursor": "1.%ED%A0%80"}, {"from": "-1"}, {"cursor": "99999999999999999999.a"},
              {"cursor": "\u00b2.a"}, {"cursor": "1." + "a" * 200}):
        assert client.get(f"/v1/sites/{key}/leads", params=q, headers=admin()).status_code in (200, 400)


def test_a_lead_is_kept_and_answered_when_its_mail_cannot_be_queued(settings, redis_client) -> None:
    """The job queue's Redis is down: the request that made the lead (here the site's server)
    still gets its 201, the lead is stored and listed, and nothing is posted twice to retry it."""
    import dataclasses

    from backend.app import create_app
    from backend.testing.servers import free_port

    down = dataclasses.replace(settings, queue_redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with TestClient(create_app(down), base_url="http://beckon.test") as client:
        key = client.post("/v1/sites", json={"name": "Shop", "origins": [ORIGIN]}, headers=admin()).json()["key"]
        records(client, key, "staff", [ANN])
        r = post_lead(client, key, {"email": "dee@example.com", "postcode": "SW1A 1AA", "consent": True})
        assert r.status_code == 201, r.text
        assert [x["id"] for x in leads(client, key)] == [r.json()["id"]]
