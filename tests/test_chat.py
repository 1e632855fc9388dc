"""The chat service against real Redis: first-come accept under a race, messages stored once
and resumable, transfer, targeting, end."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from starlette.testclient import TestClient

from backend.app import create_app
from backend.domain.chat import ChatError, Chats, check_link
from backend.store import keys
from backend.testing.servers import poll
from tests.helpers import ORIGIN, admin, chat_service, make_rep, page_socket, presence, waiting_request


def run(settings, fn):
    """``fn(chats, redis)`` on a fresh connection, as another web worker would call it."""
    return chat_service(settings.redis_url, fn)


@pytest.fixture()
def two_reps(client: TestClient, site: dict) -> tuple[str, str]:
    key = site["key"]
    a = make_rep(client, key, capacity=2, email="a@shop.example")
    b = make_rep(client, key, capacity=2, email="b@shop.example")
    presence(client, key, a, "available")
    presence(client, key, b, "available")
    return a, b


def test_only_one_of_many_simultaneous_accepts_wins(client, site, settings, two_reps) -> None:
    key = site["key"]
    cid = waiting_request(client, key)

    async def race(chats: Chats, redis):
        async def attempt(rid):
            try:
                await chats.accept(key, cid, rid)
                return rid
            except ChatError as exc:
                return str(exc)
        return await asyncio.gather(*(attempt(two_reps[i % 2]) for i in range(20)))

    results = run(settings, race)
    winners = [r for r in results if r in two_reps]
    assert len(winners) == 1
    assert results.count("another representative already took this request") == 19
    chat = run(settings, lambda chats, r: chats.get(key, cid))
    assert chat.status == "active" and chat.rep == winners[0]
    assert client.get(f"/v1/sites/{key}/requests", headers=admin()).json()["requests"] == []


def test_messages_are_stored_once_and_resume_from_the_last_seen(client, site, settings, two_reps) -> None:
    key = site["key"]
    cid = waiting_request(client, key)

    async def talk(chats: Chats, redis):
        await chats.accept(key, cid, two_reps[0])
        first = await chats.say(key, cid, "visitor", "", "hello", client_id="c-1")
        again = await chats.say(key, cid, "visitor", "", "hello", client_id="c-1")  # a resend after reconnect
        second = await chats.say(key, cid, "rep", "Ria", "<b>hi</b>", client_id="r-1")
        return first, again, second, await chats.history(key, cid), await chats.history(key, cid, first["id"])

    first, again, second, everything, after_first = run(settings, talk)
    assert again["id"] == first["id"]
    texts = [m["text"] for m in everything]
    assert texts.count("hello") == 1
    assert texts[-1] == "<b>hi</b>"  # stored as typed; every page shows it as text
    assert [m["id"] for m in after_first] == [second["id"]]


def test_a_message_too_few_replicas_confirm_is_sent_again_not_acknowledged(settings, redis_client) -> None:
    """More replicas wanted than the store has (a single Redis has none, the test cluster's
    masters one each): a message waits for them, at most BECKON_CHAT_REPLICA_TIMEOUT_MS, and
    then its page is told to send it again (an error frame with ``retry``), not acknowledged;
    the same resend is answered the same way, and the message is stored once."""
    wanting = dataclasses.replace(settings, chat_replicas=3, chat_replica_timeout_ms=50)
    with TestClient(create_app(wanting), base_url="http://beckon.test") as client:
        key = client.post("/v1/sites", json={"name": "Shop", "origins": [ORIGIN]}, headers=admin()).json()["key"]
        rid = make_rep(client, key)
        presence(client, key, rid, "available")
        chat = waiting_request(client, key)
        client.portal.call(client.app.state.services.chats.accept, key, chat, rid)  # its system line is shown
        with page_socket(client, key, "visitor-0001") as ws:
            answers = []
            for _ in range(2):
                ws.send_json({"type": "say", "text": "hello", "cid": "c-1"})
                while (frame := ws.receive_json())["type"] not in ("ack", "error"):
                    pass
                answers.append(frame)
    assert [(a["type"], a["cid"], a.get("retry")) for a in answers] == [("error", "c-1", 1000)] * 2
    texts = [f["text"] for _, f in redis_client.xrange(keys.messages(key, chat))]
    assert texts.count("hello") == 1


def test_end_frees_the_slot_and_records_the_handle_time(client, site, settings, two_reps, redis_client) -> None:
    key = site["key"]
    cid = waiting_request(client, key)

    async def chat_then_end(chats: Chats, redis):
        await chats.accept(key, cid, two_reps[0])
        assert await redis.hget(keys.load(key), two_reps[0]) == "1"
        await chats.end(key, cid, "rep", 0)
        with pytest.raises(ChatError):
            await chats.say(key, cid, "visitor", "", "still there?")
        return await chats.get(key, cid)

    chat = run(settings, chat_then_end)
    assert chat.status == "ended"
    assert redis_client.hget(keys.load(key), two_reps[0]) == "0"
    assert redis_client.llen(keys.handle_times(key)) == 1
    assert redis_client.ttl(keys.messages(key, cid)) > 86400  # the transcript is kept
    history = run(settings, lambda chats, r: chats.of_visitor(key, "visitor-0001", "joined"))
    assert [c.id for c, _ in history] == [cid]
    assert run(settings, lambda chats, r: chats.of_visitor(key, "visitor-0001", "no such words")) == []


def test_transfer_moves_the_chat_and_the_load(client, site, settings, two_reps, redis_client) -> None:
    key = site["key"]
    cid = waiting_request(client, key)
    a, b = two_reps

    async def hand_over(chats: Chats, redis):
        await chats.accept(key, cid, a)
        with pytest.raises(ChatError, match="not yours"):
            await chats.transfer(key, cid, b, a)
        await chats.transfer(key, cid, a, b)
        return await chats.get(key, cid)

    chat = run(settings, hand_over)
    assert chat.rep == b
    assert redis_client.hget(keys.load(key), a) == "0" and redis_client.hget(keys.load(key), b) == "1"


def test_a_targeted_request_can_only_be_taken_by_its_targets(client, site, settings, two_reps) -> None:
    key = site["key"]
    cid = waiting_request(client, key)
    a, b = two_reps

    async def targeted(chats: Chats, redis):
        await chats.target(key, cid, [b], must_contact=True)
        assert [c.id for c, _ in await chats.queue(key, a)] == []
        queued = await chats.queue(key, b)
        assert queued[0][0].must_contact and queued[0][1]["form_errors"]
        with pytest.raises(ChatError, match="someone else"):
            await chats.accept(key, cid, a)
        return await chats.accept(key, cid, b)

    assert run(settings, targeted).rep == b


def test_a_full_representative_cannot_accept_more(client, site, settings) -> None:
    key = site["key"]
    rid = make_rep(client, key, capacity=1)
    presence(client, key, rid, "available")
    first = waiting_request(client, key, "visitor-0001")
    client.put(f"/v1/sites/{key}/offer-settings", json={"acceptable_wait_s": 600}, headers=admin())
    second = waiting_request(client, key, "visitor-0002")

    async def both(chats: Chats, redis):
        await chats.accept(key, first, rid)
        with pytest.raises(ChatError, match="capacity"):
            await chats.accept(key, second, rid)

    run(settings, both)


def test_only_the_sites_own_pages_can_be_pushed() -> None:
    origins = frozenset({"https://shop.example"})
    assert check_link("https://shop.example/p/1", origins) == "https://shop.example/p/1"
    for bad in ("https://evil.example/", "javascript:alert(1)", "//shop.example/x", 42):
        with pytest.raises(ChatError):
            check_link(bad, origins)


def test_an_expired_chat_goes_whole_and_its_slot_with_it(settings, redis_client) -> None:
    """Issue 8, ghost chats: the request hash expired after its lifetime but the messages, the
    queue entry and the rep's chat list and load stayed, so the rep's slot stayed taken by a
    chat nobody could see or end. (The lifetime is 24 h; 2 s here.)"""
    short = dataclasses.replace(settings, chat_ttl_s=2)
    with TestClient(create_app(short), base_url="http://beckon.test") as client:
        key = client.post("/v1/sites", json={"name": "Shop", "origins": [ORIGIN]}, headers=admin()).json()["key"]
        rid = make_rep(client, key, capacity=1)
        presence(client, key, rid, "available")
        client.put(f"/v1/sites/{key}/offer-settings", json={"acceptable_wait_s": 600}, headers=admin())
        active = waiting_request(client, key, "visitor-0001")
        waiting = waiting_request(client, key, "visitor-0003")

        async def talk(chats: Chats, redis):
            await chats.accept(key, active, rid)
            await chats.say(key, active, "visitor", "", "hello", client_id="c-1")
            await chats.say(key, waiting, "visitor", "", "anyone there?", client_id="c-3")

        chat_service(short.redis_url, talk, chat_ttl_s=2)
        parts = [keys.request(key, active), keys.messages(key, active), keys.client_ids(key, active),
                 keys.request(key, waiting), keys.messages(key, waiting), keys.client_ids(key, waiting)]
        assert poll(lambda: not redis_client.exists(keys.request(key, active)), timeout=15)
        assert poll(lambda: redis_client.exists(*parts) == 0, timeout=5), \
            [p for p in parts if redis_client.exists(p)]  # all parts of a chat go together

        slots = client.get(f"/v1/sites/{key}/availability", headers=admin()).json()
        assert (slots["chats"], slots["pending_requests"]) == (0, 0)
        assert client.get(f"/v1/sites/{key}/requests", headers=admin()).json()["requests"] == []
        later = waiting_request(client, key, "visitor-0002")

        async def take_the_next(chats: Chats, redis):
            await chats.accept(key, later, rid)  # the rep's one slot is free again
            return [c.id for c in await chats.of_rep(key, rid)]

        assert chat_service(short.redis_url, take_the_next, chat_ttl_s=2) == [later]
        assert redis_client.smembers(keys.rep_chats(key, rid)) == {later}
