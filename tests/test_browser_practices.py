"""Real Chromium, real Redis, the live servers: a representative marks her chat about kayaks as
a best practice from the chat's pane (the customer's markup and card number in it); the site's
admin reviews it, seeing the excerpt as text with the card number taken out, and publishes it;
the rep reads it as a worked example for her chat's context and uses it in the chat; the
admin's "Which materials sell" lists it with that one use, chart and all. No page errors."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.helpers import Live, accepted_chat, console, flagged_page, go_available, make_rep, setup_site

pytestmark = pytest.mark.browser

CHAT = "[data-beckon=chat]"
PAGES = {"pages": [{"pattern": "/product/kayak*", "category": "boats", "product": "kayaks"}], "rule_sets": []}
ASKED = "Which kayak for a lake? <img src=x onerror=alert(1)> my card is 4111 1111 1111 1111"
ANSWER = "For a lake, the 3.5 m touring kayak. Never send a card number in a chat, please."
NOTE = "Asked where they paddle before suggesting a length; warned about the card number."
MASK = "[card number removed]"


def test_a_chat_marked_as_best_practice_is_reviewed_published_used_and_reported(live: Live, browser,
                                                                                 page_errors) -> None:
    setup_site(live, variant="panel")
    make_rep(live.api, live.key, email="boss@shop.example", name="Boss", role="admin")
    live.api.put(f"/v1/sites/{live.key}/matching", json=PAGES).raise_for_status()

    # 1. Ria chats with a customer on the kayak page
    ctx_rep, rep, rep_errors = console(live, browser, page_errors, "ria@shop.example")
    ctx_rep.on("page", page_errors)  # the tabs the pane opens, from their first event
    go_available(rep)
    shopper, page, shop_errors = flagged_page(live, browser, page_errors)
    chat_id, pane = accepted_chat(rep, page)
    expect(page.locator(f"{CHAT} .bk-status")).to_have_text("Chatting with Ria")
    page.locator(f"{CHAT} #bk-m").fill(ASKED)
    page.locator(f"{CHAT} #bk-m").press("Enter")
    expect(pane.locator(".msg.from-visitor").last).to_contain_text("Which kayak")
    box = pane.locator("form.say textarea")
    box.fill(ANSWER)
    box.press("Enter")
    expect(page.locator(f"{CHAT} .bk-rep .bk-text").last).to_have_text(ANSWER)

    # 2. Ria marks it as a best practice from the pane (a new tab): what was said kept, a note
    with ctx_rep.expect_page() as opened:
        pane.locator(".mark-practice").click()
    mark = opened.value
    mark.wait_for_selector("#practice-form")
    said = mark.locator("#practice-form li.from-rep input[name=m], #practice-form li.from-visitor input[name=m]")
    assert said.count() >= 2
    for i in range(said.count()):
        expect(said.nth(i)).to_be_checked()
    expect(mark.locator("#practice-form li.from-system input[name=m]").first).not_to_be_checked()  # "Ria joined"
    expect(mark.locator("input[name=products]")).to_have_value("kayaks")  # the chat's context
    mark.locator("#practice-form textarea[name=text]").fill(NOTE)
    mark.click("#practice-form button[type=submit]")
    expect(mark.locator(".flash")).to_have_text("Proposed. An admin reviews it before representatives see it.")

    # 3. the admin reviews it: proposed, the excerpt as text, the card number taken out; publishes
    ctx_admin, boss, boss_errors = console(live, browser, page_errors, "boss@shop.example")
    boss.click("nav a[href='/console/admin/practices']")
    row = boss.locator("#practices tbody tr[id^=practice-]")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(1)).to_have_text("to review")
    mid = row.get_attribute("id").removeprefix("practice-")
    row.locator("a").click()
    excerpt = boss.locator("#excerpt")
    expect(excerpt.locator(".from-visitor .text")).to_have_text(ASKED.replace("4111 1111 1111 1111", MASK))
    assert "4111" not in excerpt.inner_text()
    assert excerpt.locator("img").count() == 0 and boss.locator("img[src=x]").count() == 0
    expect(boss.locator("#note")).to_have_text(NOTE)
    boss.click("#review-form button[value=publish]")
    expect(boss.locator(".flash")).to_have_text("Practice published.")

    # 4. Ria opens the worked examples for her chat (a new tab) and uses the published one
    with ctx_rep.expect_page() as opened:
        pane.locator(".examples").click()
    examples = opened.value
    card = examples.locator(f"#practice-{mid}")
    expect(card).to_be_visible()
    expect(examples.locator("select[name=product] option:checked")).to_have_text("kayaks")
    expect(card.locator(".note")).to_have_text(NOTE)
    expect(card.locator(".why")).to_have_text("new: not used in a chat like this one yet")
    expect(card.locator(".transcript .from-visitor .text")).to_have_text(ASKED.replace("4111 1111 1111 1111", MASK))
    expect(card.locator(".transcript .from-rep .text")).to_have_text(ANSWER)
    assert card.locator("img").count() == 0
    card.get_by_role("button", name="Use this example in my chat").click()
    expect(examples.locator(".flash")).to_have_text("Counted as used in your chat.")

    # 5. the admin's "Which materials sell": the practice with its one use, and the chart
    boss.goto(live.url + "/console/materials/report")
    line = boss.locator(f"#material-{mid} td")
    expect(line.nth(1)).to_have_text("practice")
    expect(line.nth(4)).to_have_text("1")
    chart = boss.locator("#report-materials figure.chart svg")
    expect(chart).to_have_count(1)
    box_ = chart.bounding_box()
    assert box_ and box_["width"] > 100 and box_["height"] > 20

    # 6. no page errors anywhere
    assert shop_errors == [] and rep_errors == [] and boss_errors == []  # one list: every page's
    shopper.close()
    ctx_rep.close()
    ctx_admin.close()
