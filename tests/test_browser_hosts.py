"""A web host dies mid-chat: the page (real Chromium, the snippet as sites paste it) and the
console reconnect through the load balancer to the host that is left and carry on from the
last message they had: nothing lost, nothing shown twice."""

from __future__ import annotations

from typing import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from backend.testing.servers import RedisServer
from tests.helpers import OFFER, ConsoleSocket, Live, flagged_page, poll, presence, setup_site

pytestmark = pytest.mark.browser

CHAT = "[data-beckon=chat]"


@pytest.fixture()
def two_hosts(redis_server: RedisServer, redis_client) -> Iterator[Live]:
    server = Live(redis_server.url, hosts=2)
    yield server
    server.stop()


def holding(live: Live) -> int:
    """The host that holds live connections (the page's, before the console connects)."""
    def counts() -> list[int]:
        return [httpx.get(w.url + "/healthz").json()["connections"] for w in live.webs]

    assert poll(lambda: sorted(counts()) == [0, 1]), counts()
    return counts().index(1)


def reconnected_console(live: Live) -> ConsoleSocket:
    found: list[ConsoleSocket] = []

    def attempt() -> bool:
        try:
            found.append(ConsoleSocket(live, "ria@shop.example"))
            return True
        except Exception:  # noqa: BLE001 - the balancer has not noticed the dead host yet
            return False

    assert poll(attempt, timeout=20, every=0.5), "the console could not reconnect through the balancer"
    return found[0]


@pytest.mark.cluster_too
def test_a_chat_carries_on_through_the_balancer_when_a_host_dies(two_hosts: Live, browser, page_errors) -> None:
    live = two_hosts
    rid = setup_site(live, variant="panel")
    presence(live.api, live.key, rid, "available")
    context, page, errors = flagged_page(live, browser, page_errors)
    page.click(f"{OFFER} [data-beckon-action=accept]")
    expect(page.locator(f"{CHAT} .bk-status")).to_have_text("Waiting for a representative…")
    chat = poll(lambda: page.evaluate("Beckon.request"))
    assert chat, "the page has no chat request"
    pages_host = holding(live)
    console = ConsoleSocket(live, "ria@shop.example")
    console.send({"type": "accept", "id": chat})
    console.expect(lambda m: m["type"] == "accepted" and m["id"] == chat)
    console.say(chat, "Before: hello")
    expect(page.locator(f"{CHAT} .bk-rep .bk-text").last).to_have_text("Before: hello")

    live.webs[pages_host].proc.kill()  # the machine holding the page's connection is gone

    console.close()
    console = reconnected_console(live)
    console.say(chat, "After: still here")
    expect(page.locator(f"{CHAT} .bk-rep .bk-text").last).to_have_text("After: still here", timeout=20_000)
    page.locator(f"{CHAT} #bk-m").fill("Good to know")
    page.keyboard.press("Enter")
    got = console.expect(lambda m: m["type"] == "msg" and m["msg"]["from"] == "visitor", timeout=20)
    assert got["msg"]["text"] == "Good to know"
    texts = page.locator(f"{CHAT} .bk-text").all_inner_texts()
    assert texts.count("Before: hello") == 1 and texts.count("After: still here") == 1  # nothing twice
    console.close()
    context.close()
    assert not [e for e in errors if "WebSocket" not in e and "ERR_" not in e], errors
