"""Offers over HTTP against real Redis: availability, one slot one offer, withdrawal,
answers, and the leave-a-message mail through a real SMTP server."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from backend.core.policy import (AHT_FLOOR_S, DEFAULT_AHT_S, estimate_wait, handle_time_s, learned_seconds,
                                 validate_settings, SettingsError)
from tests.helpers import (NEEDY, admin, chat_service, ingest, let_the_ticker_run, make_rep, offered, poll,
                           presence, respond, run_worker, waiting_request)


# --- pure decisions --------------------------------------------------------------------

def test_wait_estimate() -> None:
    assert estimate_wait(0, 0, 180) is None            # nobody on duty
    assert estimate_wait(3, 2, 180) == 0               # a free slot
    assert estimate_wait(3, 3, 180) == 60              # first in queue: a slot frees every 180/3 s
    assert estimate_wait(3, 5, 180) == 180             # third in queue
    assert estimate_wait(1, 1, 120) == 120


def test_handle_time_is_a_median_of_plausible_chats_with_a_floor() -> None:
    minutes = [120_000.0, 150_000.0, 180_000.0, 200_000.0, 240_000.0]
    assert handle_time_s([7.0]) == DEFAULT_AHT_S  # one chat teaches nothing, least of all a 7 ms one
    assert handle_time_s([7.0, 3.0] * 50) == DEFAULT_AHT_S  # ended at once: never handled
    assert handle_time_s(minutes + [7.0, 5.0, 9 * 3600_000.0]) == 180.0  # the odd ones change nothing
    assert handle_time_s([12_000.0] * 20) == AHT_FLOOR_S
    assert estimate_wait(5, 5, 0.007) == estimate_wait(5, 5, AHT_FLOOR_S) == AHT_FLOOR_S / 5


def test_one_short_chat_does_not_flood_the_queue_with_offers(client: TestClient, site: dict, settings) -> None:
    """Issue 8: a chat the customer ended 7 ms after the rep joined made the average handle
    time 0.007 s, and the broker then had 31 offers out for 5 slots."""
    key = site["key"]
    rid = make_rep(client, key, capacity=5)
    presence(client, key, rid, "available")
    short = waiting_request(client, key, "visitor-0100")

    async def join_and_leave(chats, redis):
        await chats.accept(key, short, rid)
        await chats.end(key, short, "visitor", 0)

    chat_service(settings.redis_url, join_and_leave)
    for i in range(31):
        ingest(client, key, f"visitor-{i:04d}")
    offers_out(client, key, 6)
    let_the_ticker_run(settings.offer_tick_s, passes=3)  # and no seventh
    now = availability(client, key)
    assert now["aht_s"] == DEFAULT_AHT_S
    # 5 free slots, then one customer whose wait (180 s / 5 = 36 s) is within the default 60 s
    assert (now["capacity"], now["offers"]) == (5, 6)


def test_learned_timeout_is_the_clamped_90th_percentile() -> None:
    assert learned_seconds([5000] * 9, 30, 10, 120) == 30          # too few samples: the default
    samples = [1000 * s for s in range(1, 21)]                      # 1..20 s
    assert learned_seconds(samples, 30, 10, 120) == 18              # nearest-rank p90 of 20 samples
    assert learned_seconds([1000] * 20, 30, 10, 120) == 10          # clamped up
    assert learned_seconds([900_000] * 20, 30, 10, 120) == 120      # clamped down


def test_settings_validation_lists_problems() -> None:
    with pytest.raises(SettingsError) as info:
        validate_settings({"variant": "hologram", "cooldown_s": -1, "leave_message": True, "colour": 1})
    assert {p for p, _ in info.value.errors} == {"variant", "cooldown_s", "colour", "sales_email"}


# --- over HTTP --------------------------------------------------------------------------

def availability(client: TestClient, key: str) -> dict:
    return client.get(f"/v1/sites/{key}/availability", headers=admin()).json()


def offers_out(client: TestClient, key: str, at_least: int) -> None:
    """Waits until the broker has made ``at_least`` offers."""
    assert poll(lambda: availability(client, key)["offers"] >= at_least), availability(client, key)


def test_no_offer_without_a_representative_then_one_when_available(client: TestClient, site: dict,
                                                                   settings) -> None:
    key = site["key"]
    assert ingest(client, key, "visitor-0001")["cmd"] is None
    rid = make_rep(client, key)
    let_the_ticker_run(settings.offer_tick_s, passes=1)
    assert ingest(client, key, "visitor-0001", [{"t": "hb"}])["cmd"] is None  # rep not on duty yet
    presence(client, key, rid, "available")
    cmd = ingest(client, key, "visitor-0001", [{"t": "hb"}])["cmd"]
    assert cmd["type"] == "offer" and cmd["kind"] == "help" and cmd["variant"] == "button"
    assert 0 < cmd["ttl_ms"] <= 30_000


def test_two_needy_visitors_and_one_free_slot_get_exactly_one_offer(client: TestClient, site: dict,
                                                                    settings) -> None:
    key = site["key"]
    client.put(f"/v1/sites/{key}/offer-settings", json={"acceptable_wait_s": 0}, headers=admin())
    presence(client, key, make_rep(client, key, capacity=1), "available")
    ingest(client, key, "visitor-aaaa")
    ingest(client, key, "visitor-bbbb")
    offers_out(client, key, 1)
    let_the_ticker_run(settings.offer_tick_s, passes=2)  # and no second offer in several ticks
    cmds = [ingest(client, key, v, [{"t": "hb"}])["cmd"] for v in ("visitor-aaaa", "visitor-bbbb")]
    assert sum(c is not None for c in cmds) == 1
    avail = availability(client, key)
    assert avail["capacity"] == 1 and avail["offers"] == 1 and avail["estimated_wait_s"] == 180


def test_acceptable_wait_allows_queued_offers(client: TestClient, site: dict, settings) -> None:
    key = site["key"]
    # one rep with two slots, 180 s average chat: queue positions wait 90, 180, ... s
    client.put(f"/v1/sites/{key}/offer-settings", json={"acceptable_wait_s": 100}, headers=admin())
    presence(client, key, make_rep(client, key, capacity=2), "available")
    for i in range(5):
        ingest(client, key, f"visitor-{i:04d}")
    offers_out(client, key, 3)
    let_the_ticker_run(settings.offer_tick_s, passes=2)  # and no fourth
    cmds = [ingest(client, key, f"visitor-{i:04d}", [{"t": "hb"}])["cmd"] for i in range(5)]
    assert sum(c is not None for c in cmds) == 3  # two free slots + one whose wait (90 s) is acceptable


def test_ignored_offer_is_withdrawn_and_the_visitor_cools_down(client: TestClient, site: dict, settings) -> None:
    key = site["key"]
    client.put(f"/v1/sites/{key}/offer-settings",
               json={"response_timeout_s": 3, "timeout_min_s": 3, "cooldown_s": 60}, headers=admin())
    presence(client, key, make_rep(client, key), "available")
    ingest(client, key, "visitor-0001")
    first = offered(client, key, "visitor-0001")["cmd"]
    assert first and first["ttl_ms"] <= 3000
    # left unanswered for its response time (3 s), it is withdrawn
    assert poll(lambda: availability(client, key)["offers"] == 0), availability(client, key)
    assert ingest(client, key, "visitor-0001", [{"t": "hb"}])["cmd"] is None
    let_the_ticker_run(settings.offer_tick_s, passes=1)
    assert ingest(client, key, "visitor-0001", [{"t": "hb"}])["cmd"] is None  # cooling down
    assert availability(client, key)["offers"] == 0


def test_accepting_an_offer_creates_a_chat_request_and_records_the_response_time(
        client: TestClient, site: dict, redis_client) -> None:
    key = site["key"]
    presence(client, key, make_rep(client, key), "available")
    ingest(client, key, "visitor-0001")
    answer = offered(client, key, "visitor-0001")
    offer, tok = answer["cmd"]["id"], answer["tok"]
    # someone else's token is refused
    assert respond(client, key, "visitor-0001", "x" * 24, offer, "accept").status_code == 403
    r = respond(client, key, "visitor-0001", tok, offer, "accept")
    assert r.status_code == 200 and r.json()["request"]
    reqs = client.get(f"/v1/sites/{key}/requests", headers=admin()).json()["requests"]
    assert [q["visitor"] for q in reqs] == ["visitor-0001"]
    assert {x["rule"] for x in reqs[0]["reasons"]} >= {"form_errors", "field_dwell"}
    assert respond(client, key, "visitor-0001", tok, offer, "accept").status_code == 410
    assert redis_client.llen(f"bk:{{{key}}}:resp-times") == 1


def test_dismissing_frees_the_slot_for_the_next_visitor(client: TestClient, site: dict) -> None:
    key = site["key"]
    client.put(f"/v1/sites/{key}/offer-settings", json={"acceptable_wait_s": 0}, headers=admin())
    presence(client, key, make_rep(client, key), "available")
    ingest(client, key, "visitor-aaaa", NEEDY + [{"t": "cart", "value": 900, "currency": "EUR"}])  # most needed
    ingest(client, key, "visitor-bbbb")
    a = offered(client, key, "visitor-aaaa")
    assert ingest(client, key, "visitor-bbbb", [{"t": "hb"}])["cmd"] is None
    assert respond(client, key, "visitor-aaaa", a["tok"], a["cmd"]["id"], "dismiss").status_code == 200
    assert poll(lambda: ingest(client, key, "visitor-bbbb", [{"t": "hb"}])["cmd"], every=0.1), \
        "the freed slot was not offered"


def test_gating_by_cart_value_and_access_code(client: TestClient, site: dict, settings) -> None:
    key = site["key"]
    client.put(f"/v1/sites/{key}/offer-settings",
               json={"min_cart_value": 500, "require_access_code": True, "access_codes": ["GOLD-2026"]},
               headers=admin())
    presence(client, key, make_rep(client, key, capacity=5), "available")
    ingest(client, key, "visitor-0001", NEEDY + [{"t": "cart", "value": 100, "currency": "EUR"}])
    ingest(client, key, "visitor-0002", NEEDY + [{"t": "cart", "value": 900, "currency": "EUR"},
                                                 {"t": "code", "code": "WRONG"}])
    ingest(client, key, "visitor-0003", NEEDY + [{"t": "cart", "value": 900, "currency": "EUR"},
                                                 {"t": "code", "code": "GOLD-2026"}])
    offers_out(client, key, 1)
    let_the_ticker_run(settings.offer_tick_s, passes=2)  # and none to the other two
    got = {v: ingest(client, key, v, [{"t": "hb"}])["cmd"] for v in ("visitor-0001", "visitor-0002", "visitor-0003")}
    assert got["visitor-0001"] is None and got["visitor-0002"] is None and got["visitor-0003"] is not None


def test_first_visit_gets_the_short_offer(client: TestClient, site: dict) -> None:
    key = site["key"]
    presence(client, key, make_rep(client, key, capacity=5), "available")
    first = [{"t": "pv", "url": "https://shop.example/quote", "visits": 0}] + NEEDY[1:]
    ingest(client, key, "visitor-0001", first)
    cmd = offered(client, key, "visitor-0001")["cmd"]
    assert cmd["short"] is True


def test_leave_a_message_is_mailed_with_details_escaped(client: TestClient, site: dict, smtp, settings) -> None:
    key = site["key"]
    r = client.put(f"/v1/sites/{key}/offer-settings",
                   json={"leave_message": True, "sales_email": "sales@shop.example"}, headers=admin())
    assert r.status_code == 200, r.text
    ingest(client, key, "visitor-0001", NEEDY + [{"t": "id", "name": "<script>alert(1)</script>"}])
    answer = offered(client, key, "visitor-0001")
    assert answer["cmd"]["kind"] == "message"  # nobody on duty
    bad = respond(client, key, "visitor-0001", answer["tok"], answer["cmd"]["id"], "message",
                  name="Ann", email="not an address", message="")
    assert bad.status_code == 400 and {e["field"] for e in bad.json()["errors"]} == {"message"}
    bad = respond(client, key, "visitor-0001", answer["tok"], answer["cmd"]["id"], "message",
                  name="Ann", email="not an address", message="hi")
    assert bad.status_code == 400 and {e["field"] for e in bad.json()["errors"]} == {"email"}
    ok = respond(client, key, "visitor-0001", answer["tok"], answer["cmd"]["id"], "message",
                 name="<b>Ann</b>", email="ann@example.com", message="Call me <img src=x onerror=alert(1)>")
    assert ok.status_code == 200, ok.text
    run_worker(settings, smtp)
    msg = smtp.wait_for_message()
    assert msg["To"] == "sales@shop.example"
    assert msg["Reply-To"] == "ann@example.com"
    html = msg.get_body(("html",)).get_content()
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img" not in html
    assert "&lt;b&gt;Ann&lt;/b&gt;" in html
    text = msg.get_body(("plain",)).get_content()
    assert "Quote (https://shop.example/quote)" in text


def test_help_is_offered_only_when_a_rep_who_speaks_the_visitors_language_is_free(
        client: TestClient, site: dict, settings) -> None:
    """Under a rule set that requires the visitor's language, a French visitor is not offered
    help while only an English-speaking rep is free, and is the moment a French speaker comes
    on duty; the English visitor meanwhile gets help from the English rep."""
    key = site["key"]
    client.put(f"/v1/sites/{key}/offer-settings", json={"acceptable_wait_s": 0}, headers=admin())
    client.put(f"/v1/sites/{key}/matching", json={"rule_sets": [{"name": "Everyone", "filters": {"language": True}}]},
               headers=admin()).raise_for_status()
    bob = make_rep(client, key, email="bob@shop.example", name="Bob", capacity=2)
    amelie = make_rep(client, key, email="amelie@shop.example", name="Amélie")
    client.put(f"/v1/sites/{key}/reps/{bob}", json={"languages": ["en"]}, headers=admin()).raise_for_status()
    client.put(f"/v1/sites/{key}/reps/{amelie}", json={"languages": ["fr"]}, headers=admin()).raise_for_status()
    presence(client, key, bob, "available")
    french = [{**NEEDY[0], "lang": "fr"}, *NEEDY[1:]]
    ingest(client, key, "visitor-fr01", french)
    ingest(client, key, "visitor-en01", [{**NEEDY[0], "lang": "en"}, *NEEDY[1:]])
    assert offered(client, key, "visitor-en01")["cmd"]["kind"] == "help"
    let_the_ticker_run(settings.offer_tick_s, passes=2)
    assert ingest(client, key, "visitor-fr01", [{"t": "hb"}])["cmd"] is None  # Bob has a free slot, but no French
    presence(client, key, amelie, "available")
    assert offered(client, key, "visitor-fr01")["cmd"]["kind"] == "help"
