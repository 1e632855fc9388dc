"""Who hears of a lead, with the real job worker and a real SMTP server (aiosmtpd): the routed
salesperson (assigned, area + model, rotation in working hours) and the site's own inbox, or
only the inbox when nobody is in hours; nobody of sales without consent; each trigger (the site's
server, the widget's "leave a message", a registration update, a signed order and
Beckon.purchase); a purchase mail lists what goes with what was bought; no customer value
makes a header; a console rep gets a notification."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.helpers import (NEEDY, admin, console_login, expect, ingest, make_rep, offered, post_order, respond,
                           run_worker, secret_of)

HOST = "http://beckon.test"
SALES = "sales@shop.example"
OFFICE_NEVER = {"timezone": "UTC"}  # no working hours at all
ANN = {"id": "ann", "name": "Ann Seller", "email": "ann@shop.example", "areas": ["SW1"], "products": ["sea-1"],
       "schedule": OFFICE_NEVER}
BOB = {"id": "bob", "name": "Bob Seller", "email": "bob@shop.example", "products": ["kayaks"]}
CY = {"id": "cy", "name": "Cy Seller", "email": "cy@shop.example", "products": ["kayaks"]}
SEA = {"model": "sea-1", "name": "Sea kayak", "category": "kayaks", "price": "899.00", "currency": "EUR",
       "related": {"attachments": ["paddle-2"], "expendables": ["wax"], "options": ["skeg"]}}
RELATED = [{"model": "paddle-2", "name": "Carbon paddle", "category": "paddles", "price": "129.00", "currency": "EUR"},
           {"model": "wax", "name": "Hull wax", "price": "9.50", "currency": "EUR"},
           {"model": "skeg", "name": "Drop skeg", "price": "59.00", "currency": "EUR"}]


def records(client: TestClient, key: str, kind: str, rows: list) -> None:
    r = client.post(f"/v1/sites/{key}/records/{kind}", json={"records": rows}, headers=admin())
    assert r.status_code == 200 and all(x["status"] != "error" for x in r.json()["results"]), r.text


def shop(client: TestClient, key: str, staff: list | None = None) -> None:
    client.put(f"/v1/sites/{key}/offer-settings", json={"leave_message": True, "sales_email": SALES},
               headers=admin()).raise_for_status()
    records(client, key, "staff", staff if staff is not None else [ANN, BOB, CY])
    records(client, key, "products", [SEA, *RELATED])


def lead(client: TestClient, key: str, **body) -> dict:
    r = client.post(f"/v1/sites/{key}/leads", json={"email": "dee@example.com", "consent": True, **body},
                    headers=admin())
    assert r.status_code == 201, r.text
    return r.json()


def mails(smtp, settings) -> dict[str, object]:
    """What the worker sent, by addressee (each address once)."""
    run_worker(settings, smtp)
    got = {}
    for msg in smtp.messages:
        assert msg["To"] not in got, f"two mails to {msg['To']}"
        got[msg["To"]] = msg
    smtp.messages.clear()
    return got


def text(msg) -> str:
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")


def test_each_routing_path_mails_the_right_salesperson_and_the_sites_inbox(client: TestClient, site: dict,
                                                                          smtp, settings) -> None:
    key = site["key"]
    shop(client, key)
    client.put(f"/v1/sites/{key}/lead-settings", json={"extra_to": ["leads@shop.example", SALES.upper()]},
               headers=admin()).raise_for_status()
    records(client, key, "customers", [{"id": "c1", "email": "cy.c@example.com", "name": "Cyd", "phone": "+44 1",
                                        "assigned_staff": "ann"}])
    # assigned: Ann, out of hours (the customer is hers)
    lead(client, key, customer_id="c1", comment="Is it stable?", model="sea-1")
    got = mails(smtp, settings)
    assert set(got) == {"ann@shop.example", SALES, "leads@shop.example"}
    body = text(got["ann@shop.example"])
    for part in ("Cyd", "+44 1", "dee@example.com", "Is it stable?", "Sea kayak (sea-1, kayaks)",
                 "Routed to Ann Seller: the customer's assigned salesperson (ann)"):
        assert part in body, part
    assert got["ann@shop.example"]["Subject"] == "Message from Cyd on Shop about sea-1"
    assert got["ann@shop.example"]["Reply-To"] == "dee@example.com"

    # area + model, by a territory row
    client.put(f"/v1/sites/{key}/territories", json=[{"areas": ["SW1"], "products": ["sea-1"], "staff": "cy"}],
               headers=admin()).raise_for_status()
    lead(client, key, postcode="SW1A 1AA", model="sea-1", name="Dee")
    got = mails(smtp, settings)
    assert set(got) == {"cy@shop.example", SALES, "leads@shop.example"}
    assert "Routed to Cy Seller: area SW1 and sea-1 (territory row 1)" in text(got["cy@shop.example"])

    # fallback rotation among the line's staff in working hours (Ann has none): Bob, then Cy
    assert lead(client, key, postcode="EH1", model="sea-1")["routed"]["staff"] == "bob"
    got = mails(smtp, settings)
    assert set(got) == {"bob@shop.example", SALES, "leads@shop.example"}
    assert "next in turn of 2 of the kayaks staff in working hours" in text(got["bob@shop.example"])
    assert lead(client, key, postcode="EH1", model="sea-1")["routed"]["staff"] == "cy"
    assert "cy@shop.example" in mails(smtp, settings)


def test_nobody_in_hours_mails_only_the_sites_inbox(client: TestClient, site: dict, smtp, settings) -> None:
    key = site["key"]
    shop(client, key, staff=[ANN])
    found = lead(client, key, postcode="EH1", model="sea-1")
    assert (found["status"], found["routed"]["path"], found["notified"]) == ("nobody", "nobody", [SALES])
    got = mails(smtp, settings)
    assert set(got) == {SALES} and "Routed to nobody" in text(got[SALES])


def test_without_consent_no_salesperson_is_mailed(client: TestClient, site: dict, smtp, settings) -> None:
    key = site["key"]
    shop(client, key)
    records(client, key, "customers", [{"id": "c1", "email": "c1@example.com", "assigned_staff": "bob",
                                        "consent": {"sales": True}}])
    found = lead(client, key, customer_id="c1", consent=False)  # the form's "no" wins over the record
    assert (found["status"], found["routed"]["staff"], found["notified"]) == ("no_consent", "", [SALES])
    got = mails(smtp, settings)
    assert set(got) == {SALES}  # the inbox answers the question; nobody sells
    assert "did not agree to be contacted by sales" in text(got[SALES])
    # a purchase without stored consent: kept, marked, nobody mailed at all
    order = {"order_id": "SO-9", "value": 899, "currency": "EUR", "email": "new@example.com",
             "items": [{"sku": "sea-1", "name": "Sea kayak", "qty": 1, "price": "899.00"}]}
    assert post_order(client, key, secret_of(client, key), order).status_code == 201
    stored = client.get(f"/v1/sites/{key}/leads", headers=admin()).json()["leads"][-1]
    assert (stored["kind"], stored["status"], stored["notified"]) == ("purchase", "no_consent", [])
    assert mails(smtp, settings) == {}


def test_the_widgets_message_reaches_the_salesperson_and_the_inbox_once_each(client: TestClient, site: dict,
                                                                            smtp, settings) -> None:
    key = site["key"]
    shop(client, key, staff=[{**BOB, "email": SALES}])  # the salesperson's address is the inbox too
    records(client, key, "customers", [{"email": "fay@example.com", "name": "Fay", "assigned_staff": "bob",
                                        "consent": {"sales": True}}])
    ingest(client, key, "visitor-0001", NEEDY)
    answer = offered(client, key, "visitor-0001")
    r = respond(client, key, "visitor-0001", answer["tok"], answer["cmd"]["id"], "message", name="",
                email="fay@example.com", message="Call me")
    assert r.status_code == 200, r.text
    got = mails(smtp, settings)
    assert set(got) == {SALES}  # one mail, though it is both the inbox and the salesperson
    body = text(got[SALES])
    assert "Fay" in body and "Call me" in body and "Quote (https://shop.example/quote)" in body
    assert "zip (invalid)" in body and f"{settings.public_url}/console/visitors/visitor-0001" in body
    assert "Routed to Bob Seller" in body


def test_a_registration_update_mails_the_customers_salesperson(client: TestClient, site: dict, smtp,
                                                                settings) -> None:
    key = site["key"]
    shop(client, key)
    records(client, key, "customers", [{"id": "c1", "email": "c1@example.com", "name": "Gil", "assigned_staff": "bob",
                                        "consent": {"sales": True}}])
    assert mails(smtp, settings) == {}  # a new record is no lead
    records(client, key, "customers", [{"id": "c1", "phone": "+44 20 7946 0000", "postcode": "SW1A 1AA"}])
    got = mails(smtp, settings)
    assert set(got) == {"bob@shop.example", SALES}
    assert got["bob@shop.example"]["Subject"] == "Gil changed their details on Shop"
    assert "changed their details on Shop: phone, postcode" in text(got["bob@shop.example"])


def test_a_purchase_mail_lists_what_goes_with_what_was_bought(client: TestClient, site: dict, smtp, settings) -> None:
    key = site["key"]
    shop(client, key)
    records(client, key, "customers", [{"id": "cust-77", "email": "hal@example.com", "name": "Hal",
                                        "assigned_staff": "bob", "consent": {"sales": True}}])
    order = {"order_id": "SO-1", "value": 899, "currency": "EUR", "customer_id": "cust-77",
             "items": [{"sku": "SEA-1", "name": "Sea kayak", "qty": 1, "price": "899.00"}]}
    assert post_order(client, key, secret_of(client, key), order).status_code == 201
    got = mails(smtp, settings)
    assert set(got) == {"bob@shop.example", SALES}
    assert got["bob@shop.example"]["Subject"] == "Purchase by Hal on Shop: order SO-1"
    body = text(got["bob@shop.example"])
    for part in ("1 x Sea kayak (SEA-1), 899.00 EUR", "Attachments: Carbon paddle (paddle-2, 129.00 EUR)",
                 "Expendables: Hull wax (wax, 9.50 EUR)", "Options: Drop skeg (skeg, 59.00 EUR)"):
        assert part in body, part
    html = got["bob@shop.example"].get_body(("html",)).get_content()
    assert "Carbon paddle" in html and "Drop skeg" in html
    # Beckon.purchase from the customer's page, and a staff member who chose no purchase alerts
    records(client, key, "staff", [{"id": "bob", "alerts": {"channels": ["email"], "events": ["new_lead"]}}])
    ingest(client, key, "visitor-0005", [{"t": "pv", "url": "https://shop.example/kayaks"},
                                         {"t": "id", "id": "cust-77"}])  # the page names no customer: identify
    ingest(client, key, "visitor-0005", [{"t": "buy", **order, "order_id": "SO-2"}])
    got = mails(smtp, settings)
    assert set(got) == {SALES} and "Purchase by Hal on Shop: order SO-2" == got[SALES]["Subject"]


def test_no_customer_value_makes_a_header(client: TestClient, site: dict, smtp, settings) -> None:
    key = site["key"]
    shop(client, key)
    records(client, key, "customers", [{"id": "c1", "email": "c1@example.com", "assigned_staff": "bob"}])
    evil = "Ann\r\nBcc: evil@x.example\u2028X-Evil: 1\u2029\x85Cc: evil2@x.example"
    found = lead(client, key, customer_id="c1", name=evil, company="Acme\u2028Bcc: evil@x.example",
                 comment="Hi\r\nBcc: evil@x.example\r\n\r\nbody", email="a@b.example")
    assert found["status"] == "sent"
    r = client.post(f"/v1/sites/{key}/leads", json={"email": "a@b.example\r\nBcc: evil@x.example"}, headers=admin())
    assert r.status_code == 400
    got = mails(smtp, settings)
    assert set(got) == {"bob@shop.example", SALES}
    for msg in got.values():
        assert {k.lower() for k in msg.keys()} <= {"from", "to", "subject", "reply-to", "content-type",
                                                   "mime-version", "content-transfer-encoding"}
        assert msg["Bcc"] is None and msg["Cc"] is None and msg["X-Evil"] is None
        assert msg["Subject"].strip() == "Message from Ann Bcc: evil@x.example X-Evil: 1 Cc: evil2@x.example on Shop"
        assert "Hi\nBcc: evil@x.example" in text(msg)  # in the body, as text


def test_a_console_rep_gets_a_notification(client: TestClient, site: dict, smtp, settings) -> None:
    key = site["key"]
    shop(client, key)
    rid = make_rep(client, key, email="bob.rep@shop.example", name="Bob")
    records(client, key, "staff", [{"id": "bob", "rep": rid, "alerts": {"channels": ["console"]}}])
    records(client, key, "customers", [{"id": "c1", "email": "c1@example.com", "assigned_staff": "bob"}])
    csrf = console_login(client, "bob.rep@shop.example")
    with client.websocket_connect(f"ws://beckon.test/console/ws?csrf={csrf}", headers={"Origin": HOST}) as ws:
        found = lead(client, key, customer_id="c1", name="Ivy", model="sea-1")
        frame = expect(ws, "lead")
        assert (frame["id"], frame["name"], frame["model"], frame["kind"]) == (found["id"], "Ivy", "sea-1", "contact")
    assert set(mails(smtp, settings)) == {SALES}  # Bob chose the console only


def test_a_lead_is_a_webhook_event_and_an_alert_for_who_chose_webhooks(client: TestClient, site: dict) -> None:
    """Leads hand lead.created (and alert.new_lead / alert.purchase for a staff member with the
    webhook channel) to the signed webhooks; their delivery is tests/test_webhooks.py's."""
    key = site["key"]
    svc = client.app.state.services
    assert svc.leads.webhooks is svc.webhooks
    sent: list[tuple[str, str, dict, str | None]] = []

    class Recorder:
        async def emit(self, site: str, event_type: str, data: dict, event_id: str | None = None) -> None:
            sent.append((site, event_type, data, event_id))

    svc.leads.webhooks = Recorder()
    shop(client, key, staff=[{**BOB, "alerts": {"channels": ["webhook"], "events": ["new_lead"]}}])
    found = lead(client, key, model="sea-1", postcode="EH1")
    assert [(s, t, e) for s, t, _, e in sent] == [(key, "lead.created", f"evt_{found['id']}"),
                                                   (key, "alert.new_lead", f"evt_alert_{found['id']}")]
    assert sent[1][2] == {"staff": {"id": "bob", "name": "Bob Seller", "email": "bob@shop.example"}, "lead": found}
    sent.clear()
    lead(client, key, model="sea-1", consent=False)
    assert [t for _, t, _, _ in sent] == ["lead.created"]  # no alert without consent
