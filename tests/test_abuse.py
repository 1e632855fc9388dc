"""Abuse limits against the product as operators run it (``beckon serve``): guessing
passwords in parallel, and spoofing the client address through X-Forwarded-For."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from backend.domain.logins import ADDRESS_ALLOWED, DELAY_MAX_S, EMAIL_FREE, PAIR_ALLOWED, verdict
from backend.testing.servers import RedisServer
from tests.helpers import Live, make_rep


@pytest.fixture()
def served(redis_server: RedisServer, redis_client) -> Live:
    server = Live(redis_server.url)
    make_rep(server.api, server.key, email="ria@shop.example")
    yield server
    server.stop()


def csrf(client: httpx.Client | httpx.AsyncClient, html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_parallel_guesses_are_counted_before_any_is_checked(served: Live) -> None:
    async def guess_40() -> list[int]:
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
            token = csrf(client, (await client.get("/console/login")).text)
            form = {"csrf": token, "email": "ria@shop.example", "password": "not the password"}
            answers = await asyncio.gather(*(client.post("/console/login", data=form) for _ in range(40)))
            return [a.status_code for a in answers]

    codes = asyncio.run(guess_40())
    assert codes.count(401) == PAIR_ALLOWED  # checked, and wrong
    assert codes.count(429) == 40 - PAIR_ALLOWED  # refused unchecked


def test_a_forged_forwarded_for_does_not_make_a_new_address(served: Live) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as client:
        token = csrf(client, client.get("/console/login").text)
        codes = [client.post("/console/login", headers={"X-Forwarded-For": f"203.0.113.{i}"},
                             data={"csrf": token, "email": "ria@shop.example", "password": "wrong again"}
                             ).status_code for i in range(PAIR_ALLOWED + 1)]
        assert codes == [401] * PAIR_ALLOWED + [429]


def test_guessing_from_elsewhere_slows_the_account_but_never_locks_its_owner_out() -> None:
    # from one address: locked after PAIR_ALLOWED, whatever the account's history
    assert not verdict(PAIR_ALLOWED + 1, 1, 1).allowed
    assert not verdict(1, ADDRESS_ALLOWED + 1, 1).allowed
    # the owner, from their own address, after a thousand guesses from elsewhere: allowed, slowed
    owner = verdict(1, 1, 1000)
    assert owner.allowed and owner.delay_s == DELAY_MAX_S
    delays = [verdict(1, 1, n).delay_s for n in range(1, EMAIL_FREE + 6)]
    assert delays[:EMAIL_FREE] == [0.0] * EMAIL_FREE and delays[EMAIL_FREE:] == sorted(delays[EMAIL_FREE:])
    assert delays[EMAIL_FREE] > 0


# --- a visitor's token proves possession -----------------------------------------------------

def test_knowing_a_visitor_id_is_not_enough_to_act_as_that_visitor(client, site) -> None:
    import json as _json

    from tests.helpers import NEEDY, ORIGIN, TEXT, TOKENS, batch, ingest, offered, page_socket, presence, \
        respond, waiting_request

    key = site["key"]
    presence(client, key, make_rep(client, key, capacity=2), "available")
    chat = waiting_request(client, key, "visitor-victim")
    real = TOKENS[(key, "visitor-victim")]
    # the attacker learned the id (a shared link, a log) and sends a batch as that visitor
    stolen = client.post("/v1/events", content=_json.dumps(batch(key, NEEDY, vid="visitor-victim")),
                         headers=TEXT).json()
    assert stolen["tok"] is None and stolen["cmd"] is None and stolen["watch"] is False
    # ... nor can they open the visitor's socket, with no token, a guessed one, or one in the URL
    for url, hello in ((f"/v1/push?site={key}&vid=visitor-victim", {"type": "hello"}),
                       (f"/v1/push?site={key}&vid=visitor-victim", {"type": "hello", "tok": "x" * 24}),
                       (f"/v1/push?site={key}&vid=visitor-victim&tok={real}", {"type": "say", "text": "hi"})):
        with client.websocket_connect(url, headers={"Origin": ORIGIN}) as ws:
            ws.send_text(_json.dumps(hello))
            closed = ws.receive()
            assert closed["type"] == "websocket.close" and closed["code"] == 4403, closed
    # ... nor answer an offer, nor fetch its UI
    presence(client, key, make_rep(client, key, email="two@example.com"), "available")
    ingest(client, key, "visitor-other")
    offer = offered(client, key, "visitor-other")["cmd"]["id"]
    assert respond(client, key, "visitor-other", "y" * 24, offer, "dismiss").status_code == 403
    ui = client.post(f"/v1/offers/{offer}/ui", content=_json.dumps({"site": key, "vid": "visitor-other",
                                                                    "tok": "y" * 24}), headers=TEXT)
    assert ui.status_code == 403
    assert client.get(f"/v1/offers/{offer}/ui?site={key}&vid=visitor-other&tok=x").status_code == 405
    # the real page, holding its token, still chats
    with page_socket(client, key, "visitor-victim") as ws:
        while (frame := ws.receive_json())["type"] != "history":
            pass
        assert frame["chat"] == chat


def test_one_chat_mails_one_transcript_and_a_visitor_a_few_a_day(client, site, redis_client, redis_server) -> None:
    from backend.testing.cluster import sync_client
    from backend.domain.chat import TRANSCRIPTS_PER_VISITOR
    from tests.helpers import admin, page_socket, presence, waiting_request

    key = site["key"]
    presence(client, key, make_rep(client, key, capacity=5), "available")

    def ask_many(ws, n: int) -> list[str]:
        for i in range(n):
            ws.send_json({"type": "transcript", "email": f"target{i}@victims.example", "cid": f"t{i}"})
        answers = []
        while len(answers) < n:
            frame = ws.receive_json()
            if frame["type"] in ("ack", "error") and frame.get("cid", "").startswith("t"):
                answers.append(frame["type"] if frame["type"] == "ack" else frame["message"])
        return answers

    waiting_request(client, key, "visitor-relay")
    with page_socket(client, key, "visitor-relay") as ws:
        answers = ask_many(ws, 60)
    assert answers.count("ack") == 1
    assert set(answers) - {"ack"} == {"the transcript of this chat has already been sent"}
    queue = sync_client(redis_server.queue_url)
    assert queue.llen("rq:queue:beckon") == 1  # one mail, not sixty
    queue.close()

    # the same visitor, chat after chat: a few a day, then no more
    client.put(f"/v1/sites/{key}/offer-settings", json={"cooldown_s": 0}, headers=admin())
    answers = []
    for n in range(TRANSCRIPTS_PER_VISITOR):
        with page_socket(client, key, "visitor-relay") as ws:
            ws.send_json({"type": "end"})
            while ws.receive_json()["type"] != "ended":
                pass
        waiting_request(client, key, "visitor-relay")
        with page_socket(client, key, "visitor-relay") as ws:
            ws.send_json({"type": "transcript", "email": f"me{n}@customer.example", "cid": f"t{n}"})
            while (frame := ws.receive_json())["type"] not in ("ack", "error"):
                pass
            answers.append(frame["type"] if frame["type"] == "ack" else frame["message"])
    assert answers[:-1] == ["ack"] * (TRANSCRIPTS_PER_VISITOR - 1)
    assert "too many transcripts" in answers[-1]


# --- signed identity --------------------------------------------------------------------------

def test_an_unsigned_page_cannot_pass_for_a_flagged_customer_where_signing_is_required(client, site) -> None:
    from backend.domain.sites import identity_signature
    from tests.helpers import admin, ingest

    key = site["key"]
    client.post(f"/v1/sites/{key}/flagged", json={"customers": ["vip@example.com"]}, headers=admin())
    url = f"/v1/sites/{key}/identity"
    assert client.get(url, headers=admin()).json() == {"required": False, "secret": None}
    # not required yet: an anonymous page claiming the address is taken at its word (as before)
    ingest(client, key, "visitor-claim1", [{"t": "id", "email": "vip@example.com"}])
    assert client.get(f"/v1/sites/{key}/visitors/visitor-claim1", headers=admin()).json()["flagged"] is True
    secret = client.put(url, json={"required": True}, headers=admin()).json()["secret"]
    assert len(secret) == 64
    ingest(client, key, "visitor-claim2", [{"t": "id", "email": "vip@example.com", "sig": "0" * 64}])
    claimed = client.get(f"/v1/sites/{key}/visitors/visitor-claim2", headers=admin()).json()
    assert claimed["flagged"] is False and claimed["profile"]["verified"] == "0"
    good = identity_signature(secret, "vip@example.com")
    ingest(client, key, "visitor-real", [{"t": "id", "email": "vip@example.com", "sig": good}])
    real = client.get(f"/v1/sites/{key}/visitors/visitor-real", headers=admin()).json()
    assert real["flagged"] is True and real["profile"]["verified"] == "1"
    # a new secret: signatures made with the old one no longer count
    client.put(url, json={"required": True, "rotate": True}, headers=admin())
    ingest(client, key, "visitor-old", [{"t": "id", "email": "vip@example.com", "sig": good}])
    assert client.get(f"/v1/sites/{key}/visitors/visitor-old", headers=admin()).json()["flagged"] is False


def test_a_signed_identity_replaces_an_unsigned_one_claimed_before_it(client, site) -> None:
    """An id claimed without a signature, then an e-mail signed by the site: the visitor is the
    signed e-mail, and the claimed id is gone (it would otherwise count as verified beside it,
    and matching, leads and the contact form's prefill would take it for the customer)."""
    from backend.domain.sites import identity_signature
    from tests.helpers import admin, ingest

    key = site["key"]
    secret = client.put(f"/v1/sites/{key}/identity", json={"required": True}, headers=admin()).json()["secret"]
    ingest(client, key, "visitor-merge1", [{"t": "id", "id": "victim-7"}])
    ingest(client, key, "visitor-merge1", [{"t": "id", "email": "me@example.com",
                                            "sig": identity_signature(secret, "me@example.com")}])
    profile = client.get(f"/v1/sites/{key}/visitors/visitor-merge1", headers=admin()).json()["profile"]
    assert profile.get("id") is None and profile["email"] == "me@example.com" and profile["verified"] == "1"
    found = client.get(f"/v1/sites/{key}/visitors/visitor-merge1/match", headers=admin()).json()
    assert found["session"]["customer"] == "me@example.com"
