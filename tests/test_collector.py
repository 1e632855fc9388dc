"""POST /v1/events: good batches are scored; bad ones get a clear 4xx and store nothing."""

from __future__ import annotations

import json
import time

import pytest
import redis
from starlette.testclient import TestClient

from tests.helpers import ADMIN, ORIGIN, TEXT, admin, batch


def post(client: TestClient, body, headers=TEXT):
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/v1/events", content=content, headers=headers)


def visitor_keys(r: redis.Redis) -> list[str]:
    return [k for k in r.keys("bk:*") if ":rl:" not in k and not k.endswith((":site", ":rules")) and k.count(":") > 1]


def test_a_good_batch_is_accepted_with_cors_and_heartbeat(client: TestClient, site: dict) -> None:
    r = post(client, batch(site["key"]))
    assert r.status_code == 200
    body = r.json()
    assert {k: body[k] for k in ("ok", "hb", "cmd", "watch")} == {"ok": True, "hb": 15, "cmd": None, "watch": False}
    assert len(body["tok"]) >= 20
    assert r.headers["access-control-allow-origin"] == ORIGIN
    v = client.get(f"/v1/sites/{site['key']}/visitors/visitor-0001", headers=admin()).json()
    assert v["pages"][0]["title"] == "Home"


BAD = [
    ("not json", b"{nope", 400, None),
    ("not utf-8", b"\xff\xfe{", 400, None),
    ("array body", b"[]", 400, None),
    ("wrong visitor id", {"vid": "x"}, 400, "vid"),
    ("events not a list", {"events": "pv"}, 400, "events"),
    ("no events", {"events": []}, 400, "events"),
    ("unknown event type", {"events": [{"t": "mousemove"}]}, 400, "events[0].t"),
    ("dwell as string", {"events": [{"t": "dwell", "ms": "100"}]}, 400, "events[0].ms"),
    ("negative dwell", {"events": [{"t": "dwell", "ms": -5}]}, 400, "events[0].ms"),
    ("boolean cart", {"events": [{"t": "cart", "value": True, "currency": "EUR"}]}, 400, "events[0].value"),
    ("bad currency", {"events": [{"t": "cart", "value": 5, "currency": "euro"}]}, 400, "events[0].currency"),
    ("long field name", {"events": [{"t": "field", "name": "x" * 101, "ms": 5}]}, 400, "events[0].name"),
    ("bad error kind", {"events": [{"t": "err", "kind": "oops"}]}, 400, "events[0].kind"),
    ("bad version", {"v": 2}, 400, "v"),
    ("too many events", {"events": [{"t": "hb"}] * 51}, 400, "events"),
    # a good event after a bad one: the whole batch is refused, nothing is stored
    ("bad second event", {"events": [{"t": "pv", "url": "https://shop.example/"}, {"t": "dwell"}]}, 400,
     "events[1].ms"),
]


@pytest.mark.parametrize("name,change,status,field", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_clearly_and_nothing_is_stored(
    client: TestClient, site: dict, redis_client: redis.Redis, name, change, status, field
) -> None:
    body = change if isinstance(change, bytes) else {**batch(site["key"]), **change}
    r = post(client, body)
    assert r.status_code == status, r.text
    assert r.json()["error"]
    if field:
        assert r.json()["field"] == field
    assert visitor_keys(redis_client) == []


def test_oversize_body_is_refused_while_reading(client: TestClient, site: dict, redis_client) -> None:
    big = batch(site["key"], [{"t": "pv", "url": "https://shop.example/" + "a" * 2000, "title": "t" * 300}] * 40)
    r = post(client, big)
    assert r.status_code == 413
    assert "at most" in r.json()["error"]
    assert visitor_keys(redis_client) == []


def test_unknown_site_is_refused(client: TestClient, site: dict, redis_client) -> None:
    r = post(client, batch("no-such-site-key"))
    assert r.status_code == 403 and r.json()["error"] == "unknown site key"
    assert visitor_keys(redis_client) == []


def test_foreign_origin_is_refused_without_cors(client: TestClient, site: dict, redis_client) -> None:
    r = post(client, batch(site["key"]), headers={**TEXT, "Origin": "https://evil.example"})
    assert r.status_code == 403
    assert "access-control-allow-origin" not in r.headers
    r = post(client, batch(site["key"]), headers={"Content-Type": "text/plain"})
    assert r.status_code == 403
    assert visitor_keys(redis_client) == []


def test_unsupported_content_type(client: TestClient, site: dict) -> None:
    r = post(client, batch(site["key"]), headers={**TEXT, "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415


def test_json_content_type_and_preflight(client: TestClient, site: dict) -> None:
    pre = client.options("/v1/events", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                                                 "Access-Control-Request-Headers": "content-type"})
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == ORIGIN
    assert "Content-Type" in pre.headers["access-control-allow-headers"]
    denied = client.options("/v1/events", headers={"Origin": "https://evil.example",
                                                    "Access-Control-Request-Method": "POST"})
    assert denied.status_code == 403 and "access-control-allow-origin" not in denied.headers
    r = post(client, batch(site["key"]), headers={"Origin": ORIGIN, "Content-Type": "application/json"})
    assert r.status_code == 200


def start_of_a_minute() -> None:
    """The limits count in fixed one-minute windows: a run that crossed into the next minute
    would start counting afresh, so begin with most of a minute ahead."""
    left = 60 - time.time() % 60
    if left < 20:
        time.sleep(left + 0.05)


def test_a_flood_gets_429_with_retry_after(client: TestClient, site: dict, settings) -> None:
    start_of_a_minute()
    codes = [post(client, batch(site["key"], [{"t": "hb"}])).status_code for _ in range(settings.rate_visitor_per_min + 5)]
    assert codes[: settings.rate_visitor_per_min] == [200] * settings.rate_visitor_per_min
    assert set(codes[settings.rate_visitor_per_min:]) == {429}
    r = post(client, batch(site["key"], [{"t": "dwell", "ms": 999}]))
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert r.headers["access-control-allow-origin"] == ORIGIN  # the snippet can read it
    v = client.get(f"/v1/sites/{site['key']}/visitors/visitor-0001", headers=admin()).json()
    assert v["page_ms"] == 0  # the refused dwell was not counted
    # another visitor from the same address is still served until the per-IP limit
    assert post(client, batch(site["key"], vid="visitor-0002")).status_code == 200


def test_per_ip_limit(client: TestClient, site: dict, settings) -> None:
    limit = settings.rate_ip_per_min
    start_of_a_minute()
    codes = [post(client, batch(site["key"], [{"t": "hb"}], vid=f"visitor-{i:05d}")).status_code
             for i in range(limit + 3)]
    assert codes.count(429) == 3


def test_consent_required_site_refuses_batches_without_consent(client: TestClient) -> None:
    r = client.post("/v1/sites", json={"name": "EU shop", "origins": [ORIGIN], "consent_required": True},
                    headers=admin())
    key = r.json()["key"]
    assert 'data-consent="required"' in r.json()["script_tag"]
    assert post(client, batch(key)).status_code == 403
    assert post(client, batch(key, consent=True)).status_code == 200


def test_service_point_by_url_pattern(client: TestClient, site: dict) -> None:
    post(client, batch(site["key"], [{"t": "pv", "url": "https://shop.example/checkout/step-1"}]))
    v = client.get(f"/v1/sites/{site['key']}/visitors/visitor-0001", headers=admin()).json()
    assert v["service_point"] == "checkout"
    assert any(r["rule"] == "service_point" for r in v["reasons"])


def test_identified_flagged_customer_needs_assistance(client: TestClient, site: dict) -> None:
    client.post(f"/v1/sites/{site['key']}/flagged", json={"customers": ["VIP@Example.com"]}, headers=admin())
    post(client, batch(site["key"], [{"t": "id", "email": "vip@example.COM", "name": "<b>Vera</b>"}]))
    v = client.get(f"/v1/sites/{site['key']}/visitors/visitor-0001", headers=admin()).json()
    assert v["needs_assistance"] is True
    assert v["profile"] == {"email": "vip@example.com", "name": "<b>Vera</b>"}


def test_storage_down_is_a_503_not_a_500(settings) -> None:
    from backend.app import create_app
    from backend.config import Settings

    broken = Settings(redis_url="redis://127.0.0.1:1/0", admin_token=ADMIN)
    with TestClient(create_app(broken), base_url="http://beckon.test") as c:
        r = c.post("/v1/events", content=json.dumps(batch("some-site-key")), headers=TEXT)
        assert r.status_code == 503
        assert "retry" in r.json()["error"]


def test_the_snippet_is_served_cached_compressed_and_under_the_owners_own_path(settings, redis_client) -> None:
    import dataclasses

    from backend.app import create_app

    custom = dataclasses.replace(settings, script_path="/assets/site-helper.js")
    with TestClient(create_app(custom), base_url="http://beckon.test") as c:
        first = c.get("/b.js", headers={"Accept-Encoding": "gzip"})
        assert first.status_code == 200 and first.headers["content-type"].startswith("application/javascript")
        assert first.headers["content-encoding"] == "gzip" and "Beckon" in first.text
        assert first.headers["access-control-allow-origin"] == "*"
        again = c.get("/b.js", headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        assert c.get("/assets/site-helper.js").text == first.text
        for path in ("/o.js", "/c.js", "/f.js", "/v1/chat.css"):
            assert c.get(path).status_code == 200, path
