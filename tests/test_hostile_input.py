"""Input that used to reach code that raises (issue 8), one readable case per cause the fuzzing
in tests/test_fuzz.py found: each now gets a 4xx (or, on a socket, an error frame) with a
message saying what was wrong, stores nothing, and leaves the site working."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.helpers import (
    recv,
    NEEDY, ORIGIN, PASSWORD, TEXT, admin, batch, make_rep, page_socket, presence, waiting_request,
)

SURROGATE = "\ud800"  # half of a UTF-16 pair: what JSON's "\ud800" decodes to; not text


def post_batch(client: TestClient, body: Any):
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)  # json.dumps writes "\ud800"
    return client.post("/v1/events", content=content, headers=TEXT)


def visitors(client: TestClient, key: str) -> list:
    return client.get(f"/v1/sites/{key}/visitors", headers=admin()).json()["visitors"]


def pv(url: str, **extra: Any) -> dict:
    return {"t": "pv", "url": url, "title": "Quote", **extra}


# --- the collector ----------------------------------------------------------------------------

# (what, events or a whole-body change, the field named, words in the message)
BAD_BATCHES = [
    ("an event type that is a list", [{"t": []}], "events[0].t", "unknown event type"),
    ("an error kind that is an object", [{"t": "err", "kind": {}}], "events[0].kind", "'kind' must be one of"),
    ("an IPv6 host never closed", [pv("http://[::1/x")], "events[0].url", "not a URL"),
    ("a host in brackets that is no IPv6 address", [pv("http://[shop.example]/")], "events[0].url", "not a URL"),
    ("a referrer that cannot be read", [pv("https://shop.example/", ref="http://[::1/x")], "events[0].ref",
     "not a URL"),
    ("a lone surrogate in a title", [pv("https://shop.example/", title="Quote " + SURROGATE)], None, "surrogate"),
    ("a lone surrogate in a name", [{"t": "id", "name": SURROGATE + "Ada"}], None, "surrogate"),
    ("a lone surrogate in a key", [{"t": "hb", SURROGATE: 1}], None, "surrogate"),
    ("a cart value of 401 digits", [{"t": "cart", "value": 10**400, "currency": "EUR"}], None, "digits"),
    ("a dwell time of 300 digits", [{"t": "dwell", "ms": 10**300}], None, "digits"),
    ("a visitor id with a trailing newline", {"vid": "visitor1\n"}, "vid", "'vid' must be 8-64"),
    ("a currency with a trailing newline", [{"t": "cart", "value": 5, "currency": "EUR\n"}], "events[0].currency",
     "three-letter"),
]


@pytest.mark.parametrize("what, change, field, words", BAD_BATCHES, ids=[b[0] for b in BAD_BATCHES])
def test_a_hostile_batch_gets_a_400_naming_the_problem_and_stores_nothing(
        client: TestClient, site: dict, what: str, change: Any, field: str | None, words: str) -> None:
    body = batch(site["key"], change) if isinstance(change, list) else {**batch(site["key"]), **change}
    r = post_batch(client, body)
    assert r.status_code == 400, r.text
    assert words in r.json()["error"]
    if field:
        assert r.json()["field"] == field
    assert visitors(client, site["key"]) == []
    assert post_batch(client, batch(site["key"])).status_code == 200  # and the site still works


def raw_body(key: str, title: bytes) -> bytes:
    return (b'{"v": 1, "site": "%s", "vid": "visitor-0001", "pid": "pageview-0001", "events": '
            b'[{"t": "pv", "url": "https://shop.example/", "title": "%s"}]}' % (key.encode(), title))


# (what, body, words in the message)
BAD_BODIES = [
    ("a surrogate encoded as UTF-8 bytes (CESU-8)", lambda key: raw_body(key, b"\xed\xa0\x80"), "not valid UTF-8"),
    ("a byte that is not UTF-8", lambda key: raw_body(key, b"caf\xe9"), "not valid UTF-8"),
    ("UTF-16", lambda key: json.dumps(batch(key)).encode("utf-16"), "not valid UTF-8"),
    ("2,000 nested brackets", lambda key: "[" * 2000 + "]" * 2000, "nested deeper than"),
    ("30 nested objects", lambda key: '{"a":' * 30 + "1" + "}" * 30, "nested deeper than"),
    ("NaN", lambda key: json.dumps(batch(key, [{"t": "cart", "value": float("nan"), "currency": "EUR"}])),
     "NaN is not a JSON number"),
    ("a number too large for a float", lambda key: json.dumps(batch(key)).replace('"v": 1', '"v": 1e999'),
     "too large"),
]


@pytest.mark.parametrize("what, make, words", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_a_body_that_is_not_json_we_accept_gets_a_400_saying_why(
        client: TestClient, site: dict, what: str, make: Any, words: str) -> None:
    r = post_batch(client, make(site["key"]))
    assert r.status_code == 400, r.text
    assert "not valid JSON" in r.json()["error"] and words in r.json()["error"]
    assert visitors(client, site["key"]) == []


def test_valid_input_is_taken_as_before(client: TestClient, site: dict) -> None:
    """Characters outside the BMP (sent escaped, as a surrogate pair), an IPv6 host, a byte
    order mark and a body as UTF-8 bytes are all still fine."""
    key = site["key"]
    events = [pv("http://[::1]:8080/checkout", title="Kayak \U0001F6F6 café")]
    assert post_batch(client, batch(key, events)).status_code == 200  # ensure_ascii: "\ud83d\udef6"
    assert post_batch(client, b"\xef\xbb\xbf" + json.dumps(batch(key, [{"t": "hb"}]), ensure_ascii=False)
                      .encode()).status_code == 200
    v = client.get(f"/v1/sites/{key}/visitors/visitor-0001", headers=admin()).json()
    assert v["pages"][0]["title"] == "Kayak \U0001F6F6 café" and v["service_point"] == "checkout"


# --- the site API: nothing invalid is stored, so nothing breaks the site later -------------------

def test_rules_with_a_lone_surrogate_are_refused_and_the_collector_keeps_working(
        client: TestClient, site: dict) -> None:
    key = site["key"]
    before = client.get(f"/v1/sites/{key}/rules", headers=admin()).json()
    bad = {"rules": {"service_point": {"weight": 1, "url_patterns": {"checkout": "/checkout" + SURROGATE}}}}
    r = client.put(f"/v1/sites/{key}/rules", content=json.dumps(bad), headers=admin())
    assert r.status_code == 400 and "surrogate" in r.json()["error"]
    assert client.get(f"/v1/sites/{key}/rules", headers=admin()).json() == before
    assert post_batch(client, batch(key)).status_code == 200


@pytest.mark.parametrize("body, words", [
    (json.dumps({"rules": {"cart_value": {"weight": 1, "threshold": 10**400}}}), "digits"),
    (json.dumps({"threshold": 10**25}), "digits"),
    ('{"rules": ' * 40 + "{}" + "}" * 40, "nested deeper than"),
    ("[" * 5000 + "]" * 5000, "nested deeper than"),
], ids=["a threshold of 401 digits", "a site threshold of 26 digits", "40 nested objects", "5,000 brackets"])
def test_rules_with_absurd_numbers_or_nesting_are_refused(client: TestClient, site: dict, body: str,
                                                          words: str) -> None:
    key = site["key"]
    before = client.get(f"/v1/sites/{key}/rules", headers=admin()).json()
    r = client.put(f"/v1/sites/{key}/rules", content=body, headers=admin())
    assert r.status_code == 400 and words in r.json()["error"], r.text
    assert client.get(f"/v1/sites/{key}/rules", headers=admin()).json() == before


def test_surrogates_anywhere_in_the_site_api_are_refused_and_nothing_is_stored(client: TestClient,
                                                                               site: dict) -> None:
    key = site["key"]
    rid = make_rep(client, key)
    calls = [
        ("POST", "/v1/sites", {"name": "Shop " + SURROGATE, "origins": [ORIGIN]}),
        ("PUT", f"/v1/sites/{key}", {"name": SURROGATE, "origins": [ORIGIN]}),
        ("POST", f"/v1/sites/{key}/reps", {"name": "Ada", "email": "ada@shop.example", "password": SURROGATE * 12}),
        ("PUT", f"/v1/sites/{key}/reps/{rid}", {"area": "North " + SURROGATE}),
        ("POST", f"/v1/sites/{key}/flagged", {"customers": ["vip" + SURROGATE + "@example.com"]}),
        ("PUT", f"/v1/sites/{key}/offer-settings", {"headline": "Help? " + SURROGATE}),
        ("PUT", f"/v1/sites/{key}/offer-settings", {"access_codes": ["code-" + SURROGATE]}),
    ]
    reads = ["/v1/sites", f"/v1/sites/{key}", f"/v1/sites/{key}/reps", f"/v1/sites/{key}/flagged",
             f"/v1/sites/{key}/offer-settings"]
    before = [client.get(path, headers=admin()).json() for path in reads]
    for method, path, body in calls:
        r = client.request(method, path, content=json.dumps(body), headers=admin())
        assert r.status_code == 400 and "surrogate" in r.json()["error"], (path, r.text)
    assert [client.get(path, headers=admin()).json() for path in reads] == before


def test_a_sales_email_with_a_line_break_is_refused(client: TestClient, site: dict) -> None:
    """It would become the To: header of every left message: the mail encoder refuses line
    breaks there, so the messages would never go."""
    r = client.put(f"/v1/sites/{site['key']}/offer-settings",
                   json={"leave_message": True, "sales_email": "sales@shop.example\nBcc: x@evil.example"},
                   headers=admin())
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "sales_email"


def test_an_empty_change_to_a_representative_changes_nothing(client: TestClient, site: dict) -> None:
    """Found by tests/test_fuzz.py: ``{}`` reached Redis as an HSET without fields, a 500."""
    rid = make_rep(client, site["key"])
    before = client.get(f"/v1/sites/{site['key']}/reps/{rid}", headers=admin()).json()
    r = client.put(f"/v1/sites/{site['key']}/reps/{rid}", json={}, headers=admin())
    assert r.status_code == 200 and r.json() == before


# --- the console's forms ----------------------------------------------------------------------

def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html) or re.search(r'data-csrf="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def login(client: TestClient, email: str) -> str:
    """Logs in and returns the session's CSRF token."""
    client.cookies.clear()
    form = client.get("/console/login")
    r = client.post("/console/login", data={"csrf": csrf_of(form.text), "email": email, "password": PASSWORD,
                                            "next": "/console/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/console/").text)


@pytest.fixture()
def owner(client: TestClient, site: dict) -> str:
    """The site's admin, logged in to the console; the CSRF token."""
    make_rep(client, site["key"], email="boss@shop.example", role="admin", name="Bea Boss", capacity=2)
    return login(client, "boss@shop.example")


@pytest.mark.parametrize("text, words", [
    ('{"rules": {"cart_value": {"weight": 1, "threshold": 1' + "0" * 400 + "}}}", "digits"),
    ("[" * 3000 + "]" * 3000, "nested deeper than"),
], ids=["a threshold of 401 digits", "3,000 brackets"])
def test_the_rule_editor_refuses_absurd_numbers_and_nesting_with_a_message(
        client: TestClient, site: dict, owner: str, text: str, words: str) -> None:
    before = client.get(f"/v1/sites/{site['key']}/rules", headers=admin()).json()
    r = client.post("/console/admin/rules", data={"csrf": owner, "rules": text})
    assert r.status_code == 400 and words in r.text
    assert client.get(f"/v1/sites/{site['key']}/rules", headers=admin()).json() == before


def test_a_capacity_in_superscript_digits_is_a_form_error(client: TestClient, site: dict, owner: str) -> None:
    r = client.post("/console/admin/reps", data={"csrf": owner, "name": "Ada", "email": "ada@shop.example",
                                                 "password": PASSWORD, "capacity": "\u00b2", "role": "rep"})
    assert r.status_code == 400 and "must be a whole number from 1 to 20" in r.text
    assert [rep["name"] for rep in client.get(f"/v1/sites/{site['key']}/reps", headers=admin()).json()["reps"]] \
        == ["Bea Boss"]


@pytest.mark.parametrize("target", ["http://[shop.example]/console/", "http://[::1/console/"])
def test_a_login_with_an_unreadable_next_address_goes_to_the_console(client: TestClient, site: dict,
                                                                     target: str) -> None:
    """Found by tests/test_fuzz.py: urlsplit raised on the form's ``next``, a 500."""
    make_rep(client, site["key"], email="ria@shop.example")
    csrf = csrf_of(client.get("/console/login").text)
    r = client.post("/console/login", data={"csrf": csrf, "email": "ria@shop.example", "password": PASSWORD,
                                            "next": target}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/"


# --- the sockets ------------------------------------------------------------------------------



def until(ws: Any, kind: str) -> dict:
    while (frame := recv(ws))["type"] != kind:
        pass
    return frame


def history(client: TestClient, ws: Any, chat: str) -> list[str]:
    ws.send_text(json.dumps({"type": "resume", "chat": chat, "after": "0"}))
    return [m["text"] for m in until(ws, "history")["msgs"]]


# (what, how it is sent, words in the error frame)
BAD_FRAMES = [
    ("a binary frame", lambda ws: ws.send_bytes(b'{"type": "typing"}'), "send JSON text frames"),
    ("a deeply nested frame", lambda ws: ws.send_text('{"type": "say", "text": ' + "[" * 900 + "]" * 900 + "}"),
     "nested deeper than"),
    ("a lone surrogate in a message", lambda ws: ws.send_text('{"type": "say", "text": "hi \\ud800", "cid": "c1"}'),
     "surrogate"),
    ("a raw lone surrogate in the frame", lambda ws: ws.send_text('{"type": "say", "text": "hi \ud800"}'),
     "not valid Unicode"),
    ("a number of 500 digits", lambda ws: ws.send_text('{"type": "typing", "n": ' + "9" * 500 + "}"), "digits"),
    ("not JSON", lambda ws: ws.send_text("hello"), "not valid JSON"),
    ("no type", lambda ws: ws.send_text("[1, 2]"), "needs a 'type'"),
]


@pytest.mark.parametrize("what, send, words", BAD_FRAMES, ids=[f[0] for f in BAD_FRAMES])
def test_the_page_socket_answers_a_bad_frame_with_an_error_and_stays_open(
        client: TestClient, site: dict, what: str, send: Any, words: str) -> None:
    key = site["key"]
    presence(client, key, make_rep(client, key), "available")
    chat = waiting_request(client, key, "visitor-0001")
    with page_socket(client, key, "visitor-0001") as ws:
        until(ws, "history")
        send(ws)
        frame = until(ws, "error")
        assert words in frame["message"]
        ws.send_text(json.dumps({"type": "say", "text": "Still there?", "cid": "c2"}))
        assert until(ws, "ack")["cid"] == "c2"
        assert history(client, ws, chat) == ["Still there?"]  # nothing of the bad frame was stored


@pytest.fixture()
def rep_in_a_chat(client: TestClient, site: dict) -> tuple[str, str]:
    """A representative logged in to the console, with a chat they accepted: (csrf, chat id)."""
    key = site["key"]
    presence(client, key, make_rep(client, key, email="ria@shop.example", name="Ria"), "available")
    chat = waiting_request(client, key, "visitor-0001", NEEDY)
    return login(client, "ria@shop.example"), chat


def console_socket(client: TestClient, csrf: str):
    return client.websocket_connect(f"ws://beckon.test/console/ws?csrf={csrf}",
                                    headers={"Origin": "http://beckon.test"})


@pytest.mark.parametrize("url", ["http://[::1/x", "https://[shop.example]/cart"])
def test_a_link_the_console_cannot_read_gets_an_error_and_the_connection_stays(
        client: TestClient, site: dict, rep_in_a_chat: tuple[str, str], url: str) -> None:
    csrf, chat = rep_in_a_chat
    with console_socket(client, csrf) as ws:
        ws.send_text(json.dumps({"type": "accept", "id": chat}))
        until(ws, "accepted")
        ws.send_text(json.dumps({"type": "link", "chat": chat, "url": url, "title": "Cart", "ref": "l1"}))
        error = until(ws, "error")
        assert error["ref"] == "l1" and "not a URL that can be read" in error["message"]
        ws.send_text(json.dumps({"type": "link", "chat": chat, "url": ORIGIN + "/cart", "title": "Cart"}))
        assert until(ws, "ack")["chat"] == chat  # the same connection still works


@pytest.mark.parametrize("what, send, words", BAD_FRAMES[:5], ids=[f[0] for f in BAD_FRAMES[:5]])
def test_the_console_socket_answers_a_bad_frame_with_an_error_and_stays_open(
        client: TestClient, site: dict, rep_in_a_chat: tuple[str, str], what: str, send: Any, words: str) -> None:
    csrf, chat = rep_in_a_chat
    with console_socket(client, csrf) as ws:
        send(ws)
        assert words in until(ws, "error")["message"]
        ws.send_text(json.dumps({"type": "presence", "status": "available"}))
        assert until(ws, "presence")["status"] == "available"


def test_a_console_socket_from_an_unreadable_origin_is_refused(client: TestClient, site: dict) -> None:
    """urlsplit raised on the Origin header before the handshake was answered."""
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect("ws://beckon.test/console/ws?csrf=x", headers={"Origin": "http://[::1"}):
            pass
    assert refused.value.code == 4403
