"""Real Chromium, real Redis, the live servers: beside a chat about kayaks the representative
sees the library's kayak materials (not the tent ones), inserts a reply whose placeholders are
filled with the customer's name and the product, edits and sends it, then sends a document;
the customer's pop-up shows the reply as text (their own name, markup and all, never parsed)
and a download card whose link saves the file."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.helpers import Live, accepted_chat, console, flagged_page, go_available, setup_site

pytestmark = pytest.mark.browser

CHAT = "[data-beckon=chat]"
NAME = "Zoë <img src=x onerror=alert(1)>"
PAGES = {"pages": [{"pattern": "/product/kayak*", "category": "boats", "product": "kayaks"}], "rule_sets": []}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n" + b" " * 2000


def material(live: Live, body: dict) -> str:
    r = live.api.post(f"/v1/sites/{live.key}/materials", json=body)
    r.raise_for_status()
    return r.json()["id"]


def test_the_rep_inserts_a_filled_reply_and_sends_a_document_the_customer_downloads(live: Live, browser,
                                                                                     page_errors) -> None:
    setup_site(live, variant="panel")
    live.api.put(f"/v1/sites/{live.key}/matching", json=PAGES).raise_for_status()
    reply = material(live, {"kind": "reply", "title": "Kayak lengths", "tags": {"products": ["kayaks"]},
                            "text": "Hello {customer_name}, our {product} come in three lengths."})
    doc = material(live, {"kind": "document", "title": "Kayak size chart", "tags": {"categories": ["boats"]}})
    live.api.put(f"/v1/sites/{live.key}/materials/{doc}/document?filename=sizes.pdf", content=PDF,
                 headers={"Content-Type": "application/pdf"}).raise_for_status()
    tent = material(live, {"kind": "reply", "title": "Tent pegs", "text": "Pegs!", "tags": {"products": ["tents"]}})

    ctx_rep, rep, rep_errors = console(live, browser, page_errors, "ria@shop.example")
    go_available(rep)
    context, page, errors = flagged_page(live, browser, page_errors)
    page.evaluate("name => { Beckon.identify({name: name}); Beckon.flush(); }", NAME)
    chat_id, pane = accepted_chat(rep, page)

    suggested = pane.locator(".suggestions .suggestion")
    expect(suggested).to_have_count(2)
    expect(pane.locator(f".suggestion[data-id='{tent}']")).to_have_count(0)  # for another product
    item = pane.locator(f".suggestion[data-id='{reply}']")
    expect(item.locator(".s-why")).to_have_text("new: not used in a chat like this one yet")
    item.locator(".s-use").click()
    box = pane.locator("form.say textarea")
    filled = f"Hello {NAME}, our kayaks come in three lengths."
    expect(box).to_have_value(filled)
    box.press("End")
    box.type(" Which suits you?")
    box.press("Enter")
    said = page.locator(f"{CHAT} .bk-rep .bk-text").last
    expect(said).to_have_text(filled + " Which suits you?")
    assert page.locator(f"{CHAT} img").count() == 0  # the customer's own name, shown as text

    pane.locator(f".suggestion[data-id='{doc}'] .s-use").click()
    card = page.locator(f"{CHAT} .bk-doc")
    expect(card).to_be_visible()
    expect(card.locator("strong")).to_have_text("Kayak size chart")
    expect(card.locator(".bk-doc-name")).to_have_text("sizes.pdf")
    expect(card.locator(".bk-doc-meta")).to_contain_text("PDF")
    href = card.get_attribute("href")
    assert href and href.startswith(live.url + "/v1/d/")
    got = page.request.get(href)
    assert got.status == 200 and got.body() == PDF
    assert got.headers["content-disposition"].startswith("attachment")
    expect(pane.locator(".msg.kind-document")).to_have_count(1)  # the rep sees what went

    # a search covers the whole library, the other product's reply included
    pane.locator(".suggest-search input").fill("pegs")
    pane.locator(".suggest-search button").click()
    expect(pane.locator(".suggestion")).to_have_count(1)
    expect(pane.locator(f".suggestion[data-id='{tent}']")).to_be_visible()
    assert errors == [] and rep_errors == []
    context.close()
    ctx_rep.close()
