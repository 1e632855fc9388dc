"""A sale closed by phone or later, recorded by the chat's rep from the console socket (real
Redis and services): it becomes an order of the chat's visitor, credited to the rep with the
commission; a click sent twice records one sale; a bad amount or currency is an error that
names the field; a rep cannot record a sale on someone else's chat."""

from __future__ import annotations

from decimal import Decimal

from starlette.testclient import TestClient

from tests.helpers import admin, console_login, expect, make_rep, waiting_request

WS = "ws://beckon.test/console/ws"


def test_a_rep_records_a_sale_on_their_chat_and_it_is_credited_to_them(client: TestClient, site: dict) -> None:
    key = site["key"]
    client.put(f"/v1/sites/{key}/sales-settings", json={"commission_rate": "0.05", "category_rates": {
        "kayaks": "0.10"}}, headers=admin())
    rid = make_rep(client, key, email="ria@shop.example", name="Ria", capacity=2)
    make_rep(client, key, email="bo@shop.example", name="Bo", capacity=2)
    csrf = console_login(client, "ria@shop.example")
    with client.websocket_connect(f"{WS}?csrf={csrf}", headers={"Origin": "http://beckon.test"}) as ws:
        ws.send_json({"type": "presence", "status": "available"})
        expect(ws, "presence")
        cid = waiting_request(client, key)
        ws.send_json({"type": "accept", "id": cid})
        expect(ws, "chats")
        sale = {"type": "sale", "chat": cid, "value": "59.90", "currency": "eur", "cid": "sabcdefgh123",
                "ref": f"sale:{cid}"}
        ws.send_json(sale)
        ack = expect(ws, "ack")
        assert (ack["ref"], ack["id"]) == (f"sale:{cid}", "rep-sabcdefgh123")
        ws.send_json(sale)  # the same click, sent again
        assert expect(ws, "ack")["id"] == "rep-sabcdefgh123"
        ws.send_json({**sale, "value": "a lot", "cid": "sother00000"})
        assert "value" in expect(ws, "error")["message"]
        ws.send_json({**sale, "cid": "skayak00000", "value": "800.00", "product": "Sea kayak", "category": "Kayaks"})
        assert expect(ws, "ack")["id"] == "rep-skayak00000"
        ws.send_json({"type": "no_sale", "chat": cid, "ref": f"nosale:{cid}"})
        assert expect(ws, "ack")["ref"] == f"nosale:{cid}"
    orders = client.get(f"/v1/sites/{key}/orders", headers=admin()).json()["orders"]
    assert [(o["order_id"], o["value"], o["currency"]) for o in orders] == [("rep-sabcdefgh123", "59.90", "EUR"),
                                                                           ("rep-skayak00000", "800.00", "EUR")]
    assert orders[1]["items"][0]["name"] == "Sea kayak" and orders[1]["items"][0]["category"] == "Kayaks"
    credit = client.portal.call(client.app.state.services.orders.attribution.of, key, "rep-sabcdefgh123")
    assert (credit.kind, credit.rep, credit.chat, credit.commission) == ("chatted", rid, cid, Decimal("3.00"))
    kayak = client.portal.call(client.app.state.services.orders.attribution.of, key, "rep-skayak00000")
    assert kayak.commission == Decimal("80.00")  # the kayaks rate, 10%
    row = client.get(f"/v1/sites/{key}/reports/reps", headers=admin()).json()["reps"][0]
    assert (row["conversions"], row["no_sales"], row["revenue"]) == (2, 1, {"EUR": "859.90"})

    csrf = console_login(client, "bo@shop.example")
    with client.websocket_connect(f"{WS}?csrf={csrf}", headers={"Origin": "http://beckon.test"}) as ws:
        ws.send_json({**sale, "cid": "sbo00000000"})
        expect(ws, "error")
    assert len(client.get(f"/v1/sites/{key}/orders", headers=admin()).json()["orders"]) == 2
