"""Matching over HTTP, on real Redis (single and cluster): a site's rule sets stored through
the site API and the console with every error listed and nothing stored on a failed write;
the match API explains where a visitor's request would go (the rule set chosen, each rep's
score with per-rule contributions, who is filtered out and why); another site's key sees
nothing."""

from __future__ import annotations

import json
import re

from starlette.testclient import TestClient

from tests.helpers import admin, console_login, ingest, make_rep, presence, waiting_request

KAYAKS = {
    "pages": [{"pattern": "/kayaks*", "category": "boats", "product": "Kayaks"}],
    "rule_sets": [
        {"name": "Kayaks", "when": {"products": ["kayaks"]}, "filters": {"accredited": False},
         "rules": {"skill": {"weight": 0.6}, "capacity": {"weight": 0.2}, "fairness": {"weight": 0.2,
                                                                                         "horizon_s": 600}},
         "dispatch": {"mode": "best", "widen_by": 1, "escalate_after_s": 30}},
    ],
}
PAGE = [{"t": "pv", "url": "https://shop.example/kayaks/sea-touring?colour=red", "title": "Sea kayaks"}]


def put_matching(client: TestClient, key: str, body: object, headers: dict | None = None):
    return client.put(f"/v1/sites/{key}/matching", json=body, headers=headers or admin())


def test_rule_sets_are_stored_whole_and_a_bad_write_stores_nothing(client: TestClient, site: dict) -> None:
    key = site["key"]
    assert client.get(f"/v1/sites/{key}/matching", headers=admin()).json() == {"pages": [], "rule_sets": []}
    r = put_matching(client, key, KAYAKS)
    assert r.status_code == 200, r.text
    stored = client.get(f"/v1/sites/{key}/matching", headers=admin()).json()
    assert stored == r.json() and stored["pages"][0]["product"] == "kayaks"
    assert stored["rule_sets"][0]["filters"] == {"language": True, "accredited": False, "on_schedule": True}
    bad = {"pages": [{"pattern": "kayaks", "product": "Kayaks"}],
           "rule_sets": [{"name": "Kayaks", "rules": {"skill": {"weight": "a lot"}}, "dispatch": {"mode": "fastest"}},
                         {"name": "kayaks"}]}
    r = put_matching(client, key, bad)
    assert r.status_code == 400
    assert [e["field"] for e in r.json()["errors"]] == [
        "pages[0].pattern", "rule_sets[0].rules.skill.weight", "rule_sets[0].dispatch.mode", "rule_sets[1].name"]
    assert client.get(f"/v1/sites/{key}/matching", headers=admin()).json() == stored  # unchanged
    assert client.put(f"/v1/sites/{key}/matching", content=b"[" * 5000, headers=admin()).status_code == 400


def test_the_match_explains_the_rule_set_the_ranking_and_who_is_filtered_out(client: TestClient,
                                                                              site: dict) -> None:
    key = site["key"]
    amelie = make_rep(client, key, email="amelie@shop.example", name="Amélie", capacity=2)
    bob = make_rep(client, key, email="bob@shop.example", name="Bob", capacity=2)
    cleo = make_rep(client, key, email="cleo@shop.example", name="Cleo")
    client.put(f"/v1/sites/{key}/reps/{amelie}", json={"skills": {"kayaks": 5}, "languages": ["fr", "en"]},
               headers=admin()).raise_for_status()
    client.put(f"/v1/sites/{key}/reps/{bob}", json={"skills": {"kayaks": 2}}, headers=admin()).raise_for_status()
    presence(client, key, bob, "available")
    # Bob takes a chat: one of his two slots in use, and he chatted just now
    chat = waiting_request(client, key, vid="visitor-busy01")
    client.portal.call(client.app.state.services.chats.accept, key, chat, bob)
    presence(client, key, amelie, "available")
    presence(client, key, cleo, "away")
    put_matching(client, key, KAYAKS).raise_for_status()
    ingest(client, key, "visitor-kayak1", PAGE)

    r = client.get(f"/v1/sites/{key}/visitors/visitor-kayak1/match", headers=admin())
    assert r.status_code == 200, r.text
    found = r.json()
    assert found["session"]["product"] == "kayaks" and found["session"]["path"] == "/kayaks/sea-touring"
    assert found["rule_set"]["name"] == "Kayaks"
    ranked = {x["name"]: x for x in found["ranked"]}
    assert [x["name"] for x in found["ranked"]] == ["Amélie", "Bob"]
    assert ranked["Amélie"]["score"] == 1.0
    assert {c["rule"]: c["contribution"] for c in ranked["Amélie"]["contributions"]} == {
        "skill": 0.6, "capacity": 0.2, "fairness": 0.2}
    bob_parts = {c["rule"]: c for c in ranked["Bob"]["contributions"]}
    assert bob_parts["skill"]["score"] == 0.4 and bob_parts["capacity"]["score"] == 0.5
    assert bob_parts["fairness"]["score"] < 0.5  # his chat began moments ago
    assert found["filtered"] == [{"rep": cleo, "name": "Cleo", "reasons": [
        {"filter": "away", "message": "not available (away)"}]}]

    # on a page the map does not name, no rule set holds: the default, every free rep on duty
    ingest(client, key, "visitor-home01")
    r = client.get(f"/v1/sites/{key}/visitors/visitor-home01/match", headers=admin())
    assert r.json()["rule_set"]["name"] == "default" and r.json()["session"]["product"] == ""
    assert [x["name"] for x in r.json()["ranked"]] == ["Amélie", "Bob"]


def test_another_site_s_key_sees_nothing(client: TestClient, site: dict) -> None:
    key = site["key"]
    other = client.post("/v1/sites", json={"name": "Other", "origins": ["https://other.example"]},
                        headers=admin()).json()["key"]
    other_key = client.post(f"/v1/sites/{other}/api-keys", json={"label": "theirs"}, headers=admin()).json()["key"]
    own_key = client.post(f"/v1/sites/{key}/api-keys", json={"label": "ours"}, headers=admin()).json()["key"]
    put_matching(client, key, KAYAKS, admin(own_key)).raise_for_status()
    ingest(client, key, "visitor-kayak1", PAGE)
    theirs = admin(other_key)
    for method, path in (("GET", "matching"), ("PUT", "matching"), ("GET", "visitors/visitor-kayak1/match")):
        r = client.request(method, f"/v1/sites/{key}/{path}", json={"rule_sets": []}, headers=theirs)
        assert r.status_code == 404 and r.json()["error"] == "no such site", (method, path)
    assert client.get(f"/v1/sites/{other}/visitors/visitor-kayak1/match", headers=theirs).status_code == 404
    assert client.get(f"/v1/sites/{key}/visitors/visitor-kayak1/match", headers=admin(own_key)).status_code == 200
    assert client.get(f"/v1/sites/{key}/matching", headers=admin(own_key)).json()["rule_sets"][0]["name"] == "Kayaks"
    assert client.get(f"/v1/sites/{other}/matching", headers=theirs).json()["rule_sets"] == []


def test_the_admin_edits_rule_sets_in_the_console_with_every_error_listed(client: TestClient, site: dict) -> None:
    key = site["key"]
    make_rep(client, key, email="boss@shop.example", name="Boss", role="admin")
    csrf = console_login(client, "boss@shop.example")
    r = client.post("/console/admin/matching", data={"csrf": csrf, "matching": "{not json <b>"})
    assert r.status_code == 400 and "This is not valid JSON" in r.text and "{not json &lt;b&gt;" in r.text
    bad = {"rule_sets": [{"name": "<script>x</script>", "rules": {"luck": {"weight": 1}, "skill": {"weight": -2}}},
                         {"name": "<SCRIPT>x</SCRIPT>", "when": {"cart_min": "lots"}}]}
    r = client.post("/console/admin/matching", data={"csrf": csrf, "matching": json.dumps(bad)})
    assert r.status_code == 400 and "&lt;script&gt;x&lt;/script&gt;" in r.text and "<script>x" not in r.text
    errors = re.search(r'id="matching-errors".*?</ul>', r.text, re.S).group(0)
    for text in ("rule_sets[0].rules.luck: unknown field", "rule_sets[0].rules.skill.weight: must be a number from 0 "
                 "to 100", "rule_sets[1].when.cart_min: must be a number", "rule_sets[1].name: another rule set"):
        assert text in errors, text
    assert client.get(f"/v1/sites/{key}/matching", headers=admin()).json()["rule_sets"] == []
    r = client.post("/console/admin/matching", data={"csrf": csrf, "matching": json.dumps(KAYAKS)},
                    follow_redirects=False)
    assert r.status_code == 303
    assert "Matching rule sets saved." in client.get(r.headers["location"]).text
    assert client.get(f"/v1/sites/{key}/matching", headers=admin()).json()["rule_sets"][0]["name"] == "Kayaks"


def test_the_pages_language_and_the_customers_area_reach_matching(client: TestClient, site: dict) -> None:
    """A browser that prefers French makes a French visitor: under the language filter an English-only rep is filtered out, and the area
    the site gave in identify() scores the rep who covers it."""
    key = site["key"]
    amelie = make_rep(client, key, email="amelie@shop.example", name="Amélie")
    bob = make_rep(client, key, email="bob@shop.example", name="Bob")
    client.put(f"/v1/sites/{key}/reps/{amelie}", json={"languages": ["fr"], "areas": ["75"]},
               headers=admin()).raise_for_status()
    client.put(f"/v1/sites/{key}/reps/{bob}", json={"languages": ["en"], "areas": ["SW1"]},
               headers=admin()).raise_for_status()
    presence(client, key, amelie, "available")
    presence(client, key, bob, "available")
    rule_sets = {"rule_sets": [{"name": "Everyone", "rules": {"area": {"weight": 1}}}]}
    put_matching(client, key, rule_sets).raise_for_status()

    ingest(client, key, "visitor-paris1", [{**PAGE[0], "lang": "fr_FR"},
                                           {"t": "id", "email": "claire@example.fr", "area": " 75011 "}])
    found = client.get(f"/v1/sites/{key}/visitors/visitor-paris1/match", headers=admin()).json()
    assert found["session"]["language"] == "fr-FR" and found["session"]["area"] == "75011"
    assert [x["name"] for x in found["ranked"]] == ["Amélie"] and found["ranked"][0]["score"] == 1.0
    assert [(x["name"], [r["filter"] for r in x["reasons"]]) for x in found["filtered"]] == [("Bob", ["language"])]

    # A batch whose language cannot be read leaves the one known; English changes it.
    ingest(client, key, "visitor-paris1", [{**PAGE[0], "lang": "not a language!"}])
    assert client.get(f"/v1/sites/{key}/visitors/visitor-paris1/match",
                      headers=admin()).json()["session"]["language"] == "fr-FR"
    ingest(client, key, "visitor-paris1", [{**PAGE[0], "lang": "en"}])
    found = client.get(f"/v1/sites/{key}/visitors/visitor-paris1/match", headers=admin()).json()
    assert [x["name"] for x in found["ranked"]] == ["Bob"] and found["ranked"][0]["score"] == 0.0
