"""Materials in use (real Redis and services, over the console socket): a rep asks for the
materials that suit a chat and gets those tagged for its product with the customer's name
filled in; a reply sent from a suggestion counts as a use under the chat's context; the
chat's sale and rating reach the materials it used, once, and the next suggestion says so;
a search covers the whole library; another site's material is never suggested or counted."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.helpers import NEEDY, admin, console_login, expect, ingest, make_rep, waiting_request

WS = "ws://beckon.test/console/ws"
PAGES = {"pages": [{"pattern": "/quote*", "category": "insurance", "product": "Home cover"}], "rule_sets": []}


def make(client: TestClient, key: str, body: dict) -> str:
    r = client.post(f"/v1/sites/{key}/materials", json=body, headers=admin())
    assert r.status_code == 201, r.text
    return r.json()["id"]


def suggest(ws, chat: str, q: str = "") -> list[dict]:
    ws.send_json({"type": "suggest", "chat": chat, "q": q})
    frame = expect(ws, "suggestions")
    assert frame["chat"] == chat
    return frame["items"]


def stats(client: TestClient, key: str, facet: str) -> dict:
    svc = client.app.state.services
    return client.portal.call(svc.practices.records, key, facet)


def test_suggestions_suit_the_chat_and_outcomes_reach_the_materials_it_used(client: TestClient, site: dict) -> None:
    key = site["key"]
    assert client.put(f"/v1/sites/{key}/matching", json=PAGES, headers=admin()).status_code == 200
    greet = make(client, key, {"kind": "reply", "title": "Greeting", "text": "Hello {customer_name}, about {product}:",
                               "tags": {"products": ["home cover"]}})
    kayak = make(client, key, {"kind": "reply", "title": "Kayak sizes", "text": "Our kayaks come in 3 sizes.",
                               "tags": {"products": ["kayak"]}})
    guide = make(client, key, {"kind": "link", "title": "Cover guide", "url": "/guide"})
    other = client.post("/v1/sites", json={"name": "Elsewhere", "origins": ["https://else.example"]},
                        headers=admin()).json()["key"]
    theirs = make(client, other, {"kind": "reply", "title": "Their greeting", "text": "Hi"})

    rid = make_rep(client, key, email="ria@shop.example", name="Ria", capacity=2)
    csrf = console_login(client, "ria@shop.example")
    with client.websocket_connect(f"{WS}?csrf={csrf}", headers={"Origin": "http://beckon.test"}) as ws:
        ws.send_json({"type": "presence", "status": "available"})
        expect(ws, "presence")
        ingest(client, key, "visitor-0001", [{"t": "id", "name": "Zoë <b>Ng</b>"}])
        cid = waiting_request(client, key, "visitor-0001", NEEDY)
        ws.send_json({"type": "accept", "id": cid})
        expect(ws, "chats")
        items = suggest(ws, cid)
        by_id = {i["id"]: i for i in items}
        assert set(by_id) == {greet, guide}  # the kayak reply is for another product
        assert by_id[greet]["text"] == "Hello Zoë <b>Ng</b>, about home cover:"  # plain text; the console escapes
        assert by_id[greet]["why"] == "new: not used in a chat like this one yet"

        ws.send_json({"type": "say", "chat": cid, "text": by_id[greet]["text"] + " how can I help?", "cid": "c1",
                      "material": greet})
        expect(ws, "ack")
        ws.send_json({"type": "say", "chat": cid, "text": "again", "cid": "c2", "material": greet})
        expect(ws, "ack")  # a second use in the same chat counts once
        ws.send_json({"type": "say", "chat": cid, "text": "theirs", "cid": "c3", "material": theirs})
        expect(ws, "ack")  # another site's material: the message goes, nothing is counted
        ws.send_json({"type": "material", "chat": cid, "material": guide, "ref": "m1"})
        assert expect(ws, "ack")["ref"] == "m1"  # a link sent as a card counts as used too
        assert stats(client, key, "product=home cover")[greet].uses == 1
        assert stats(client, key, "rep=" + rid)[guide].uses == 1
        assert stats(client, key, "*")[greet].uses == 1 and theirs not in stats(client, key, "*")
        assert stats(client, other, "*") == {}

        ws.send_json({"type": "sale", "chat": cid, "value": "59.90", "currency": "EUR", "cid": "sale0000001"})
        expect(ws, "ack")
        ws.send_json({"type": "sale", "chat": cid, "value": "40.10", "currency": "EUR", "cid": "sale0000002"})
        expect(ws, "ack")
        for facet in ("*", "product=home cover", "category=insurance", "reason=form_errors"):
            rec = stats(client, key, facet)[greet]
            assert (rec.uses, rec.sales, rec.revenue) == (1, 1, {"EUR": 10000}), facet  # one sale, both revenues
        assert suggest(ws, cid)[0]["id"] in (greet, guide)
        why = {i["id"]: i["why"] for i in suggest(ws, cid)}[greet]
        assert why == "sold in 1 of 1 chats about home cover; 100.00 EUR on average"

        found = suggest(ws, cid, "kayak SIZES")
        assert [i["id"] for i in found] == [kayak]  # a search covers the whole library
        assert suggest(ws, cid, "their greeting") == []
        for bad, said in ((["x"], "search"), ("x" * 201, "search"), ("\ud800", "surrogate")):
            ws.send_json({"type": "suggest", "chat": cid, "q": bad})
            assert said in expect(ws, "error")["message"]
        ws.send_json({"type": "suggest", "chat": "someone-elses"})
        expect(ws, "error")
        ws.send_json({"type": "end", "chat": cid})
        expect(ws, "ended")
    svc = client.app.state.services
    client.portal.call(svc.ratings.rate, key, "visitor-0001", cid, 4, "")
    rec = stats(client, key, "*")[greet]
    assert (rec.ratings, rec.stars) == (1, 4)
