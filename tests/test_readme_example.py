"""The README's worked example of matching, built through the site API on real Redis: the
rule sets it shows, Amélie, Bruno (one chat, begun two minutes ago) and Chris, and a visitor
whose browser prefers French on the sea-touring kayak page with 640 in the cart. The match API
answers what the README says, so the example cannot drift from the product."""

from __future__ import annotations

from starlette.testclient import TestClient

from backend.store import keys
from tests.helpers import admin, ingest, make_rep, presence, waiting_request

MATCHING = {
    "pages": [{"pattern": "/kayaks*", "category": "boats", "product": "kayaks"}],
    "rule_sets": [
        {"name": "French kayaks", "when": {"products": ["kayaks"], "languages": ["fr"]},
         "filters": {"language": True, "accredited": False, "on_schedule": True},
         "rules": {"skill": {"weight": 0.4}, "language": {"weight": 0.2}, "capacity": {"weight": 0.2},
                   "fairness": {"weight": 0.1, "horizon_s": 600}, "results": {"weight": 0.1}},
         "dispatch": {"mode": "best", "widen_by": 1, "escalate_after_s": 30}},
        {"name": "Big carts", "when": {"cart_min": 500},
         "rules": {"skill": {"weight": 0.5}, "capacity": {"weight": 0.5}}, "dispatch": {"mode": "all"}}],
}


def rep(client: TestClient, key: str, name: str, languages: list[str], kayaks: int) -> str:
    rid = make_rep(client, key, email=f"{name.lower()}@shop.example", name=name, capacity=2)
    client.put(f"/v1/sites/{key}/reps/{rid}", json={"languages": languages, "skills": {"kayaks": kayaks}},
               headers=admin()).raise_for_status()
    presence(client, key, rid, "available")
    return rid


def test_the_readme_worked_example_holds(client: TestClient, site: dict) -> None:
    key = site["key"]
    rep(client, key, "Amélie", ["fr", "en"], 5)
    bruno = rep(client, key, "Bruno", ["en", "fr"], 3)
    rep(client, key, "Chris", ["en"], 5)
    # Bruno's chat, begun two minutes ago (before the rule sets, any rep may take it)
    chat = waiting_request(client, key, vid="visitor-other1")
    client.portal.call(client.app.state.services.chats.accept, key, chat, bruno)
    r = client.app.state.services.redis
    two_minutes_ago = int(client.portal.call(r.hget, keys.request(key, chat), keys.RequestHash.ACCEPTED)) - 120_000
    client.portal.call(r.hset, keys.request(key, chat), keys.RequestHash.ACCEPTED, two_minutes_ago)
    client.portal.call(r.hset, keys.rep(key, bruno), keys.RepHash.LAST_CHAT, two_minutes_ago)
    client.put(f"/v1/sites/{key}/matching", json=MATCHING, headers=admin()).raise_for_status()
    ingest(client, key, "visitor-0001", [
        {"t": "pv", "url": "https://shop.example/kayaks/sea-touring", "title": "Sea touring", "lang": "fr"},
        {"t": "cart", "value": 640, "currency": "EUR"}])

    found = client.get(f"/v1/sites/{key}/visitors/visitor-0001/match", headers=admin()).json()
    assert found["session"]["product"] == "kayaks" and found["session"]["language"] == "fr"
    assert found["session"]["cart_value"] == 640.0
    assert found["rule_set"]["name"] == "French kayaks"  # first, though "Big carts" holds too
    amelie, bruno_row = found["ranked"]
    assert (amelie["name"], amelie["score"]) == ("Amélie", 0.95)
    assert [(c["rule"], c["score"], c["contribution"]) for c in amelie["contributions"]] == [
        ("skill", 1.0, 0.4), ("language", 1.0, 0.2), ("capacity", 1.0, 0.2), ("fairness", 1.0, 0.1),
        ("results", 0.5, 0.05)]
    assert bruno_row["name"] == "Bruno" and round(bruno_row["score"], 2) == 0.51
    parts = {c["rule"]: round(c["contribution"], 3) for c in bruno_row["contributions"]}
    assert parts == {"skill": 0.24, "language": 0.1, "capacity": 0.1, "fairness": 0.02, "results": 0.05}
    assert [(f["name"], f["reasons"]) for f in found["filtered"]] == [
        ("Chris", [{"filter": "language", "message": "does not speak fr"}])]
