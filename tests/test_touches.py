"""Each visitor's latest help episode, recorded as it happens (real Redis, the real broker,
offer answer and claim): offered, then accepted, then chatted with the rep who took it; a
later offer starts a new episode. Attribution reads these when an order arrives."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.helpers import make_rep, presence, waiting_request


def touches(client: TestClient, key: str, *vids: str):
    return {t.visitor: t for t in client.portal.call(client.app.state.services.touches.of, key, list(vids))}


def test_a_help_episode_is_recorded_as_far_as_it_went(client: TestClient, site: dict) -> None:
    key = site["key"]
    rid = make_rep(client, key, capacity=2)
    presence(client, key, rid, "available")
    cid = waiting_request(client, key, vid="visitor-0001")
    found = touches(client, key, "visitor-0001", "visitor-never")
    assert list(found) == ["visitor-0001"]  # a visitor never offered help has no episode
    accepted = found["visitor-0001"]
    assert (accepted.kind, accepted.rep) == ("accepted", "")
    client.portal.call(client.app.state.services.chats.accept, key, cid, rid)
    chatted = touches(client, key, "visitor-0001")["visitor-0001"]
    assert (chatted.kind, chatted.rep, chatted.chat, chatted.at_ms) == ("chatted", rid, cid, accepted.at_ms)
    # a new offer is a new episode: it starts again as "offered"
    client.portal.call(client.app.state.services.touches.offered, key, ["visitor-0001"], chatted.at_ms + 60_000)
    again = touches(client, key, "visitor-0001")["visitor-0001"]
    assert (again.kind, again.rep, again.at_ms) == ("offered", "", chatted.at_ms + 60_000)
