"""The customer's contact form as pages call it (web/contact_ui.py, domain/contact_form.py): the
prefill gives a customer record only to a signed identity (and never to a page that merely
claims an id or e-mail), the product comes from the page map, the widget's and a marked form's
requests become leads with per-field errors, a visitor is limited to 5 an hour, another site's
key, visitor or token is refused, and hostile bodies get a 4xx, never a 5xx."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from starlette.testclient import TestClient

from backend.domain.sites import identity_signature
from tests.helpers import NEEDY, ORIGIN, TEXT, TOKENS, admin, hostile_json, ingest, offered

ANN = {"id": "ann", "name": "Ann Seller", "email": "ann@shop.example", "areas": ["SW1"], "products": ["sea-1"]}
SEA = {"model": "sea-1", "name": "Sea kayak", "category": "kayaks"}
CY = {"id": "c1", "email": "cy@example.com", "name": "Cy Young", "phone": "+44 20 7946 0000", "postcode": "SW1A 1AA"}
PAGE = "https://shop.example/product/kayak"


def records(client: TestClient, key: str, kind: str, rows: list) -> None:
    r = client.post(f"/v1/sites/{key}/records/{kind}", json={"records": rows}, headers=admin())
    assert r.status_code == 200 and all(x["status"] != "error" for x in r.json()["results"]), r.text


def shop(client: TestClient, key: str, signed: bool = True) -> str:
    """Staff, a product, a customer, the page map naming sea-1; the identity secret."""
    records(client, key, "staff", [ANN])
    records(client, key, "products", [SEA])
    records(client, key, "customers", [CY])
    client.put(f"/v1/sites/{key}/matching", json={"pages": [{"pattern": "/product/kayak*", "product": "sea-1"}]},
               headers=admin()).raise_for_status()
    r = client.put(f"/v1/sites/{key}/identity", json={"required": signed}, headers=admin())
    return r.json()["secret"]


def visit(client: TestClient, key: str, vid: str, *identities: dict) -> str:
    """A visitor on the kayak page, identified as said, in order; their token."""
    answer = ingest(client, key, vid, [{"t": "pv", "url": PAGE, "title": "Kayak"}])
    for ident in identities:
        answer = ingest(client, key, vid, [{"t": "id", **ident}])
    return answer.get("tok") or ingest(client, key, vid, [{"t": "hb"}])["tok"]


def call(client: TestClient, path: str, key: str, vid: str, tok: str, origin: str = ORIGIN, **extra):
    return client.post(path, content=json.dumps({"site": key, "vid": vid, "tok": tok, **extra}),
                       headers={**TEXT, "Origin": origin})


def leads(client: TestClient, key: str, source: str) -> list[dict]:
    r = client.get(f"/v1/sites/{key}/leads", headers=admin())
    return [x for x in r.json()["leads"] if x["source"] == source]


def test_prefill_gives_the_record_only_to_a_signed_identity(client: TestClient, site: dict) -> None:
    key = site["key"]
    secret = shop(client, key)
    # unsigned, on a site requiring signatures: only what the page itself said
    tok = visit(client, key, "visitor-0001", {"id": "c1", "email": "cy@example.com", "name": "Someone"})
    r = call(client, "/v1/contact/prefill", key, "visitor-0001", tok)
    assert r.status_code == 200, r.text
    assert r.json() == {"fields": {"name": "Someone", "email": "cy@example.com"}, "source": "identify",
                        "about": {"model": "sea-1", "name": "Sea kayak"}}
    assert r.headers["access-control-allow-origin"] == ORIGIN
    # signed: the record
    tok = visit(client, key, "visitor-0002", {"id": "c1", "email": "cy@example.com",
                                              "sig": identity_signature(secret, "c1")})
    got = call(client, "/v1/contact/prefill", key, "visitor-0002", tok).json()
    assert got["source"] == "record" and got["fields"] == {
        "name": "Cy Young", "email": "cy@example.com", "phone": "+44 20 7946 0000", "postcode": "SW1A 1AA"}
    # an unsigned id kept from an earlier call beside a later signed e-mail of someone else
    records(client, key, "customers", [{"id": "m1", "email": "mallory@example.com", "name": "Mal"}])
    tok = visit(client, key, "visitor-0003", {"id": "c1"},
                {"email": "mallory@example.com", "sig": identity_signature(secret, "mallory@example.com")})
    got = call(client, "/v1/contact/prefill", key, "visitor-0003", tok).json()
    assert got["source"] == "record" and got["fields"]["name"] == "Mal"  # the signed one only
    assert "Cy" not in json.dumps(got) and "c1" not in json.dumps(got)
    # a forged signature is no signature
    tok = visit(client, key, "visitor-0004", {"id": "c1", "sig": "0" * 64})
    assert "phone" not in call(client, "/v1/contact/prefill", key, "visitor-0004", tok).json()["fields"]


def test_without_signatures_required_a_claimed_email_gets_no_record(client: TestClient, site: dict) -> None:
    key = site["key"]
    shop(client, key, signed=False)
    tok = visit(client, key, "visitor-0001", {"email": "cy@example.com"})
    got = call(client, "/v1/contact/prefill", key, "visitor-0001", tok).json()
    assert got == {"fields": {"email": "cy@example.com"}, "source": "identify",
                   "about": {"model": "sea-1", "name": "Sea kayak"}}
    # a page nobody identified, off the page map: nothing at all
    ingest(client, key, "visitor-0002", [{"t": "pv", "url": "https://shop.example/", "title": "Home"}])
    tok = ingest(client, key, "visitor-0002", [{"t": "hb"}])["tok"]
    assert call(client, "/v1/contact/prefill", key, "visitor-0002", tok).json() == {
        "fields": {}, "source": "", "about": None}


def test_the_widgets_form_makes_a_lead_with_the_pages_model(client: TestClient, site: dict) -> None:
    key = site["key"]
    secret = shop(client, key)
    tok = visit(client, key, "visitor-0001", {"id": "c1", "sig": identity_signature(secret, "c1")})
    # every problem, per field; the page cannot say the model
    r = call(client, "/v1/contact", key, "visitor-0001", tok,
             fields={"email": "not an address", "phone": "call me", "consent": "yes"})
    assert r.status_code == 400 and r.headers["access-control-allow-origin"] == ORIGIN
    assert {e["field"] for e in r.json()["errors"]} == {"email", "phone", "consent"}
    r = call(client, "/v1/contact", key, "visitor-0001", tok, fields={"email": "cy@example.com", "model": "x-9"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "model"
    r = call(client, "/v1/contact", key, "visitor-0001", tok,
             fields={"name": "Cy Young", "email": "cy@example.com", "phone": "", "postcode": "SW1A 1AA",
                     "comment": "Which paddle?", "consent": True})
    assert r.status_code == 201, r.text
    assert r.json() == {"ok": True, "message": "Thank you — a salesperson will contact you."}
    [lead] = leads(client, key, "widget")
    assert (lead["customer"], lead["model"], lead["line"], lead["consent"], lead["visitor"], lead["phone"]) == (
        "c1", "sea-1", "kayaks", True, "visitor-0001", "+44 20 7946 0000")
    assert lead["routed"] == {"staff": "ann", "path": "territory", "why": "area SW1 and sea-1 (their staff record)"}
    # without consent: kept, and the customer is told only that "we" will answer
    r = call(client, "/v1/contact", key, "visitor-0001", tok, fields={"email": "cy@example.com", "consent": False})
    assert r.json()["message"] == "Thank you — we will contact you." and "Ann" not in r.text


def test_a_marked_forms_fields_make_a_lead_from_the_form(client: TestClient, site: dict) -> None:
    key = site["key"]
    shop(client, key)
    tok = visit(client, key, "visitor-0001")
    r = call(client, "/v1/contact/form", key, "visitor-0001", tok,
             fields={"name": "Dee", "email": "dee@example.com", "postcode": "SW1 2AB", "model": "SEA-1",
                     "company": "Dee Ltd", "consent": True})
    assert r.status_code == 201, r.text
    [lead] = leads(client, key, "form")
    assert (lead["model"], lead["company"], lead["routed"]["staff"]) == ("sea-1", "Dee Ltd", "ann")
    r = call(client, "/v1/contact/form", key, "visitor-0001", tok, fields={"email": "dee@example.com", "password": "x"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "password"


def test_a_leave_a_message_offer_is_answered_by_the_form(client: TestClient, site: dict) -> None:
    key = site["key"]
    client.put(f"/v1/sites/{key}/offer-settings", json={"leave_message": True, "sales_email": "sales@shop.example"},
               headers=admin()).raise_for_status()
    ingest(client, key, "visitor-0001", NEEDY)
    answer = offered(client, key, "visitor-0001")
    assert answer["cmd"]["kind"] == "message"
    oid = answer["cmd"]["id"]
    ui = call(client, f"/v1/offers/{oid}/ui", key, "visitor-0001", answer["tok"]).json()["html"]
    assert 'data-beckon-action="contact"' in ui and "A salesperson may contact me about this" in ui
    assert 'type="checkbox" name="consent" value="yes">' in ui  # unchecked
    r = call(client, "/v1/contact", key, "visitor-0001", answer["tok"], offer=oid,
             fields={"email": "fay@example.com", "comment": "Call me"})
    assert r.status_code == 201, r.text
    r = call(client, f"/v1/offers/{oid}/dismiss", key, "visitor-0001", answer["tok"])
    assert r.status_code == 410  # answered
    # an offer gone meanwhile still takes the lead
    r = call(client, "/v1/contact", key, "visitor-0001", answer["tok"], offer=oid, fields={"email": "fay@example.com"})
    assert r.status_code == 201 and len(leads(client, key, "widget")) == 2


def test_five_an_hour_per_visitor(client: TestClient, site: dict) -> None:
    key = site["key"]
    tok = visit(client, key, "visitor-0001")
    for i in range(3):  # refused ones do not count
        assert call(client, "/v1/contact", key, "visitor-0001", tok, fields={"email": "x"}).status_code == 400
    for i in range(5):
        r = call(client, "/v1/contact" if i % 2 else "/v1/contact/form", key, "visitor-0001", tok,
                 fields={"email": f"x{i}@example.com"})
        assert r.status_code == 201, r.text
    r = call(client, "/v1/contact", key, "visitor-0001", tok, fields={"email": "x9@example.com"})
    assert r.status_code == 429 and r.headers["access-control-allow-origin"] == ORIGIN
    assert 3500 <= int(r.headers["retry-after"]) <= 3600
    assert r.json()["error"] == "You have sent several messages already; please try again in 60 minutes."
    other = visit(client, key, "visitor-0002")  # another visitor is not held up
    assert call(client, "/v1/contact", key, "visitor-0002", other, fields={"email": "y@example.com"}).status_code == 201


def test_the_offers_own_leave_a_message_counts_under_the_same_limit(client: TestClient, site: dict) -> None:
    """o.js answers a "leave a message" offer with its own form (/v1/offers/ID/message): a
    script that sent five contact forms gets no sixth lead that way."""
    key = site["key"]
    client.put(f"/v1/sites/{key}/offer-settings", json={"leave_message": True, "sales_email": "sales@shop.example"},
               headers=admin()).raise_for_status()
    ingest(client, key, "visitor-0001", NEEDY)
    answer = offered(client, key, "visitor-0001")
    for i in range(5):
        r = call(client, "/v1/contact", key, "visitor-0001", answer["tok"], fields={"email": f"x{i}@example.com"})
        assert r.status_code == 201, r.text
    r = call(client, f"/v1/offers/{answer['cmd']['id']}/message", key, "visitor-0001", answer["tok"],
             name="Fay", email="fay@example.com", message="Call me")
    assert r.status_code == 429 and "try again in 60 minutes" in r.json()["error"]
    assert len(leads(client, key, "widget")) == 5
    # a visitor under the limit leaves their message that way, once per offer
    ingest(client, key, "visitor-0002", NEEDY)
    other = offered(client, key, "visitor-0002")
    for status in (200, 410):
        r = call(client, f"/v1/offers/{other['cmd']['id']}/message", key, "visitor-0002", other["tok"],
                 name="Gil", email="gil@example.com", message="Call me")
        assert r.status_code == status, r.text
    assert [x["email"] for x in leads(client, key, "widget")][-1] == "gil@example.com"


def test_another_sites_key_visitor_or_token_is_refused(client: TestClient, site: dict) -> None:
    key = site["key"]
    shop(client, key, signed=False)
    other = client.post("/v1/sites", json={"name": "Other", "origins": [ORIGIN, "https://other.example"]},
                        headers=admin()).json()["key"]
    tok = visit(client, key, "visitor-0001", {"id": "c1"})
    theirs = visit(client, other, "visitor-0009")
    body = {"fields": {"email": "z@example.com"}}
    for path in ("/v1/contact/ui", "/v1/contact/prefill", "/v1/contact", "/v1/contact/form"):
        assert call(client, path, key, "visitor-0001", tok, **body).status_code in (200, 201), path
        assert call(client, path, other, "visitor-0001", tok, **body).status_code == 403, path  # our token there
        assert call(client, path, key, "visitor-0009", theirs, **body).status_code == 403, path
        assert call(client, path, key, "visitor-0001", theirs, **body).status_code == 403, path
        assert call(client, path, key, "visitor-0001", "", **body).status_code == 403, path
        assert call(client, path, key, "visitor-0001", tok, origin="https://evil.example", **body).status_code == 403


@hsettings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(["/v1/contact/ui", "/v1/contact/prefill", "/v1/contact", "/v1/contact/form"]),
       fields=hostile_json(), offer=hostile_json(max_leaves=2), raw=st.one_of(hostile_json(), st.binary(max_size=64)))
def test_hostile_bodies_get_a_4xx_never_a_5xx(client: TestClient, site: dict, path: str, fields, offer, raw) -> None:
    key = site["key"]
    tok = TOKENS.get((key, "visitor-0001")) or visit(client, key, "visitor-0001")  # once per site: rate limits
    for body in ({"site": key, "vid": "visitor-0001", "tok": tok, "fields": fields},
                 {"site": key, "vid": "visitor-0001", "tok": tok, "fields": {"email": "a@b.c"}, "offer": offer},
                 {"site": key, "vid": "visitor-0001", "tok": tok, "fields": fields if isinstance(fields, dict)
                  else {"comment": fields}}):
        content = json.dumps(body, default=str).encode("utf-8", "surrogatepass")
        r = client.post(path, content=content, headers=TEXT)
        assert r.status_code < 500, (path, body, r.text)
    content = raw if isinstance(raw, bytes) else json.dumps(raw).encode("utf-8", "surrogatepass")
    r = client.post(path, content=content, headers=TEXT)
    assert 400 <= r.status_code < 500, (path, raw, r.text)
