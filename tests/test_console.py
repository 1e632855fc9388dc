"""The console over HTTP and its WebSocket, against real Redis: login, CSRF, roles, site
isolation, validation messages shown in the page, escaping of what visitors typed, and
what a representative can do to requests and chats."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import re
from typing import Any, Iterator

from markupsafe import escape
import pytest
import redis
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from backend.config import Settings
from tests.helpers import (
    NEEDY, ORIGIN, PASSWORD, admin, batch, expect, ingest, make_rep, recv, waiting_request,
)

HOST = "http://beckon.test"
WS = "ws://beckon.test/console/ws"
XSS = "<script>alert(1)</script>"

GET_PAGES = ["/console/", "/console/visitors/visitor-0001", "/console/admin/", "/console/admin/site",
             "/console/admin/reps", "/console/admin/visitors", "/console/admin/visitors.json", "/console/practices",
             "/console/chats/chat-00000001/practice", "/console/admin/practices", "/console/admin/practices/someone1",
             "/console/leads", "/console/admin/leads", "/console/admin/leads.csv", "/console/admin/leads/ld_nosuchlead01",
             "/console/admin/leads/territories"]
ADMIN_GETS = [p for p in GET_PAGES if p.startswith("/console/admin")]
ADMIN_POSTS = ["/console/admin/site", "/console/admin/rules", "/console/admin/offer", "/console/admin/reps",
               "/console/admin/reps/someone1/active", "/console/admin/reps/someone1", "/console/admin/practices/someone1",
               "/console/admin/leads/territories", "/console/admin/leads/settings"]


# --- helpers ------------------------------------------------------------------------------

def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html) or re.search(r'data-csrf="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Logs in (replacing any session) and returns the session's CSRF token."""
    client.cookies.clear()
    form = client.get("/console/login")
    r = client.post("/console/login", data={"csrf": csrf_of(form.text), "email": email, "password": password,
                                            "next": "/console/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/console/").text)


def gather(ws: Any, **wanted) -> dict[str, dict]:
    """Reads until a message of each wanted kind (passing its check) arrived, in any order:
    pub/sub events and direct replies race each other."""
    found: dict[str, dict] = {}
    while len(found) < len(wanted):
        m = recv(ws)
        if m["type"] in wanted and m["type"] not in found and wanted[m["type"]](m):
            found[m["type"]] = m
    return found


def connect(client: TestClient, csrf: str, origin: str = HOST):
    return client.websocket_connect(f"{WS}?csrf={csrf}", headers={"Origin": origin})


@pytest.fixture()
def shop(client: TestClient, site: dict) -> dict:
    """The site with an admin and a plain representative."""
    key = site["key"]
    return {"key": key,
            "admin": make_rep(client, key, email="boss@shop.example", role="admin", name="Bea Boss", capacity=2),
            "rep": make_rep(client, key, email="ria@shop.example", name="Ria Rep", capacity=2)}


# --- login, logout, CSRF ---------------------------------------------------------------------

def test_login_and_logout(client: TestClient, shop: dict) -> None:
    r = client.get("/console/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login?next=%2Fconsole%2F"
    csrf = login(client, "Ria@Shop.example")
    page = client.get("/console/")
    assert page.status_code == 200 and "Ria Rep" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    assert 'href="/console/admin/site"' not in page.text  # no admin links for a plain rep
    cookie = next(c for c in client.cookies.jar if c.name == "beckon_session")
    assert cookie.path == "/console"
    r = client.post("/console/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    assert client.get("/console/", follow_redirects=False).status_code == 303


def test_wrong_password_shows_an_error_and_repeated_failures_are_throttled(client: TestClient, shop: dict) -> None:
    form = client.get("/console/login")
    csrf = csrf_of(form.text)
    r = client.post("/console/login", data={"csrf": csrf, "email": "ria@shop.example", "password": "not it at all"})
    assert r.status_code == 401
    assert 'id="login-error"' in r.text and "Wrong e-mail address or password" in r.text
    assert 'value="ria@shop.example"' in r.text  # the e-mail stays filled in
    for _ in range(9):
        client.post("/console/login", data={"csrf": csrf, "email": "ria@shop.example", "password": "wrong one!!"})
    r = client.post("/console/login", data={"csrf": csrf, "email": "ria@shop.example", "password": PASSWORD})
    assert r.status_code == 429 and "Too many failed attempts" in r.text
    assert client.get("/console/", follow_redirects=False).status_code == 303  # still not logged in
    # someone else's account is not locked by it
    login(client, "boss@shop.example")


def test_many_e_mails_tried_from_one_address_are_throttled(client: TestClient, shop: dict) -> None:
    csrf = csrf_of(client.get("/console/login").text)
    codes = [client.post("/console/login", data={"csrf": csrf, "email": f"guess{i}@shop.example",
                                                  "password": "not it at all"}).status_code for i in range(51)]
    assert codes[:50] == [401] * 50 and codes[50] == 429
    # from this address even the right password waits now
    r = client.post("/console/login", data={"csrf": csrf, "email": "ria@shop.example", "password": PASSWORD})
    assert r.status_code == 429


def test_a_new_password_ends_older_sessions(client: TestClient, shop: dict) -> None:
    login(client, "ria@shop.example")
    assert client.get("/console/", follow_redirects=False).status_code == 200
    r = client.put(f"/v1/sites/{shop['key']}/reps/{shop['rep']}", json={"password": "a brand new password"},
                   headers=admin())
    assert r.status_code == 200 and "password" not in r.text
    assert client.get("/console/", follow_redirects=False).status_code == 303  # back to the login
    login(client, "ria@shop.example", "a brand new password")


def test_login_refuses_without_csrf_and_ignores_foreign_next(client: TestClient, shop: dict) -> None:
    client.get("/console/login")
    r = client.post("/console/login", data={"email": "ria@shop.example", "password": PASSWORD})
    assert r.status_code == 403 and "expired" in r.text
    csrf = csrf_of(client.get("/console/login").text)
    r = client.post("/console/login", data={"csrf": csrf, "email": "ria@shop.example", "password": PASSWORD,
                                            "next": "https://evil.example/console/"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/"


def test_forms_are_refused_without_the_csrf_token(client: TestClient, shop: dict, site: dict) -> None:
    csrf = login(client, "boss@shop.example")
    for token in (None, "x" * 32):
        data = {"name": "Hijacked", "origins": "https://evil.example"}
        if token:
            data["csrf"] = token
        r = client.post("/console/admin/site", data=data)
        assert r.status_code == 403 and "expired" in r.text
    assert client.get(f"/v1/sites/{site['key']}", headers=admin()).json()["name"] == "Shop"
    assert client.post("/console/logout", data={}).status_code == 403
    assert client.get("/console/").status_code == 200  # still logged in
    # with the token it works
    r = client.post("/console/admin/site", data={"csrf": csrf, "name": "Shop 2", "origins": ORIGIN},
                    follow_redirects=False)
    assert r.status_code == 303
    assert client.get(f"/v1/sites/{site['key']}", headers=admin()).json()["name"] == "Shop 2"


@pytest.mark.parametrize("path", GET_PAGES)
def test_every_page_needs_a_login(client: TestClient, shop: dict, path: str) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login?next=")


@pytest.mark.parametrize("path", ADMIN_POSTS + ["/console/logout", "/console/leads/alerts"])
def test_every_form_needs_a_login(client: TestClient, shop: dict, path: str) -> None:
    r = client.post(path, data={"csrf": "whatever"}, follow_redirects=False)
    assert r.status_code in (401, 403)


def test_the_websocket_needs_a_login_the_token_and_our_origin(client: TestClient, shop: dict) -> None:
    with connect(client, "nothing") as ws:
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
        assert info.value.code == 4401
    csrf = login(client, "ria@shop.example")
    with pytest.raises(WebSocketDisconnect):  # refused at the handshake: another site's page
        with connect(client, csrf, origin="https://evil.example"):
            pass
    with connect(client, "wrong-token") as ws:
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
        assert info.value.code == 4403
    with connect(client, csrf) as ws:
        assert {recv(ws)["type"] for _ in range(3)} == {"reps", "queue", "chats"}


@pytest.mark.parametrize("path", ADMIN_GETS)
def test_admin_pages_refuse_a_plain_rep(client: TestClient, shop: dict, path: str) -> None:
    login(client, "ria@shop.example")
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 403 and "administrators" in r.text


def test_admin_forms_refuse_a_plain_rep(client: TestClient, shop: dict, site: dict) -> None:
    csrf = login(client, "ria@shop.example")
    for path in ADMIN_POSTS:
        r = client.post(path.replace("someone1", shop["admin"]), data={"csrf": csrf, "name": "x", "active": "0"},
                        follow_redirects=False)
        assert r.status_code == 403, path
    boss = client.get(f"/v1/sites/{site['key']}/reps/{shop['admin']}", headers=admin()).json()
    assert boss["active"] and boss["role"] == "admin"


def test_deactivated_rep_is_logged_out_and_cannot_log_in(client: TestClient, shop: dict, site: dict) -> None:
    login(client, "ria@shop.example")
    client.put(f"/v1/sites/{site['key']}/reps/{shop['rep']}", json={"active": False}, headers=admin())
    assert client.get("/console/", follow_redirects=False).status_code == 303
    form = client.get("/console/login")
    r = client.post("/console/login", data={"csrf": csrf_of(form.text), "email": "ria@shop.example",
                                            "password": PASSWORD})
    assert r.status_code == 401


# --- one site's reps never see another's data ------------------------------------------------

def test_a_rep_cannot_see_or_touch_another_sites_data(client: TestClient, shop: dict, site: dict) -> None:
    other = client.post("/v1/sites", json={"name": "Other", "origins": ["https://other.example"]},
                        headers=admin()).json()
    other_rep = make_rep(client, other["key"], email="olga@other.example", role="admin", name="Olga", capacity=2)
    client.put(f"/v1/sites/{other['key']}/reps/{other_rep}/presence", json={"status": "available"}, headers=admin())
    headers = {"Origin": "https://other.example", "Content-Type": "text/plain"}
    events = [{**NEEDY[0], "url": "https://other.example/quote"}, {"t": "id", "name": "Secret Sam"}]
    body = batch(other["key"], events, vid="othervisitor1")
    assert client.post("/v1/events", content=json.dumps(body), headers=headers).status_code == 200
    secret = client.get(f"/v1/sites/{other['key']}/visitors/othervisitor1", headers=admin())
    assert secret.status_code == 200

    csrf = login(client, "boss@shop.example")
    assert client.get("/console/visitors/othervisitor1").status_code == 404
    assert "Secret Sam" not in client.get("/console/admin/visitors").text
    assert client.get("/console/admin/visitors.json").json() == {"visitors": []}
    assert "olga@other.example" not in client.get("/console/admin/reps").text
    # another site's rep cannot be edited or deactivated, even by id
    r = client.post(f"/console/admin/reps/{other_rep}/active", data={"csrf": csrf, "active": "0"})
    assert r.status_code == 404
    r = client.post(f"/console/admin/reps/{other_rep}", data={"csrf": csrf, "capacity": "1"})
    assert r.status_code == 404
    olga = client.get(f"/v1/sites/{other['key']}/reps/{other_rep}", headers=admin()).json()
    assert olga["active"] and olga["capacity"] == 2
    # a form field naming another site changes nothing: the site is the session's
    client.post("/console/admin/site", data={"csrf": csrf, "name": "Renamed", "origins": ORIGIN,
                                             "key": other["key"], "site": other["key"]})
    assert client.get(f"/v1/sites/{other['key']}", headers=admin()).json()["name"] == "Other"
    assert client.get(f"/v1/sites/{site['key']}", headers=admin()).json()["name"] == "Renamed"


def test_a_rep_cannot_accept_or_see_another_sites_requests(client: TestClient, shop: dict) -> None:
    other = client.post("/v1/sites", json={"name": "Other", "origins": [ORIGIN]}, headers=admin()).json()
    olga = make_rep(client, other["key"], email="olga@other.example", name="Olga", capacity=2)
    client.put(f"/v1/sites/{other['key']}/reps/{olga}/presence", json={"status": "available"}, headers=admin())
    foreign = waiting_request(client, other["key"], "visitor-other1")
    csrf = login(client, "ria@shop.example")
    with connect(client, csrf) as ws:
        assert expect(ws, "queue")["requests"] == []
        ws.send_json({"type": "accept", "id": foreign})
        err = expect(ws, "error")
        assert err["ref"] == foreign and "no longer exists" in err["message"]
        ws.send_json({"type": "target", "id": foreign, "reps": [], "must_contact": True})
        assert "no longer waiting" in expect(ws, "error")["message"]
    reqs = client.get(f"/v1/sites/{other['key']}/requests", headers=admin()).json()["requests"]
    assert [r["status"] for r in reqs] == ["waiting"]


# --- validation messages in the admin pages ---------------------------------------------------

def test_rule_set_errors_are_all_shown_next_to_the_editor(client: TestClient, shop: dict, site: dict) -> None:
    csrf = login(client, "boss@shop.example")
    page = client.get("/console/admin/site")
    assert str(escape(site["script_tag"])) in page.text  # the tag to copy, escaped
    r = client.post("/console/admin/rules", data={"csrf": csrf, "rules": "{not json"})
    assert r.status_code == 400 and "This is not valid JSON" in r.text and "{not json" in r.text
    bad = {"threshold": -1, "rules": {"page_dwell": {"weight": "heavy", "threshold": 0}, "mood": {"weight": 1}}}
    r = client.post("/console/admin/rules", data={"csrf": csrf, "rules": json.dumps(bad)})
    assert r.status_code == 400
    errors = re.search(r'id="rules-errors".*?</ul>', r.text, re.S).group(0)
    for text in ("threshold: must be a number above 0 and at most 100",
                 "rules.page_dwell.weight: must be a number from 0 to 100",
                 "rules.page_dwell.threshold: must be a number above 0", "rules.mood: unknown rule"):
        assert text in errors, text
    good = {"threshold": 0.5, "rules": {"form_errors": {"weight": 0.5, "threshold": 1}}}
    r = client.post("/console/admin/rules", data={"csrf": csrf, "rules": json.dumps(good)}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get(f"/v1/sites/{site['key']}/rules", headers=admin()).json() == good
    assert "Rule set saved." in client.get(r.headers["location"]).text


def test_offer_settings_errors_are_shown_per_field(client: TestClient, shop: dict, site: dict) -> None:
    csrf = login(client, "boss@shop.example")
    form = {"csrf": csrf, "variant": "hologram", "headline": "Hi", "message": "Hello", "acceptable_wait_s": "soon",
            "response_timeout_s": "30", "timeout_min_s": "90", "timeout_max_s": "20", "cooldown_s": "-5",
            "min_cart_value": "0", "leave_message": "on", "sales_email": "", "access_codes": "ok-code\nx",
            "audio_url": "javascript:alert(1)", "video_url": "", "captions_url": "",
            "must_contact_alert_s": "120", "holdout_share": "0.8"}
    r = client.post("/console/admin/offer", data=form)
    assert r.status_code == 400
    for field, text in [("variant", "must be one of button, panel, audio, video"),
                        ("acceptable_wait_s", "must be a number"),
                        ("cooldown_s", "must be a number from 0 to 604800"),
                        ("timeout_min_s", "must not be above timeout_max_s"),
                        ("sales_email", "is needed for &#39;leave a message&#39;"),
                        ("access_codes", "must be a list of up to 1000 codes of 3-64 characters"),
                        ("audio_url", "must be an https:// URL, or a path on the site itself"),
                        ("holdout_share", "must be a number from 0 to 0.5")]:
        block = re.search(rf'id="{field}-errors".*?</ul>', r.text, re.S)
        assert block and text in block.group(0), field
    assert 'value="soon"' in r.text  # what was typed stays, to be corrected
    form.update(variant="panel", acceptable_wait_s="45", cooldown_s="300", timeout_min_s="10",
                sales_email="sales@shop.example", access_codes="GOLD-1", audio_url="", holdout_share="0.2")
    r = client.post("/console/admin/offer", data=form, follow_redirects=False)
    assert r.status_code == 303
    saved = client.get(f"/v1/sites/{site['key']}/offer-settings", headers=admin()).json()
    assert saved["variant"] == "panel" and saved["acceptable_wait_s"] == 45 and saved["access_codes"] == ["GOLD-1"]
    assert saved["holdout_share"] == 0.2
    assert saved["short_for_first_visit"] is False  # an unticked box means off


def test_leave_a_message_without_a_sales_email_is_called_out_where_the_owner_sets_it(
        client: TestClient, shop: dict, site: dict, redis_client: redis.Redis) -> None:
    """Settings stored before 'leave a message' needed an address: the page says why it does
    nothing, next to the field that fixes it."""
    from backend.store import keys

    redis_client.set(keys.offer_settings(site["key"]), json.dumps({"leave_message": True, "sales_email": ""}))
    login(client, "boss@shop.example")
    html = client.get("/console/admin/site").text
    block = re.search(r'id="sales_email-errors".*?</ul>', html, re.S)
    assert block and "no customer is offered it" in block.group(0)


def test_site_and_rep_errors_are_shown(client: TestClient, shop: dict, site: dict) -> None:
    csrf = login(client, "boss@shop.example")
    r = client.post("/console/admin/site", data={"csrf": csrf, "name": "", "origins": "ftp://x\nhttps://ok.example"})
    assert r.status_code == 400
    assert "must be 1-100 characters" in re.search(r'id="name-errors".*?</ul>', r.text, re.S).group(0)
    assert "origins[0]" in re.search(r'id="origins-errors".*?</ul>', r.text, re.S).group(0)
    r = client.post("/console/admin/reps", data={"csrf": csrf, "name": "Nia", "email": "not-an-address",
                                                 "password": "short", "capacity": "99", "role": "emperor"})
    assert r.status_code == 400
    assert "must be an e-mail address" in re.search(r'id="new-email-errors".*?</ul>', r.text, re.S).group(0)
    assert "must be 10-200 characters" in re.search(r'id="new-password-errors".*?</ul>', r.text, re.S).group(0)
    assert "from 1 to 20" in re.search(r'id="new-capacity-errors".*?</ul>', r.text, re.S).group(0)
    assert "must be one of rep, admin" in r.text
    r = client.post("/console/admin/reps", data={"csrf": csrf, "name": "Ria again", "email": "ria@shop.example",
                                                 "password": PASSWORD, "capacity": "2", "role": "rep"})
    assert r.status_code == 400 and "already has this e-mail" in r.text


def test_admin_manages_representatives(client: TestClient, shop: dict, site: dict) -> None:
    csrf = login(client, "boss@shop.example")
    r = client.post("/console/admin/reps", data={"csrf": csrf, "name": "Nia", "email": "nia@shop.example",
                                                 "password": PASSWORD, "capacity": "4", "skills": "Billing:4, french",
                                                 "areas": "eu", "role": "rep"}, follow_redirects=False)
    assert r.status_code == 303
    reps = client.get(f"/v1/sites/{site['key']}/reps", headers=admin()).json()["reps"]
    nia = next(x for x in reps if x["email"] == "nia@shop.example")
    assert (nia["capacity"], nia["skills"], nia["areas"], nia["role"]) == (4, {"billing": 4, "french": 3}, ["EU"],
                                                                           "rep")
    r = client.post(f"/console/admin/reps/{nia['id']}", data={
        "csrf": csrf, "name": "Nia", "email": "nia@shop.example", "capacity": "6", "skills": "sales:5",
        "area": "US", "role": "admin", "password": ""}, follow_redirects=False)  # the old single-area field
    assert r.status_code == 303
    nia = client.get(f"/v1/sites/{site['key']}/reps/{nia['id']}", headers=admin()).json()
    assert (nia["capacity"], nia["skills"], nia["areas"], nia["role"]) == (6, {"sales": 5}, ["US"], "admin")
    r = client.post(f"/console/admin/reps/{nia['id']}", data={"csrf": csrf, "capacity": "0"})
    assert r.status_code == 400 and "from 1 to 20" in r.text
    assert client.post(f"/console/admin/reps/{nia['id']}/active", data={"csrf": csrf, "active": "0"},
                       follow_redirects=False).status_code == 303
    assert client.get(f"/v1/sites/{site['key']}/reps/{nia['id']}", headers=admin()).json()["active"] is False
    assert client.post(f"/console/admin/reps/{nia['id']}/active", data={"csrf": csrf, "active": "1"},
                       follow_redirects=False).status_code == 303
    assert client.get(f"/v1/sites/{site['key']}/reps/{nia['id']}", headers=admin()).json()["active"] is True
    # an admin cannot lock themselves out
    r = client.post(f"/console/admin/reps/{shop['admin']}/active", data={"csrf": csrf, "active": "0"})
    assert r.status_code == 400 and "your own account" in r.text
    r = client.post(f"/console/admin/reps/{shop['admin']}", data={"csrf": csrf, "role": "rep"})
    assert r.status_code == 400 and "your own admin role" in r.text


def test_bad_form_bodies_get_a_4xx_not_a_500(client: TestClient, shop: dict) -> None:
    csrf = login(client, "boss@shop.example")
    r = client.post("/console/admin/rules", content=json.dumps({"csrf": csrf}),
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 415
    r = client.post("/console/admin/rules", content=b"csrf=" + csrf.encode() + b"&rules=\xff\xfe",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400
    r = client.post("/console/admin/rules", content=b"a=" + b"x" * 300_000,
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
    assert client.get("/console/visitors/<script>").status_code == 404


# --- escaping of visitor-supplied strings ------------------------------------------------------

def test_visitor_strings_are_escaped_in_every_page(client: TestClient, shop: dict, site: dict) -> None:
    key = site["key"]
    client.put(f"/v1/sites/{key}/reps/{shop['rep']}/presence", json={"status": "available"}, headers=admin())
    events = [{"t": "pv", "url": "https://shop.example/q?<b>", "title": "<img src=x onerror=alert(1)>", "visits": 1},
              {"t": "err", "field": "<svg/onload=alert(1)>", "kind": "invalid", "msg": XSS},
              {"t": "err", "field": "zip", "kind": "submit"}, {"t": "field", "name": "zip", "ms": 25_000},
              {"t": "svc", "point": "quote"}, {"t": "id", "name": XSS, "email": "x@shop.example"}]
    cid = waiting_request(client, key, "visitor-0001", events)
    login(client, "ria@shop.example")
    csrf = csrf_of(client.get("/console/").text)
    with connect(client, csrf) as ws:
        queued = expect(ws, "queue", lambda m: m["requests"])["requests"][0]
        assert queued["visitor_detail"]["profile"]["name"] == XSS  # raw in JSON; the page uses textContent
        ws.send_json({"type": "accept", "id": cid})
        expect(ws, "chats", lambda m: m["chats"])
        ws.send_json({"type": "say", "chat": cid, "text": "Hi " + XSS, "cid": "c1"})
        expect(ws, "ack")
    login(client, "boss@shop.example")
    for path in ("/console/visitors/visitor-0001", "/console/visitors/visitor-0001?q=hi",
                 "/console/admin/visitors"):
        html = client.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html and "<svg/onload" not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    history = client.get("/console/visitors/visitor-0001").text
    assert "&lt;img src=x onerror=alert(1)&gt;" in history and "Hi &lt;script&gt;" in history


# --- the workspace WebSocket -----------------------------------------------------------------

def test_first_to_accept_wins_and_the_other_sees_it_go(client: TestClient, shop: dict, site: dict) -> None:
    key = site["key"]
    csrf_a = login(client, "ria@shop.example")
    with connect(client, csrf_a) as a:
        a.send_json({"type": "presence", "status": "available"})
        assert expect(a, "presence")["status"] == "available"
        csrf_b = login(client, "boss@shop.example")
        with connect(client, csrf_b) as b:
            b.send_json({"type": "presence", "status": "available"})
            expect(b, "presence")
            cid = waiting_request(client, key, "visitor-0001")
            for ws in (a, b):
                queued = expect(ws, "queue", lambda m: m["requests"])["requests"]
                assert [q["id"] for q in queued] == [cid]
                assert {x["rule"] for x in queued[0]["reasons"]} >= {"form_errors", "field_dwell"}
                assert queued[0]["visitor_detail"]["pages"][0]["url"] == "https://shop.example/quote"
            a.send_json({"type": "accept", "id": cid})
            won = gather(a, accepted=lambda m: True, chats=lambda m: m["chats"])
            assert won["accepted"]["id"] == cid
            b.send_json({"type": "accept", "id": cid})  # a stale Accept button, a moment too late
            lost = gather(b, error=lambda m: True, queue=lambda m: not m["requests"])
            assert lost["error"]["ref"] == cid
            assert lost["error"]["message"] == "another representative already took this request"
            chats = won["chats"]["chats"]
            assert chats[0]["id"] == cid and chats[0]["messages"][-1]["text"] == "Ria Rep joined the chat."
            # only the owner may talk in, type in, end or transfer the chat
            for message in ({"type": "say", "chat": cid, "text": "hi"}, {"type": "typing", "chat": cid},
                            {"type": "end", "chat": cid}, {"type": "transfer", "chat": cid, "to": shop["admin"]},
                            {"type": "link", "chat": cid, "url": ORIGIN + "/", "title": "x"}):
                b.send_json(message)
                assert expect(b, "error")["message"] == "this chat is not yours"


@contextlib.contextmanager
def ria_in_a_chat(client: TestClient, key: str) -> Iterator[tuple[Any, Any, str]]:
    """The admin (boss) and Ria both available on their consoles, Ria in a chat with
    visitor-0001: (boss's socket, Ria's socket, the chat id)."""
    with connect(client, login(client, "boss@shop.example")) as boss:
        boss.send_json({"type": "presence", "status": "available"})
        expect(boss, "presence")
        with connect(client, login(client, "ria@shop.example")) as ws:
            ws.send_json({"type": "presence", "status": "available"})
            expect(ws, "presence")
            cid = waiting_request(client, key, "visitor-0001")
            ws.send_json({"type": "accept", "id": cid})
            expect(ws, "chats", lambda m: m["chats"])
            yield boss, ws, cid


def test_chatting_links_typing_transfer_and_end(client: TestClient, shop: dict, site: dict) -> None:
    key = site["key"]
    state = client.app.state.services
    with ria_in_a_chat(client, key) as (boss, ws, cid):
        ws.send_json({"type": "say", "chat": cid, "text": "Hello, how can I help?", "cid": "c-1"})
        got = gather(ws, ack=lambda m: True, msg=lambda m: m["msg"]["from"] == "rep")
        ack, echo = got["ack"], got["msg"]
        assert ack["cid"] == "c-1" and echo["msg"]["cid"] == "c-1"
        assert echo["msg"]["id"] == ack["id"] and echo["msg"]["name"] == "Ria Rep"
        ws.send_json({"type": "say", "chat": cid, "text": "x" * 2001, "cid": "c-2"})
        assert "at most 2000" in expect(ws, "error")["message"]
        ws.send_text("y" * 9000)
        assert "too large" in expect(ws, "error")["message"]
        ws.send_text("not json")
        assert "not valid JSON" in expect(ws, "error")["message"]
        # the customer speaks (as the customer's socket would) and types
        client.portal.call(state.chats.say, key, cid, "visitor", "", "Where is my order?")
        assert expect(ws, "msg", lambda m: m["msg"]["from"] == "visitor")["msg"]["text"] == "Where is my order?"
        client.portal.call(state.chats.typing, key, cid, "visitor")
        assert expect(ws, "typing")["from"] == "visitor"
        # links: only the site's own pages
        ws.send_json({"type": "link", "chat": cid, "url": "https://evil.example/x", "title": "Prize"})
        assert "only pages of this site" in expect(ws, "error")["message"]
        ws.send_json({"type": "link", "chat": cid, "url": ORIGIN + "/shipping", "title": "Shipping"})
        link = expect(ws, "msg", lambda m: m["msg"]["kind"] == "link")["msg"]
        assert (link["url"], link["title"]) == (ORIGIN + "/shipping", "Shipping")
        # transfer: not to oneself, not to someone away; then to the available admin
        ws.send_json({"type": "transfer", "chat": cid, "to": shop["rep"]})
        assert expect(ws, "error")["message"] == "choose another representative"
        ws.send_json({"type": "transfer", "chat": cid, "to": shop["admin"]})
        assert expect(ws, "chat-closed")["id"] == cid
        opened = expect(boss, "chats", lambda m: m["chats"])["chats"][0]
        assert opened["id"] == cid and any(m["text"] == "Where is my order?" for m in opened["messages"])
        ws.send_json({"type": "say", "chat": cid, "text": "still mine?"})
        assert expect(ws, "error")["message"] == "this chat is not yours"
        boss.send_json({"type": "end", "chat": cid})
        ended = expect(boss, "ended")
        assert ended["chat"] == cid and ended["by"] == "rep"
        boss.send_json({"type": "say", "chat": cid, "text": "hello?"})
        assert "ended" in expect(boss, "error")["message"]
    history = client.get("/console/visitors/visitor-0001?q=order")
    assert history.status_code == 200 and "Where is my order?" in history.text
    assert "No chat mentions" in client.get("/console/visitors/visitor-0001?q=zebra").text


def test_what_the_customer_does_reaches_their_reps_console_as_it_happens(
        client: TestClient, shop: dict, site: dict) -> None:
    """The details beside a chat are pushed by the customer's own batches (no waiting for a
    refresh), to the chat's representative only, and only when they changed."""
    key = site["key"]
    with ria_in_a_chat(client, key) as (boss, ws, cid):
        ingest(client, key, "visitor-0001", [{"t": "cart", "value": 149, "currency": "EUR"},
                                             {"t": "pv", "url": ORIGIN + "/checkout", "title": "Checkout"}])
        detail = expect(ws, "visitor", timeout=3)  # the console's own refresh comes every 5 s
        assert detail["chat"] == cid and detail["detail"]["url"] == ORIGIN + "/checkout"
        assert detail["detail"]["cart_value"] == 149
        # the same batch again changes nothing the rep sees: no frame; a new page does
        ingest(client, key, "visitor-0001", [{"t": "cart", "value": 149, "currency": "EUR"}])
        ingest(client, key, "visitor-0001", [{"t": "pv", "url": ORIGIN + "/thanks", "title": "Thanks"}])
        after = expect(ws, "visitor", timeout=3)
        assert after["detail"]["url"] == ORIGIN + "/thanks"
        ws.send_json({"type": "say", "chat": cid, "text": "anything else?", "cid": "c-9"})
        expect(ws, "ack")
        # the other representative heard of none of it
        boss.send_json({"type": "presence", "status": "available"})
        seen = []
        while (m := recv(boss))["type"] != "presence":
            seen.append(m["type"])
        assert "visitor" not in seen and "visitor-changed" not in seen


def test_a_request_offered_to_one_rep_leaves_the_others_queues(client: TestClient, shop: dict, site: dict) -> None:
    key = site["key"]
    csrf = login(client, "ria@shop.example")
    with connect(client, csrf) as ws:
        ws.send_json({"type": "presence", "status": "available"})
        expect(ws, "presence")
        cid = waiting_request(client, key, "visitor-0001")
        expect(ws, "queue", lambda m: m["requests"])
        ws.send_json({"type": "target", "id": cid, "reps": ["nobody-here"], "must_contact": False})
        assert "does not exist" in expect(ws, "error")["message"]
        ws.send_json({"type": "target", "id": cid, "reps": [shop["admin"]], "must_contact": True})
        assert expect(ws, "queue", lambda m: not m["requests"])["requests"] == []
        ws.send_json({"type": "accept", "id": cid})
        assert expect(ws, "error")["message"] == "this request was offered to someone else"
    login(client, "boss@shop.example")
    csrf = csrf_of(client.get("/console/").text)
    with connect(client, csrf) as ws:
        queued = expect(ws, "queue", lambda m: m["requests"])["requests"][0]
        assert queued["must_contact"] is True and queued["targets"] == [shop["admin"]]


def test_presence_over_the_socket(client: TestClient, shop: dict, site: dict, redis_client: redis.Redis) -> None:
    csrf = login(client, "ria@shop.example")
    with connect(client, csrf) as ws:
        ws.send_json({"type": "presence", "status": "dancing"})
        assert "available, away or offline" in expect(ws, "error")["message"]
        ws.send_json({"type": "presence", "status": "available"})
        expect(ws, "presence")
        rep = client.get(f"/v1/sites/{site['key']}/reps/{shop['rep']}", headers=admin()).json()
        assert rep["status"] == "available"
        ws.send_json({"type": "presence", "status": "away"})
        expect(ws, "presence")
        assert client.get(f"/v1/sites/{site['key']}/reps/{shop['rep']}", headers=admin()).json()["status"] == "away"
    csrf = login(client, "ria@shop.example")
    client.post("/console/logout", data={"csrf": csrf})
    assert client.get(f"/v1/sites/{site['key']}/reps/{shop['rep']}", headers=admin()).json()["status"] == "offline"


# --- the CLI makes the first admin ----------------------------------------------------------

def test_cli_creates_the_first_admin(client: TestClient, site: dict, settings: Settings, monkeypatch,
                                     capsys) -> None:
    from backend import cli

    def beckon(*argv: str) -> int:
        # a thread of its own: Playwright's sync API may leave an event loop running in this one
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(cli.main, list(argv)).result(60)

    monkeypatch.setenv("BECKON_REDIS_URL", settings.redis_url)
    code = beckon("rep", "create", "--site", site["key"], "--name", "Ada", "--email", "ada@shop.example",
                  "--password", PASSWORD, "--capacity", "5", "--skills", "billing:4,French", "--area", "EU",
                  "--languages", "en, pt_br", "--admin")
    assert code == 0
    made = json.loads(capsys.readouterr().out)
    assert (made["role"], made["capacity"], made["skills"], made["areas"], made["languages"]) == (
        "admin", 5, {"billing": 4, "french": 3}, ["EU"], ["en", "pt-BR"])
    assert beckon("rep", "create", "--site", "no-such-site", "--name", "A", "--email", "a@b.c",
                  "--password", PASSWORD) == 2
    assert beckon("rep", "create", "--site", site["key"], "--name", "A", "--email", "nope",
                  "--password", "short") == 2
    err = capsys.readouterr().err
    assert "no site with key" in err and "email: must be an e-mail address" in err
    login(client, "ada@shop.example")
    assert client.get("/console/admin/site").status_code == 200
