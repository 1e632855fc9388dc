"""A replica falls behind mid-chat, with real Chromium on both sides (the snippet's chat
pop-up, c.js, and the representative's console): what is typed meanwhile cannot be confirmed
on a replica, so it stays "Sending…", goes again by itself (not "Not sent"), and arrives once
on each side when the replica has it. tests/test_failover.py drives the same protocol with
clients that behave as these pages do; this checks that the pages do."""

from __future__ import annotations

from typing import Iterator

import pytest
from playwright.sync_api import expect

from backend.store import keys
from backend.testing.cluster import ClusterStore
from tests.helpers import OFFER, Live, console, flagged_page, go_available, poll, setup_site

pytestmark = [pytest.mark.browser, pytest.mark.cluster_only]

CHAT = "[data-beckon=chat]"


@pytest.fixture()
def live_waiting(redis_server: ClusterStore, redis_client) -> Iterator[Live]:
    """Messages wait for one replica, at most 300 ms."""
    server = Live(redis_server.url, env={"BECKON_CHAT_REPLICAS": "1", "BECKON_CHAT_REPLICA_TIMEOUT_MS": "300"})
    yield server
    server.stop()


def test_messages_typed_while_the_replica_is_away_go_again_and_arrive_once(
        live_waiting: Live, redis_server: ClusterStore, redis_client, browser, page_errors) -> None:
    live = live_waiting
    setup_site(live, variant="panel")
    rep_context, rep, rep_errors = console(live, browser, page_errors, "ria@shop.example")
    go_available(rep)
    context, page, errors = flagged_page(live, browser, page_errors)
    page.click(f"{OFFER} [data-beckon-action=accept]")
    chat = poll(lambda: page.evaluate("Beckon.request"))
    assert chat, "the page has no chat request"
    rep.locator(f".request[data-id='{chat}'] .accept").click()
    pane = rep.locator(f".chat[data-id='{chat}']")
    expect(page.locator(f"{CHAT} .bk-status")).to_have_text("Chatting with Ria")
    master, replica = redis_server.cluster.shard(redis_client.get_node_from_key(keys.messages(live.key, chat)).port)
    try:
        replica.cut_off()
        page.locator(f"{CHAT} #bk-m").fill("Are you there?")
        page.keyboard.press("Enter")
        pane.locator("textarea").fill("Yes, one moment")
        pane.locator("textarea").press("Enter")
        assert poll(lambda: "reached 0 of 1 replicas" in live.web.output()), "the messages were confirmed"
        page.wait_for_timeout(1500)  # asked again at least once meanwhile, and sent again
        expect(page.locator(f"{CHAT} .bk-visitor")).to_have_attribute("data-state", "sending")
        expect(pane.locator(".msg.from-rep.pending")).to_have_count(1)
        expect(pane.locator(".msg.failed")).to_have_count(0)

        replica.relink()
        expect(page.locator(f"{CHAT} .bk-rep .bk-text")).to_have_text(["Yes, one moment"], timeout=10_000)
        expect(page.locator(f"{CHAT} .bk-visitor")).to_have_count(1)
        expect(page.locator(f"{CHAT} .bk-visitor")).to_have_attribute("data-state", "sent", timeout=10_000)
        expect(pane.locator(".msg.from-visitor .text")).to_have_text(["Are you there?"], timeout=10_000)
        expect(pane.locator(".msg.from-rep .text")).to_have_text(["Yes, one moment"])
        expect(pane.locator(".msg.pending")).to_have_count(0, timeout=10_000)
    finally:
        redis_server.cluster.heal()
    context.close()
    rep_context.close()
    assert errors == [] and rep_errors == [], errors + rep_errors
