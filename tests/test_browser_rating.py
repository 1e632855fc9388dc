"""Real Chromium, real Redis, the live servers: after the representative ends a chat, the
customer rates it in the pop-up (5 stars and a comment, by keyboard), once; the rep's console,
which still shows the ended chat, shows the stars and the comment as text; the rep had marked
it resolved, and the chat counts as one success in the rep's results, which the match API
reads at once."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.helpers import Live, accepted_chat, console, flagged_page, go_available, setup_site, wait_js

pytestmark = pytest.mark.browser

CHAT = "[data-beckon=chat]"
COMMENT = "Quick <b>and</b> kind"
RULE_SETS = {"rule_sets": [{"name": "Everyone", "filters": {"language": False},
                            "rules": {"results": {"weight": 1}}, "dispatch": {"mode": "all"}}]}


def test_the_customer_rates_an_ended_chat_and_the_console_shows_it(live: Live, browser, page_errors) -> None:
    rid = setup_site(live, variant="panel")
    live.api.put(f"/v1/sites/{live.key}/matching", json=RULE_SETS).raise_for_status()
    ctx_rep, rep, rep_errors = console(live, browser, page_errors, "ria@shop.example")
    go_available(rep)
    context, page, errors = flagged_page(live, browser, page_errors)
    vid = page.evaluate("Beckon.vid")
    chat_id, pane = accepted_chat(rep, page)
    expect(page.locator(f"{CHAT} .bk-status")).to_have_text("Chatting with Ria")
    expect(page.locator(f"{CHAT} .bk-rate")).to_be_hidden()  # nothing to rate while it goes on

    # the rep marks it resolved (once): with 5 stars too, still one success
    pane.locator(".resolve").click()
    expect(pane.locator(".resolve")).to_have_text("Resolved")
    expect(pane.locator(".resolve")).to_be_disabled()
    pane.locator(".end").click()
    pane.locator(".end").click()  # confirm
    expect(page.locator(f"{CHAT} .bk-status")).to_have_text("Chat ended")
    expect(page.locator(f"{CHAT} .bk-ask")).to_have_text("How did we do?")

    # keyboard only: Tab to the fifth star, Enter, Tab to the comment, type, Enter sends
    page.locator(f"{CHAT} .bk-star").first.focus()
    for _ in range(4):
        page.keyboard.press("Tab")
    expect(page.locator(f"{CHAT} button[aria-label='5 stars']")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(f"{CHAT} button[aria-label='5 stars']")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Tab")
    page.keyboard.type(COMMENT)
    page.keyboard.press("Enter")
    expect(page.locator(f"{CHAT} .bk-thanks")).to_have_text("Thank you for your rating.")
    expect(page.locator(f"{CHAT} .bk-rate")).to_be_hidden()  # once

    rating = pane.locator(".rating")
    expect(rating).to_contain_text("The customer rated this chat 5 of 5")
    expect(rating.locator(".stars")).to_have_text("\u2605" * 5)
    expect(rating.locator(".comment")).to_have_text(COMMENT)  # text, never markup
    assert rating.locator("b").count() == 0

    # the rating counts as a success for Ria in the rule set that routed the chat
    found = live.api.get(f"/v1/sites/{live.key}/visitors/{vid}/match").json()
    ria = next(x for x in found["ranked"] if x["rep"] == rid)
    assert ria["contributions"][0]["score"] == round((1 + 0.5 * 10) / (1 + 10), 6)

    # a reload does not offer the rating again
    page.reload()
    wait_js(page, "window.Beckon && window.Beckon.vid")
    expect(page.locator(f"{CHAT} .bk-status")).to_have_text("Chat ended")
    expect(page.locator(f"{CHAT} .bk-rate")).to_be_hidden()
    assert errors == [] and rep_errors == []
    context.close()
    ctx_rep.close()
