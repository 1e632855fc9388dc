"""Console sessions live on the server: logout, a new password and deactivation end them;
they time out when idle; one e-mail may have accounts on several sites, and one login opens
every one its password opens; old password hashes are replaced at the next login."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
import redis
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from backend.domain.passwords import LEGACY_SCRYPT
from backend.domain.sessions import Sessions
from backend.store import keys
from tests.helpers import PASSWORD, admin, make_rep

HOST = "http://beckon.test"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html) or re.search(r'data-csrf="([^"]+)"', html)
    assert found, html[:300]
    return found.group(1)


def log_in(client: TestClient, email: str, password: str = PASSWORD, **extra: str):
    client.cookies.clear()
    form = client.get("/console/login")
    return client.post("/console/login", data={"csrf": csrf_of(form.text), "email": email, "password": password,
                                               "next": "/console/", **extra}, follow_redirects=False)


def logged_in(client: TestClient) -> bool:
    return client.get("/console/", follow_redirects=False).status_code == 200


@pytest.fixture()
def rep(client: TestClient, site: dict) -> str:
    return make_rep(client, site["key"], email="ria@shop.example", name="Ria Rep", capacity=2)


def test_a_cookie_kept_from_before_logout_opens_nothing(client: TestClient, rep: str) -> None:
    assert log_in(client, "ria@shop.example").status_code == 303
    saved = dict(client.cookies)
    csrf = csrf_of(client.get("/console/").text)
    client.post("/console/logout", data={"csrf": csrf})
    assert not logged_in(client)
    client.cookies.clear()
    client.cookies.update(saved)  # the attacker's copy of the cookie
    assert not logged_in(client)


def test_deactivation_ends_the_session_and_its_live_connection(client: TestClient, site: dict, rep: str) -> None:
    log_in(client, "ria@shop.example")
    csrf = csrf_of(client.get("/console/").text)
    with client.websocket_connect(f"ws://beckon.test/console/ws?csrf={csrf}", headers={"Origin": HOST}) as ws:
        client.put(f"/v1/sites/{site['key']}/reps/{rep}", json={"active": False}, headers=admin())
        ws.send_json({"type": "presence", "status": "available"})
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                ws.receive_json()
        assert closed.value.code == 4401
    assert not logged_in(client)


def test_logging_out_in_one_tab_closes_the_console_socket_of_that_session(client: TestClient, rep: str) -> None:
    log_in(client, "ria@shop.example")
    csrf = csrf_of(client.get("/console/").text)
    with client.websocket_connect(f"ws://beckon.test/console/ws?csrf={csrf}", headers={"Origin": HOST}) as ws:
        client.post("/console/logout", data={"csrf": csrf})
        ws.send_json({"type": "presence", "status": "available"})
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                ws.receive_json()
        assert "session has ended" in (closed.value.reason or "")


def test_an_idle_session_times_out(redis_client: redis.Redis, settings) -> None:
    async def scenario() -> tuple[str | None, str | None]:
        from backend import store

        r = store.connect(settings)
        try:
            sessions = Sessions(r, idle_s=1)
            sid = await sessions.start("site-0001", "rep-0001")
            fresh = await sessions.rep_of("site-0001", sid)
            await asyncio.sleep(2.2)
            return fresh, await sessions.rep_of("site-0001", sid)
        finally:
            await r.aclose()

    assert asyncio.run(scenario()) == ("rep-0001", None)


def test_one_e_mail_on_two_sites_opens_both_in_one_session(client: TestClient, site: dict, rep: str) -> None:
    other = client.post("/v1/sites", json={"name": "Other shop", "origins": ["https://other.example"]},
                        headers=admin()).json()
    # the address is free on another site, taken on its own
    assert client.post(f"/v1/sites/{site['key']}/reps", json={"name": "Twin", "email": "ria@shop.example",
                                                              "password": PASSWORD}, headers=admin()).status_code == 400
    elsewhere = make_rep(client, other["key"], email="ria@shop.example", name="Ria Elsewhere")
    assert log_in(client, "ria@shop.example").status_code == 303  # no question: both open
    page = client.get("/console/").text
    assert "Other shop" in page and '"name": "Shop"' in page  # the workspace serves both sites
    csrf = csrf_of(page)
    for key in (site["key"], other["key"]):
        with client.websocket_connect(f"ws://beckon.test/console/ws?csrf={csrf}&site={key}",
                                      headers={"Origin": HOST}) as ws:
            assert ws.receive_json()["type"] in ("reps", "queue", "chats")
    # a different password on the other site: only the matching account opens
    client.put(f"/v1/sites/{other['key']}/reps/{elsewhere}", json={"password": "another long password"},
               headers=admin())
    assert log_in(client, "ria@shop.example").status_code == 303
    assert "Other shop" not in client.get("/console/").text
    assert log_in(client, "ria@shop.example", "another long password").status_code == 303
    page = client.get("/console/").text
    assert "Other shop" in page and '"name": "Shop"' not in page


def test_an_old_scrypt_hash_still_logs_in_and_is_replaced(client: TestClient, site: dict, rep: str,
                                                          redis_client: redis.Redis) -> None:
    import base64
    import hashlib

    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(PASSWORD.encode(), salt=salt, dklen=32, **LEGACY_SCRYPT)
    old = "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()
    redis_client.hset(keys.rep(site["key"], rep), "password", old)
    assert log_in(client, "ria@shop.example").status_code == 303
    assert redis_client.hget(keys.rep(site["key"], rep), "password").startswith("$argon2id$")
    assert log_in(client, "ria@shop.example").status_code == 303  # and the new hash works
    assert log_in(client, "ria@shop.example", "wrong password!").status_code == 401


def test_the_idle_timeout_is_pushed_back_by_use(redis_client: redis.Redis, settings) -> None:
    async def scenario() -> int:
        from backend import store

        r = store.connect(settings)
        try:
            sessions = Sessions(r, idle_s=600)
            sid = await sessions.start("site-0001", "rep-0001")
            await r.hset(keys.session("site-0001", sid), "seen", int(time.time()) - 120)
            await r.expire(keys.session("site-0001", sid), 30)
            await sessions.rep_of("site-0001", sid)
            return await r.ttl(keys.session("site-0001", sid))
        finally:
            await r.aclose()

    assert asyncio.run(scenario()) > 500



