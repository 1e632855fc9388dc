"""An independent representative: one person who applied on the join pages of three
enterprises' sites, approved by A (site a1) and B (site b1) but not by C (site c1). One login
opens a1 and b1; their console sockets deliver each site's requests and nothing of c1's; a
socket or an action for c1 is refused; and A's admin sees nothing of B's."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.helpers import (
    ORIGIN, admin, approve_applicant, console_login, join_site, make_rep, presence, recv, waiting_request,
)

INDIE = "indie@example.com"
HOST = "http://beckon.test"


def a_site(client: TestClient, name: str, owner: str) -> str:
    key = client.post("/v1/sites", json={"name": name, "origins": [ORIGIN]}, headers=admin()).json()["key"]
    r = client.post("/v1/enterprises", json={"name": f"{name} Ltd", "sites": [key]}, headers=admin())
    assert r.status_code == 201, r.text
    make_rep(client, key, email=owner, name=f"{name} owner", role="admin")
    return key


def rep_id(client: TestClient, key: str, email: str) -> str:
    reps = client.get(f"/v1/sites/{key}/reps", headers=admin()).json()["reps"]
    return next(r["id"] for r in reps if r["email"] == email)


@pytest.fixture()
def world(client: TestClient) -> dict[str, Any]:
    """a1, b1 and c1 each of its own enterprise; the independent rep applied to all three and
    was approved by a1's and b1's admins; a customer waits on each site."""
    sites = {name: a_site(client, name, f"boss@{name}.example") for name in ("a1", "b1", "c1")}
    for key in sites.values():
        join_site(client, key, "Indie <i>Rep</i>", INDIE)
    approve_applicant(client, "boss@a1.example", INDIE)
    approve_applicant(client, "boss@b1.example", INDIE)
    for name, key in sites.items():  # someone available on each site, so each customer is offered help
        presence(client, key, rep_id(client, key, INDIE if name != "c1" else "boss@c1.example"), "available")
    waiting = {name: waiting_request(client, key, f"visitor-{name}-0001") for name, key in sites.items()}
    return {"sites": sites, "waiting": waiting}


def socket(client: TestClient, csrf: str, key: str):
    return client.websocket_connect(f"ws://beckon.test/console/ws?csrf={csrf}&site={key}", headers={"Origin": HOST})


def queue_of(ws) -> list[str]:
    while True:
        frame = recv(ws)
        if frame["type"] == "queue":
            return [r["id"] for r in frame["requests"]]


def answer(ws, ref: str) -> dict:
    while True:
        frame = recv(ws)
        if frame["type"] in ("error", "accepted") and frame.get("ref", frame.get("id")) == ref:
            return frame


def test_one_login_opens_the_approving_sites_and_delivers_their_requests_only(client: TestClient, world) -> None:
    sites, waiting = world["sites"], world["waiting"]
    csrf = console_login(client, INDIE)
    page = client.get("/console/").text
    serving = json.loads(page.split('<script type="application/json" id="serving">')[1].split("</script>")[0])
    assert sorted((s["key"], s["name"]) for s in serving) == sorted([(sites["a1"], "a1"), (sites["b1"], "b1")])
    assert sites["c1"] not in page
    with socket(client, csrf, sites["a1"]) as a1, socket(client, csrf, sites["b1"]) as b1:
        assert queue_of(a1) == [waiting["a1"]]
        assert queue_of(b1) == [waiting["b1"]]
        # a c1 chat id through a socket of the session: refused, whatever the action
        for message in ({"type": "accept", "id": waiting["c1"], "ref": waiting["c1"]},
                        {"type": "say", "chat": waiting["c1"], "text": "hi", "ref": "r1"},
                        {"type": "target", "id": waiting["c1"], "reps": [], "ref": "r2"},
                        {"type": "end", "chat": waiting["c1"], "ref": "r3"}):
            a1.send_json(message)
            assert answer(a1, message["ref"])["type"] == "error", message
        # a b1 request through a1's socket is not a1's either
        a1.send_json({"type": "accept", "id": waiting["b1"]})
        assert answer(a1, waiting["b1"])["type"] == "error"
        # each accepted through its own site's socket
        a1.send_json({"type": "accept", "id": waiting["a1"]})
        assert answer(a1, waiting["a1"])["type"] == "accepted"
        b1.send_json({"type": "accept", "id": waiting["b1"]})
        assert answer(b1, waiting["b1"])["type"] == "accepted"
    c1_chat = client.get(f"/v1/sites/{sites['c1']}/requests", headers=admin()).json()["requests"]
    assert [r["id"] for r in c1_chat] == [waiting["c1"]]  # still waiting for C's own people


def test_a_socket_for_a_site_that_did_not_approve_is_refused(client: TestClient, world) -> None:
    csrf = console_login(client, INDIE)
    with pytest.raises(WebSocketDisconnect) as refused:
        with socket(client, csrf, world["sites"]["c1"]) as ws:
            ws.receive_json()
    assert refused.value.code == 4403
    with pytest.raises(WebSocketDisconnect) as forged:
        with socket(client, csrf, "no-such-site-key") as ws:
            ws.receive_json()
    assert forged.value.code == 4403
    # and switching the current site to it: refused too
    r = client.post("/console/site", data={"csrf": csrf, "site": world["sites"]["c1"]})
    assert r.status_code == 404


def test_deactivation_on_one_site_leaves_the_other_open(client: TestClient, world) -> None:
    sites = world["sites"]
    csrf = console_login(client, INDIE)
    client.put(f"/v1/sites/{sites['b1']}/reps/{rep_id(client, sites['b1'], INDIE)}", json={"active": False},
               headers=admin())
    with pytest.raises(WebSocketDisconnect) as ended:
        with socket(client, csrf, sites["b1"]) as ws:
            ws.receive_json()
    assert ended.value.code == 4401
    page = client.get("/console/").text
    assert "b1" not in page.split('id="serving">')[1].split("</script>")[0]
    with socket(client, csrf, sites["a1"]) as a1:
        assert queue_of(a1) == [world["waiting"]["a1"]]


def test_an_admin_of_one_enterprise_sees_nothing_of_another(client: TestClient, world) -> None:
    sites = world["sites"]
    console_login(client, "boss@a1.example")
    pages = "".join(client.get(p).text for p in ("/console/admin/reps", "/console/admin/visitors",
                                                  "/console/admin/visitors.json", "/console/admin/applications",
                                                  "/console/"))
    assert "boss@a1.example" in pages and INDIE in pages  # A's own people
    assert "boss@b1.example" not in pages and "visitor-b1-0001" not in pages and sites["b1"] not in pages
    b1_indie = rep_id(client, sites["b1"], INDIE)
    if b1_indie != rep_id(client, sites["a1"], INDIE):
        assert client.get(f"/console/admin/reps/{b1_indie}").status_code == 404
    assert client.get(f"/console/visitors/visitor-b1-0001?site={sites['b1']}").status_code == 404
    assert client.get("/console/visitors/visitor-b1-0001").status_code == 404
    # A's admin may not choose B's site for A's people
    a1_indie = rep_id(client, sites["a1"], INDIE)
    r = client.put(f"/v1/sites/{sites['a1']}/reps/{a1_indie}", json={"sites": [sites["a1"], sites["b1"]]},
                   headers=admin())
    assert r.status_code == 400
    token = client.post(f"/v1/sites/{sites['a1']}/api-keys", json={"label": "a"}, headers=admin()).json()["key"]
    for path in (f"/v1/sites/{sites['b1']}/reps", f"/v1/sites/{sites['b1']}/visitors",
                 f"/v1/sites/{sites['b1']}/requests"):
        assert client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 404


def test_a_page_linked_from_a_chat_of_another_site_opens_on_that_site_and_only_among_the_sessions(
        client: TestClient, world) -> None:
    """The chat pane's links (worked examples, mark as best practice) carry ``?site=``: the page
    opens on that site, so its forms post there too; a site the person does not serve changes
    nothing."""
    sites = world["sites"]
    console_login(client, INDIE)
    current = client.get("/console/practices").text
    other = sites["b1"] if f'value="{sites["a1"]}" selected' in current else sites["a1"]
    page = client.get(f"/console/practices?site={other}")
    assert page.status_code == 200 and f'value="{other}" selected' in page.text
    assert f'value="{other}" selected' in client.get("/console/materials").text  # it stays current
    client.get(f"/console/practices?site={sites['c1']}")  # not theirs: ignored
    assert f'value="{other}" selected' in client.get("/console/materials").text
