"""Enterprises: the operator groups sites under one owner; an admin of one of its sites
chooses which of the enterprise's sites a representative serves, and nothing outside it."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.helpers import admin


def new_site(client: TestClient, name: str) -> str:
    r = client.post("/v1/sites", json={"name": name, "origins": [f"https://{name.lower()}.example"]},
                    headers=admin())
    assert r.status_code == 201, r.text
    return r.json()["key"]


def test_the_operator_makes_an_enterprise_and_every_mistake_is_listed(client: TestClient) -> None:
    a1, a2, b1 = new_site(client, "A1"), new_site(client, "A2"), new_site(client, "B1")
    bad = client.post("/v1/enterprises", json={"name": "", "sites": [a1, a1, "no-such-site", 7], "x": 1},
                      headers=admin())
    assert bad.status_code == 400
    assert {e["field"] for e in bad.json()["errors"]} == {"x", "name", "sites[1]", "sites[3]"}
    missing = client.post("/v1/enterprises", json={"name": "Acme", "sites": [a1, "no-such-site"]}, headers=admin())
    assert missing.status_code == 400
    assert missing.json()["errors"] == [{"field": "sites[1]", "message": "no such site"}]
    made = client.post("/v1/enterprises", json={"name": "Acme", "sites": [a1, a2]}, headers=admin())
    assert made.status_code == 201, made.text
    acme = made.json()
    assert acme["name"] == "Acme" and {s["name"] for s in acme["sites"]} == {"A1", "A2"}
    assert client.get(f"/v1/enterprises/{acme['id']}", headers=admin()).json() == acme
    # a site belongs to one enterprise at most
    other = client.post("/v1/enterprises", json={"name": "Bolt", "sites": [b1, a2]}, headers=admin())
    assert other.status_code == 400
    assert other.json()["errors"] == [{"field": "sites[1]", "message": "belongs to another enterprise"}]
    bolt = client.post("/v1/enterprises", json={"name": "Bolt", "sites": [b1]}, headers=admin()).json()
    # moving a site: Acme lets go of A2, then Bolt may have it
    r = client.put(f"/v1/enterprises/{acme['id']}/sites", json={"sites": [a1]}, headers=admin())
    assert r.status_code == 200 and [s["key"] for s in r.json()["sites"]] == [a1]
    r = client.put(f"/v1/enterprises/{bolt['id']}/sites", json={"sites": [b1, a2]}, headers=admin())
    assert r.status_code == 200, r.text
    assert client.put(f"/v1/enterprises/{bolt['id']}/sites", json={"sites": []},
                      headers=admin()).status_code == 400
    assert client.get("/v1/enterprises/nosuchenterprise", headers=admin()).status_code == 404


def test_only_the_operator_token_opens_enterprises(client: TestClient) -> None:
    a1 = new_site(client, "A1")
    token = client.post(f"/v1/sites/{a1}/api-keys", json={"label": "x"}, headers=admin()).json()["key"]
    r = client.post("/v1/enterprises", json={"name": "Mine", "sites": [a1]},
                    headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    assert client.post("/v1/enterprises", json={"name": "Mine", "sites": [a1]}).status_code == 401
