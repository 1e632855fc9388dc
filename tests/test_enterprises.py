"""Enterprises: the operator groups sites under one owner; an admin of one of its sites
chooses which of the enterprise's sites a representative serves, and nothing outside it."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.helpers import (ORIGIN, PASSWORD, admin, console_login, enterprise, make_rep, new_site, presence, recv,
                           waiting_request)


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


def emails_of(client: TestClient, key: str) -> dict[str, bool]:
    reps = client.get(f"/v1/sites/{key}/reps", headers=admin()).json()["reps"]
    return {r["email"]: r["active"] for r in reps}


def test_a_rep_serves_the_chosen_sites_of_the_enterprise_and_no_other(client: TestClient) -> None:
    a1, a2, a3, b1 = (new_site(client, n) for n in ("A1", "A2", "A3", "B1"))
    enterprise(client, "Acme", a1, a2, a3)
    enterprise(client, "Bolt", b1)
    body = {"name": "Nina", "email": "nina@acme.example", "password": PASSWORD, "capacity": 2}
    # a site outside the enterprise cannot be chosen: nothing is made anywhere
    r = client.post(f"/v1/sites/{a1}/reps", json={**body, "sites": [a1, b1]}, headers=admin())
    assert r.status_code == 400 and r.json()["errors"] == [{"field": "sites[1]",
                                                             "message": "is not a site of this enterprise"}]
    assert all("nina@acme.example" not in emails_of(client, k) for k in (a1, a2, a3, b1))
    r = client.post(f"/v1/sites/{a1}/reps", json={**body, "sites": [a1, a2]}, headers=admin())
    assert r.status_code == 201, r.text
    nina = r.json()
    assert sorted(nina["sites"]) == sorted([a1, a2])
    assert emails_of(client, a2) == {"nina@acme.example": True}
    assert emails_of(client, a3) == {} and emails_of(client, b1) == {}
    # the same account: one id, the profile copied
    assert client.get(f"/v1/sites/{a2}/reps/{nina['id']}", headers=admin()).json()["capacity"] == 2
    # by default a new rep serves every site of the enterprise
    every = client.post(f"/v1/sites/{a3}/reps", json={**body, "email": "omar@acme.example"}, headers=admin())
    assert sorted(every.json()["sites"]) == sorted([a1, a2, a3])
    # a change of sites: A3 added, A1 dropped (deactivated, not deleted)
    r = client.put(f"/v1/sites/{a2}/reps/{nina['id']}", json={"sites": [a2, a3]}, headers=admin())
    assert r.status_code == 200 and sorted(r.json()["sites"]) == sorted([a2, a3])
    assert emails_of(client, a1)["nina@acme.example"] is False and emails_of(client, a3)["nina@acme.example"]
    r = client.put(f"/v1/sites/{a2}/reps/{nina['id']}", json={"sites": [b1]}, headers=admin())
    assert r.status_code == 400 and emails_of(client, b1) == {}
    # a site outside any enterprise: its reps serve it alone
    lone = new_site(client, "Lone")
    r = client.post(f"/v1/sites/{lone}/reps", json={**body, "sites": [a1]}, headers=admin())
    assert r.status_code == 400
    assert "sites" not in client.post(f"/v1/sites/{lone}/reps", json=body, headers=admin()).json()


def test_the_admin_page_offers_the_enterprises_sites_and_refuses_others(client: TestClient) -> None:
    a1, a2, b1 = new_site(client, "A1"), new_site(client, "A<b>2"), new_site(client, "B1")
    enterprise(client, "Acme", a1, a2)
    enterprise(client, "Bolt", b1)
    assert client.post(f"/v1/sites/{a1}/reps", json={"name": "Boss", "email": "boss@acme.example", "password": PASSWORD,
                                                     "role": "admin", "sites": [a1]}, headers=admin()).status_code == 201
    csrf = console_login(client, "boss@acme.example")
    page = client.get("/console/admin/reps").text
    assert f'value="{a1}" checked' in page and f'value="{a2}" checked' in page and b1 not in page
    assert "A&lt;b&gt;2" in page and "A<b>2" not in page
    new = {"csrf": csrf, "name": "Pia", "email": "pia@acme.example", "password": PASSWORD, "capacity": "1",
           "role": "rep", "sites_shown": "1"}
    forged = client.post("/console/admin/reps", data={**new, "sites": [a2, b1]})
    assert forged.status_code == 400 and "is not a site of this enterprise" in forged.text
    assert emails_of(client, b1) == {} and "pia@acme.example" not in emails_of(client, a2)
    none = client.post("/console/admin/reps", data=new)
    assert none.status_code == 400 and "choose 1 or more" in none.text
    assert client.post("/console/admin/reps", data={**new, "sites": [a2]}).status_code == 200  # followed redirect
    assert emails_of(client, a2) == {"pia@acme.example": True} and "pia@acme.example" not in emails_of(client, a1)
    boss = client.get(f"/v1/sites/{a1}/reps", headers=admin()).json()["reps"][0]["id"]
    edit = client.get(f"/console/admin/reps/{boss}").text
    assert f'value="{a1}" checked' in edit and f'value="{a2}" checked' not in edit
    r = client.post(f"/console/admin/reps/{boss}", data={"csrf": csrf, "sites_shown": "1", "sites": [a2]})
    assert r.status_code == 400 and "cannot stop serving" in r.text
    r = client.post(f"/console/admin/reps/{boss}", data={"csrf": csrf, "sites_shown": "1", "sites": [a1, a2]})
    assert r.status_code == 200 and emails_of(client, a2)["boss@acme.example"] is True


def test_a_rep_serving_two_of_three_sites_sees_the_requests_of_exactly_those(client: TestClient) -> None:
    import json

    keys = {}
    for name in ("A1", "A2", "A3"):
        keys[name] = client.post("/v1/sites", json={"name": name, "origins": [ORIGIN]}, headers=admin()).json()["key"]
    enterprise(client, "Acme", *keys.values())
    made = client.post(f"/v1/sites/{keys['A1']}/reps", json={
        "name": "Nina", "email": "nina@acme.example", "password": PASSWORD, "sites": [keys["A1"], keys["A2"]]},
        headers=admin())
    nina = made.json()["id"]
    other = make_rep(client, keys["A3"], email="omar@acme.example", name="Omar")  # serves all three
    for name, key in keys.items():
        presence(client, key, nina if name != "A3" else other, "available")
    waiting = {name: waiting_request(client, key, f"visitor-{name.lower()}-0001") for name, key in keys.items()}
    csrf = console_login(client, "nina@acme.example")
    page = client.get("/console/").text
    serving = json.loads(page.split('id="serving">')[1].split("</script>")[0])
    assert sorted(s["name"] for s in serving) == ["A1", "A2"]
    seen = {}
    for name in ("A1", "A2"):
        with client.websocket_connect(f"ws://beckon.test/console/ws?csrf={csrf}&site={keys[name]}",
                                      headers={"Origin": "http://beckon.test"}) as ws:
            while (frame := recv(ws))["type"] != "queue":
                pass
            seen[name] = [r["id"] for r in frame["requests"]]
    assert seen == {"A1": [waiting["A1"]], "A2": [waiting["A2"]]}
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect(f"ws://beckon.test/console/ws?csrf={csrf}&site={keys['A3']}",
                                      headers={"Origin": "http://beckon.test"}) as ws:
            ws.receive_json()
