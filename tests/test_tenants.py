"""One site's key opens that site's API and nothing else: every route, with two sites' keys,
reps and visitors; keys are made, listed by prefix and revoked in the admin pages."""

from __future__ import annotations

import json
import re

import pytest
from starlette.testclient import TestClient

from backend.web.site_api import routes
from tests.helpers import PASSWORD, TEXT, admin, batch, make_rep

SITE_ROUTES = [(r.path, sorted(r.methods - {"HEAD"})) for r in routes if "{key}" in r.path]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_site(client: TestClient, name: str, origin: str) -> dict:
    site = client.post("/v1/sites", json={"name": name, "origins": [origin]}, headers=admin()).json()
    made = client.post(f"/v1/sites/{site['key']}/api-keys", json={"label": "backend"}, headers=admin())
    assert made.status_code == 201, made.text
    site["token"] = made.json()["key"]
    rid = make_rep(client, site["key"], email=f"rep@{name.lower()}.example")
    site["rep"] = rid
    client.post("/v1/events", content=json.dumps(batch(site["key"], vid="visitor-0001")),
                headers={**TEXT, "Origin": origin})
    return site


@pytest.fixture()
def two(client: TestClient) -> tuple[dict, dict]:
    return new_site(client, "Alpha", "https://alpha.example"), new_site(client, "Beta", "https://beta.example")


def fill(path: str, site: dict) -> str:
    return (path.replace("{key}", site["key"]).replace("{vid}", "visitor-0001").replace("{rid}", site["rep"])
            .replace("{kid}", site["token"].split(".")[2]))


def test_another_sites_key_gets_404_on_every_route_and_changes_nothing(client: TestClient, two) -> None:
    alpha, beta = two
    before = client.get(f"/v1/sites/{alpha['key']}/rules", headers=admin()).json()
    tried = 0
    for path, methods in SITE_ROUTES:
        for method in methods:
            r = client.request(method, fill(path, alpha), headers=bearer(beta["token"]),
                               content=json.dumps({"threshold": 9, "label": "x", "status": "available",
                                                   "customers": ["x"], "name": "Hijacked"}))
            assert r.status_code == 404, (method, path, r.status_code, r.text)
            assert r.json() == {"error": "no such site"}
            tried += 1
    assert tried >= 20
    assert client.get(f"/v1/sites/{alpha['key']}/rules", headers=admin()).json() == before
    assert client.get(f"/v1/sites/{alpha['key']}", headers=admin()).json()["name"] == "Alpha"


def test_a_sites_own_key_opens_its_routes(client: TestClient, two) -> None:
    alpha, _ = two
    for path, methods in SITE_ROUTES:
        if "GET" in methods and "{kid}" not in path:
            r = client.get(fill(path, alpha), headers=bearer(alpha["token"]))
            assert r.status_code == 200, (path, r.text)
    sites = client.get("/v1/sites", headers=bearer(alpha["token"])).json()["sites"]
    assert [s["key"] for s in sites] == [alpha["key"]]  # its own site only
    r = client.post("/v1/sites", json={"name": "Mine", "origins": ["https://m.example"]},
                    headers=bearer(alpha["token"]))
    assert r.status_code == 403 and "operator token" in r.json()["error"]


def test_a_revoked_or_forged_key_opens_nothing(client: TestClient, two) -> None:
    alpha, _ = two
    url = f"/v1/sites/{alpha['key']}/visitors"
    forged = alpha["token"][:-4] + ("AAAA" if not alpha["token"].endswith("AAAA") else "BBBB")
    assert client.get(url, headers=bearer(forged)).status_code == 401
    kid = alpha["token"].split(".")[2]
    listed = client.get(f"/v1/sites/{alpha['key']}/api-keys", headers=bearer(alpha["token"])).json()["keys"]
    assert [k["prefix"] for k in listed] == [f"bks.{alpha['key']}.{kid}"]
    assert alpha["token"] not in json.dumps(listed)  # never shown again
    assert client.delete(f"/v1/sites/{alpha['key']}/api-keys/{kid}", headers=admin()).status_code == 200
    assert client.get(url, headers=bearer(alpha["token"])).status_code == 401


def test_keys_are_made_and_revoked_in_the_admin_pages(client: TestClient, two) -> None:
    alpha, _ = two
    make_rep(client, alpha["key"], email="boss@alpha.example", role="admin")
    client.cookies.clear()
    form = client.get("/console/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    client.post("/console/login", data={"csrf": csrf, "email": "boss@alpha.example", "password": PASSWORD})
    page = client.get("/console/admin/keys").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert "backend" in page and alpha["token"] not in page
    bad = client.post("/console/admin/keys", data={"csrf": csrf, "label": ""})
    assert bad.status_code == 400 and "give the key a name" in bad.text
    made = client.post("/console/admin/keys", data={"csrf": csrf, "label": "crm sync"})
    token = re.search(r'id="new-key">([^<]+)<', made.text).group(1)
    assert client.get(f"/v1/sites/{alpha['key']}/visitors", headers=bearer(token)).status_code == 200
    assert token not in client.get("/console/admin/keys").text  # shown once
    assert token not in client.get(str(made.url)).text  # a reload of the page it showed on: nothing again
    kid = token.split(".")[2]
    client.post(f"/console/admin/keys/{kid}/revoke", data={"csrf": csrf})
    assert client.get(f"/v1/sites/{alpha['key']}/visitors", headers=bearer(token)).status_code == 401


def test_a_plain_representative_cannot_see_the_keys(client: TestClient, two) -> None:
    alpha, _ = two
    client.cookies.clear()
    form = client.get("/console/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    client.post("/console/login", data={"csrf": csrf, "email": "rep@alpha.example", "password": PASSWORD})
    r = client.get("/console/admin/keys")
    assert r.status_code == 403 and "bks." not in r.text


def test_every_console_message_about_another_sites_chat_is_refused(client: TestClient, two, redis_client) -> None:
    from backend.store import keys

    from tests.helpers import ORIGIN, presence, waiting_request

    alpha, beta = two
    # beta has an active chat (its rep accepted over its own console)
    client.put(f"/v1/sites/{beta['key']}", json={"name": "Beta", "origins": [ORIGIN]}, headers=admin())
    presence(client, beta["key"], beta["rep"], "available")
    foreign = waiting_request(client, beta["key"], "visitor-beta")

    def console_of(email: str):
        client.cookies.clear()
        form = client.get("/console/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
        client.post("/console/login", data={"csrf": csrf, "email": email, "password": PASSWORD})
        csrf = re.search(r'data-csrf="([^"]+)"', client.get("/console/").text).group(1)
        return client.websocket_connect(f"ws://beckon.test/console/ws?csrf={csrf}",
                                        headers={"Origin": "http://beckon.test"})

    def answer(ws, ref: str) -> dict:
        while True:
            frame = ws.receive_json()
            if frame["type"] in ("error", "ack", "accepted") and frame.get("ref", frame.get("id")) == ref:
                return frame

    with console_of("rep@beta.example") as ws:
        ws.send_json({"type": "accept", "id": foreign})
        assert answer(ws, foreign)["type"] == "accepted"
    with console_of("rep@alpha.example") as ws:
        for message in ({"type": "say", "chat": foreign, "text": "hello from alpha", "ref": "r1"},
                        {"type": "link", "chat": foreign, "url": "https://alpha.example/x", "ref": "r2"},
                        {"type": "typing", "chat": foreign, "ref": "r3"},
                        {"type": "end", "chat": foreign, "ref": "r4"},
                        {"type": "transfer", "chat": foreign, "to": alpha["rep"], "ref": "r5"},
                        {"type": "accept", "id": foreign, "ref": "r6"},
                        {"type": "target", "id": foreign, "reps": [], "ref": "r7"}):
            ws.send_json(message)
            frame = answer(ws, message["ref"])
            assert frame["type"] == "error", (message, frame)
    chat = redis_client.hgetall(keys.request(beta["key"], foreign))
    assert chat["status"] == "active" and chat["rep"] == beta["rep"]  # not ended, not moved
    texts = [f.get("text", "") for _, f in redis_client.xrange(keys.messages(beta["key"], foreign))]
    assert texts and not any("alpha" in t for t in texts)
