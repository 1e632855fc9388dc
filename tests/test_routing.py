"""Requests go to the right representative (real Redis, single and cluster; the console's
real WebSocket): with a `best` rule set only the top-ranked rep's console lists a new request
and says why it came to them, another rep who tries to accept it is refused, the next rep
sees it once the escalation time passed, and a targeted rep going away widens it at once;
with no rule sets every available rep sees every request, as before matching."""

from __future__ import annotations

import re

from typing import Any

from starlette.testclient import TestClient

from backend.store import keys
from tests.helpers import (
    admin, console_login, expect, let_the_ticker_run, make_rep, presence, run_worker, waiting_request,
)

WS = "ws://beckon.test/console/ws"
NOT_OFFERED = "this request was offered to someone else"


def kayak_rule_set(escalate_after_s: float) -> dict:
    return {
        "pages": [{"pattern": "/quote*", "category": "boats", "product": "kayaks"}],
        "rule_sets": [{"name": "Kayak experts", "when": {"products": ["kayaks"]},
                       "rules": {"skill": {"weight": 0.8}, "capacity": {"weight": 0.2}},
                       "dispatch": {"mode": "best", "widen_by": 1, "escalate_after_s": escalate_after_s}}],
    }


def rep_with(client: TestClient, key: str, name: str, kayaks: int) -> str:
    rid = make_rep(client, key, email=f"{name.lower()}@shop.example", name=name, capacity=2)
    r = client.put(f"/v1/sites/{key}/reps/{rid}", json={"skills": {"kayaks": kayaks}}, headers=admin())
    assert r.status_code == 200, r.text
    return rid


def console_socket(client: TestClient, email: str) -> Any:
    """A rep's console connection, available; use as a context manager."""
    csrf = console_login(client, email)
    return client.websocket_connect(f"{WS}?csrf={csrf}", headers={"Origin": "http://beckon.test"})


def go_available(ws: Any) -> None:
    ws.send_json({"type": "presence", "status": "available"})
    expect(ws, "presence")


def listed(cid: str):
    return lambda m: any(r["id"] == cid for r in m["requests"])


def not_listed(cid: str):
    return lambda m: all(r["id"] != cid for r in m["requests"])


def test_best_offers_the_top_rep_first_refuses_others_and_widens_after_the_escalation_time(
        client: TestClient, site: dict) -> None:
    key = site["key"]
    rep_with(client, key, "Amelie", kayaks=5)
    bob = rep_with(client, key, "Bob", kayaks=2)
    assert client.put(f"/v1/sites/{key}/matching", json=kayak_rule_set(10), headers=admin()).status_code == 200
    with console_socket(client, "amelie@shop.example") as amelie:
        go_available(amelie)
        with console_socket(client, "bob@shop.example") as bob_ws:
            go_available(bob_ws)
            cid = waiting_request(client, key, "visitor-0001")
            mine = expect(amelie, "queue", listed(cid))["requests"][0]
            assert mine["why"]["rule_set"] == "Kayak experts"
            assert mine["why"]["top"][0] == ["skill", 0.8] and mine["why"]["score"] == 0.8 + 0.2
            assert bob not in mine["targets"]
            # not offered to Bob yet: his Accept (a stale or forged one) is refused
            bob_ws.send_json({"type": "accept", "id": cid})
            refused = expect(bob_ws, "error")
            assert refused["message"] == NOT_OFFERED and refused["ref"] == cid
            # after the escalation time (10 s), Bob's console lists it too, saying why
            his = next(r for r in expect(bob_ws, "queue", listed(cid), timeout=30)["requests"] if r["id"] == cid)
            assert his["why"]["rule_set"] == "Kayak experts" and his["why"]["top"][0] == ["skill", 0.32]
            bob_ws.send_json({"type": "accept", "id": cid})
            assert expect(bob_ws, "accepted")["id"] == cid
            assert not_listed(cid)(expect(amelie, "queue", not_listed(cid)))


def test_a_targeted_rep_going_away_widens_the_request_at_once(client: TestClient, site: dict) -> None:
    key = site["key"]
    rep_with(client, key, "Amelie", kayaks=5)
    rep_with(client, key, "Bob", kayaks=2)
    # an escalation time far away: only Amélie going away can bring the request to Bob
    assert client.put(f"/v1/sites/{key}/matching", json=kayak_rule_set(3600), headers=admin()).status_code == 200
    with console_socket(client, "amelie@shop.example") as amelie:
        go_available(amelie)
        with console_socket(client, "bob@shop.example") as bob_ws:
            go_available(bob_ws)
            cid = waiting_request(client, key, "visitor-0001")
            expect(amelie, "queue", listed(cid))
            bob_ws.send_json({"type": "accept", "id": cid})
            assert expect(bob_ws, "error")["message"] == NOT_OFFERED
            amelie.send_json({"type": "presence", "status": "away"})
            expect(bob_ws, "queue", listed(cid))
            bob_ws.send_json({"type": "accept", "id": cid})
            assert expect(bob_ws, "accepted")["id"] == cid


def test_without_rule_sets_every_available_rep_sees_every_request(client: TestClient, site: dict) -> None:
    key = site["key"]
    rep_with(client, key, "Amelie", kayaks=5)
    rep_with(client, key, "Bob", kayaks=2)
    with console_socket(client, "amelie@shop.example") as amelie:
        go_available(amelie)
        with console_socket(client, "bob@shop.example") as bob_ws:
            go_available(bob_ws)
            cid = waiting_request(client, key, "visitor-0001")
            for ws in (amelie, bob_ws):
                request = next(r for r in expect(ws, "queue", listed(cid))["requests"] if r["id"] == cid)
                assert request["targets"] == [] and request["why"] is None
            bob_ws.send_json({"type": "accept", "id": cid})
            assert expect(bob_ws, "accepted")["id"] == cid


def backdate(client: TestClient, key: str, cid: str, ms: int) -> None:
    """Make a request as old as ``ms`` (the ticker's checks compare its age with limits of minutes)."""
    r = client.app.state.services.redis
    created = client.portal.call(r.hget, keys.request(key, cid), keys.RequestHash.CREATED)
    client.portal.call(r.hset, keys.request(key, cid), keys.RequestHash.CREATED, int(created) - ms)


def test_a_must_contact_request_keeps_being_offered_and_the_admins_hear_once_when_nobody_accepts(
        client: TestClient, site: dict, smtp, settings) -> None:
    key = site["key"]
    client.put(f"/v1/sites/{key}/offer-settings", json={"must_contact_alert_s": 60}, headers=admin())
    make_rep(client, key, email="owner@shop.example", name="Owner", role="admin")
    rule_sets = kayak_rule_set(10)
    rule_sets["rule_sets"][0]["dispatch"] = {"mode": "all", "must_contact": True, "escalate_after_s": 10}
    assert client.put(f"/v1/sites/{key}/matching", json=rule_sets, headers=admin()).json()[
        "rule_sets"][0]["dispatch"] == {"mode": "all", "escalate_after_s": 10, "must_contact": True}
    rep_with(client, key, "Kim", 5)
    with console_socket(client, "kim@shop.example") as kim:
        go_available(kim)
        cid = waiting_request(client, key)
        expect(kim, "queue", listed(cid))
        let_the_ticker_run(settings.offer_tick_s)
        run_worker(settings, smtp)
        assert smtp.messages == []  # within the limit: nobody is alerted
        backdate(client, key, cid, 61_000)
        let_the_ticker_run(settings.offer_tick_s, passes=3)  # several ticks, one alert
        chat = client.portal.call(client.app.state.services.chats.get, key, cid)
        assert chat.must_contact and chat.status == "waiting" and chat.targets
    run_worker(settings, smtp)
    assert len(smtp.messages) == 1
    mail = smtp.wait_for_message()
    assert mail["To"] == "owner@shop.example"
    assert mail["Subject"] == f"A customer who must be contacted is still waiting on {site['name']}"
    body = mail.get_body(("plain",)).get_content()
    assert "waited 1 min" in body and "Kayak experts" in body and "/console/" in body


def test_a_request_whose_routing_failed_is_routed_by_the_ticker(client: TestClient, site: dict) -> None:
    """Redis went away between making a request and ranking reps for it: it was left offered
    to nobody. The ticker routes it again, so it reaches the reps instead of waiting unseen."""
    key = site["key"]
    client.put(f"/v1/sites/{key}/matching", json=kayak_rule_set(30), headers=admin()).raise_for_status()
    rep_with(client, key, "Kim", 5)
    with console_socket(client, "kim@shop.example") as kim:
        go_available(kim)
        cid = waiting_request(client, key)
        expect(kim, "queue", listed(cid))
        r = client.app.state.services.redis
        client.portal.call(r.hset, keys.request(key, cid), keys.RequestHash.TARGETS, "[]")  # as respond left it
        client.portal.call(r.hdel, keys.request(key, cid), keys.RequestHash.RULE_SET, keys.RequestHash.MATCH)
        client.portal.call(client.app.state.services.chats.announce, key)
        expect(kim, "queue", not_listed(cid))
        backdate(client, key, cid, 3_000)
        expect(kim, "queue", listed(cid))  # the ticker routed it again


def test_a_rep_who_asked_for_e_mail_alerts_hears_once_when_a_request_waits_for_them(
        client: TestClient, site: dict, smtp, settings) -> None:
    key = site["key"]
    kim = make_rep(client, key, email="kim@shop.example", name="Kim", capacity=2)
    make_rep(client, key, email="lee@shop.example", name="Lee")  # console alerts only
    client.put(f"/v1/sites/{key}/reps/{kim}", json={"alerts": {"channels": ["console", "email"], "email_after_s": 30}},
               headers=admin()).raise_for_status()
    presence(client, key, kim, "available")
    cid = waiting_request(client, key)
    let_the_ticker_run(settings.offer_tick_s)
    run_worker(settings, smtp)
    assert smtp.messages == []  # not waited 30 s yet
    backdate(client, key, cid, 31_000)
    let_the_ticker_run(settings.offer_tick_s, passes=3)  # several ticks, one mail
    run_worker(settings, smtp)
    assert [m["To"] for m in smtp.messages] == ["kim@shop.example"]
    mail = smtp.wait_for_message()
    assert mail["Subject"] == f"A customer is waiting for you on {site['name']}"
    assert re.search(r"has waited 3\d s for a representative on Shop", mail.get_body(("plain",)).get_content())
