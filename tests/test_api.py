"""The site management API: authentication, validation messages, visitor reads."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from tests.helpers import ORIGIN, TEXT, admin, batch


def test_every_site_route_needs_the_admin_token(client: TestClient, site: dict) -> None:
    key = site["key"]
    for method, path in [("GET", "/v1/sites"), ("POST", "/v1/sites"), ("GET", f"/v1/sites/{key}"),
                         ("PUT", f"/v1/sites/{key}/rules"), ("GET", f"/v1/sites/{key}/visitors"),
                         ("GET", f"/v1/sites/{key}/visitors/visitor-0001")]:
        assert client.request(method, path).status_code == 401
        assert client.request(method, path, headers=admin("wrong")).status_code == 401


def test_create_site_returns_key_and_script_tag(client: TestClient) -> None:
    r = client.post("/v1/sites", json={"name": "Shop", "origins": ["https://Shop.Example:443/"]}, headers=admin())
    assert r.status_code == 201
    body = r.json()
    assert body["origins"] == ["https://shop.example"]
    assert body["script_tag"] == (
        f'<script src="http://127.0.0.1:8000/b.js" data-site="{body["key"]}" async></script>'
    )


def test_create_site_lists_every_validation_error(client: TestClient) -> None:
    r = client.post("/v1/sites", json={"name": "", "origins": ["ftp://x", "https://ok.example/path"]},
                    headers=admin())
    assert r.status_code == 400
    fields = [e["field"] for e in r.json()["errors"]]
    assert fields == ["name", "origins[0]", "origins[1]"]


def test_rules_round_trip_and_validation(client: TestClient, site: dict) -> None:
    url = f"/v1/sites/{site['key']}/rules"
    bad = client.put(url, json={"threshold": "x", "rules": {"page_dwell": {"weight": 2}}}, headers=admin())
    assert bad.status_code == 400
    assert {e["field"] for e in bad.json()["errors"]} == {"threshold", "rules.page_dwell.threshold"}
    good = {"threshold": 0.3, "rules": {"form_errors": {"weight": 0.5, "threshold": 1}}}
    assert client.put(url, json=good, headers=admin()).status_code == 200
    assert client.get(url, headers=admin()).json() == good
    # the new rules apply to the next batch at once
    client.post("/v1/events", content=json.dumps(batch(site["key"], [{"t": "err", "field": "f", "kind": "aria"}])),
                headers=TEXT)
    v = client.get(f"/v1/sites/{site['key']}/visitors/visitor-0001", headers=admin()).json()
    assert v["needs_assistance"] and v["score"] == 0.5


def test_visitor_list_and_detail(client: TestClient, site: dict) -> None:
    for vid in ("visitor-aaaa", "visitor-bbbb"):
        client.post("/v1/events", content=json.dumps(batch(site["key"], vid=vid)), headers=TEXT)
    listed = client.get(f"/v1/sites/{site['key']}/visitors", headers=admin()).json()["visitors"]
    assert {v["visitor"] for v in listed} == {"visitor-aaaa", "visitor-bbbb"}
    assert client.get(f"/v1/sites/{site['key']}/visitors/visitor-zzzz", headers=admin()).status_code == 404
    assert client.get(f"/v1/sites/{site['key']}/visitors?limit=0", headers=admin()).status_code == 400


def test_one_sites_visitors_are_not_visible_through_another_site(client: TestClient, site: dict) -> None:
    other = client.post("/v1/sites", json={"name": "Other", "origins": ["https://other.example"]},
                        headers=admin()).json()
    client.post("/v1/events", content=json.dumps(batch(site["key"])), headers=TEXT)
    assert client.get(f"/v1/sites/{other['key']}/visitors", headers=admin()).json()["visitors"] == []
    assert client.get(f"/v1/sites/{other['key']}/visitors/visitor-0001", headers=admin()).status_code == 404


def test_update_site_origins(client: TestClient, site: dict) -> None:
    url = f"/v1/sites/{site['key']}"
    r = client.put(url, json={"name": "Shop 2", "origins": ["https://new.example"]}, headers=admin())
    assert r.json()["origins"] == ["https://new.example"]
    refused = client.post("/v1/events", content=json.dumps(batch(site["key"])), headers=TEXT)
    assert refused.status_code == 403
    pre = client.options("/v1/events", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 403


def test_a_batch_cannot_claim_more_time_on_a_page_than_the_server_saw(client: TestClient, site: dict) -> None:
    """Time on a page is measured by the server's clock: a crafted batch claiming an hour of
    dwell right after the page view counts a few seconds; heartbeats are counted."""
    events = [{"t": "pv", "url": "https://shop.example/", "title": "Home"}, {"t": "dwell", "ms": 3_600_000},
              {"t": "field", "name": "zip", "ms": 3_600_000}, {"t": "hb"}, {"t": "hb"}]
    assert client.post("/v1/events", content=json.dumps(batch(site["key"], events)), headers=TEXT).status_code == 200
    v = client.get(f"/v1/sites/{site['key']}/visitors/visitor-0001", headers=admin()).json()
    assert v["page_ms"] <= 6_000 and v["fields"]["zip"] <= 6_000
    assert v["heartbeats"] == 2
    assert not any(r["rule"] == "page_dwell" and r["fired"] for r in v["reasons"])


def test_leave_a_message_is_off_until_there_is_a_sales_email(client: TestClient, site: dict) -> None:
    url = f"/v1/sites/{site['key']}/offer-settings"
    assert client.get(url, headers=admin()).json()["leave_message"] is False
    r = client.put(url, json={"leave_message": True}, headers=admin())
    assert r.status_code == 400
    assert [e["field"] for e in r.json()["errors"]] == ["sales_email"]
    assert "no customer is offered it" in r.json()["errors"][0]["message"]
    r = client.put(url, json={"leave_message": True, "sales_email": "sales@shop.example"}, headers=admin())
    assert r.status_code == 200 and r.json()["leave_message"] is True
    # taking the address away while it is on is refused, not silently accepted
    assert client.put(url, json={"sales_email": ""}, headers=admin()).status_code == 400


def test_offer_media_must_be_https_or_on_the_site_itself(client: TestClient, site: dict) -> None:
    url = f"/v1/sites/{site['key']}/offer-settings"
    for bad in ("//evil.example/a.mp3", "/\\evil.example/a.mp3", "http://cdn.example/a.mp3", "javascript:alert(1)"):
        r = client.put(url, json={"audio_url": bad}, headers=admin())
        assert r.status_code == 400, bad
        assert "https://" in r.json()["errors"][0]["message"]
    for good in ("https://cdn.example/a.mp3", "/media/a.mp3"):
        assert client.put(url, json={"audio_url": good}, headers=admin()).json()["audio_url"] == good
