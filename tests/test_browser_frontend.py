"""Real Chromium on the console and the shop: what a representative sees beside a chat stays
current while they answer; the console is ES modules a browser never runs as a stale mix; the
chat's stylesheet is served to any page; one failed submit is one error per field; an offer
is announced, leaves focus alone, and Escape anywhere dismisses it."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from playwright.sync_api import expect

from tests.helpers import (
    OFFER, PASSWORD, Customer, Live, console, flagged_page, go_available, make_rep, poll, presence, setup_site,
    wait_js,
)

pytestmark = pytest.mark.browser


def open_chat(live: Live, browser, page_errors, vid: str):
    """A representative in the console with an accepted chat with a (browserless) customer."""
    make_rep(live.api, live.key, email="ria@shop.example", capacity=2)
    context, page, errors = console(live, browser, page_errors, "ria@shop.example")
    go_available(page)
    customer = Customer(live, vid)
    request_id = customer.ask_for_help()
    page.locator(f".request[data-id='{request_id}'] .accept").click()
    pane = page.locator(f".chat[data-id='{request_id}']")
    pane.wait_for(timeout=5000)
    expect(pane.locator(".messages")).to_contain_text("Ria joined the chat.")
    return context, page, errors, customer, pane


def test_the_customer_details_beside_a_chat_follow_the_customer(live: Live, browser, page_errors) -> None:
    context, page, errors, customer, pane = open_chat(live, browser, page_errors, "visitor-details01")
    details = pane.locator(".details")
    assert "Checkout" not in details.inner_text()
    # the rep is halfway through an answer
    box = pane.locator("textarea")
    box.fill("Let me check the")
    box.focus()
    page.evaluate("document.querySelector('.chat .messages li').dataset.mark = 'kept'")

    customer.send([{"t": "cart", "value": 999, "currency": "EUR"},
                   {"t": "pv", "url": live.demo_url + "/checkout", "title": "Checkout", "visits": 0},
                   {"t": "err", "field": "card", "kind": "invalid", "msg": "patternMismatch"}])
    expect(details).to_contain_text("999 EUR", timeout=4000)  # pushed by the batch (the queue refreshes every 5 s)
    text = details.inner_text()
    assert "Checkout" in text and "card: invalid — patternMismatch" in text
    # nothing else in the pane moved: the same message nodes, the half-typed answer, the focus
    assert page.evaluate("document.querySelector('.chat .messages li').dataset.mark") == "kept"
    assert box.input_value() == "Let me check the"
    assert page.evaluate("document.activeElement.matches('.chat textarea')")
    assert errors == []
    customer.close()
    context.close()


def test_the_console_modules_are_revalidated_so_a_browser_never_runs_a_stale_mix(
        live: Live, browser, page_errors) -> None:
    make_rep(live.api, live.key, email="ria@shop.example")
    context = browser.new_context()
    page = context.new_page()
    errors = page_errors(page)
    loaded: dict[str, str] = {}
    page.on("response", lambda r: loaded.__setitem__(r.url.split("?")[0].rsplit("/", 1)[-1],
                                                     r.headers.get("cache-control", ""))
            if "/console/static/" in r.url and r.url.split("?")[0].endswith(".js") else None)
    page.goto(live.url + "/console/")
    page.fill("input[name=email]", "ria@shop.example")
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    go_available(page)
    # the entry and what it imports (imported by plain URL, without ?v=) are all checked
    # with the server before each use
    assert {"console.js", "dom.js", "chats.js"} <= set(loaded), loaded
    assert set(loaded.values()) == {"no-cache"}, loaded
    assert errors == []
    context.close()


def test_the_chat_stylesheet_is_served_to_any_page_and_cached(live: Live) -> None:
    r = live.api.get("/v1/chat.css", headers={"Origin": live.demo_url})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")
    assert r.headers["access-control-allow-origin"] == "*"
    assert "max-age" in r.headers["cache-control"] and ".bk-root" in r.text
    again = live.api.get("/v1/chat.css", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


def recorded_errors(live: Live, page, vid: str, at_least: int) -> dict:
    """The visitor's state once at least ``at_least`` errors arrived and nothing more came."""
    page.evaluate("Beckon.flush()")
    assert poll(lambda: (live.visitor(vid) or {}).get("errors", 0) >= at_least), live.visitor(vid)
    time.sleep(1.5)  # anything counted twice would be urgent too: sent within a second
    page.evaluate("Beckon.flush()")
    return live.visitor(vid)


def test_one_failed_submit_counts_once_and_each_field_once(live: Live, browser, page_errors) -> None:
    context = browser.new_context()
    page = context.new_page()
    errors = page_errors(page)
    # the page validates itself: checkValidity() in its submit handler, then aria-invalid
    page.goto(live.demo_url + "/newsletter")
    wait_js(page, "window.Beckon && window.Beckon.vid")
    vid = page.evaluate("Beckon.vid")
    page.click("button[type=submit]")  # three empty required fields
    expect(page.locator("#nl-postcode")).to_have_attribute("aria-invalid", "true")
    v = recorded_errors(live, page, vid, 4)
    fields = Counter(e["field"] for e in v["form_errors"])
    assert fields == {"newsletter-form": 1, "name": 1, "email": 1, "postcode": 1}, v["form_errors"]
    assert v["errors"] == 4
    # a second attempt is a second attempt
    page.click("button[type=submit]")
    v = recorded_errors(live, page, vid, 8)
    assert v["errors"] == 8, v["form_errors"]
    assert errors == []
    context.close()


def test_times_read_as_seconds_and_minutes_and_repeated_errors_show_once_with_a_count(
        live: Live, browser, page_errors) -> None:
    rules = live.api.get(f"/v1/sites/{live.key}/rules").json()
    rules["rules"]["field_dwell"]["threshold"] = 65  # seconds
    live.api.put(f"/v1/sites/{live.key}/rules", json=rules).raise_for_status()
    make_rep(live.api, live.key, email="ria@shop.example")
    context, page, errors = console(live, browser, page_errors, "ria@shop.example")
    go_available(page)
    customer = Customer(live, "visitor-polish01")  # some seconds in the zip field, two zip errors
    mistake = {"t": "err", "field": "email", "kind": "invalid", "msg": "typeMismatch"}
    customer.send([{"t": "field", "name": "zip", "ms": 772}, mistake, mistake, mistake])
    zip_ms = live.visitor("visitor-polish01")["fields"]["zip"]
    assert zip_ms % 1000, zip_ms  # a time with a fraction of a second
    item = page.locator(f".request[data-id='{customer.ask_for_help()}']")
    item.wait_for(timeout=5000)
    text = item.locator(".details").inner_text()
    assert f"Time in one field: {int(zip_ms / 1000 + 0.5)} s (threshold 1 min 5 s)" in text, text
    assert str(zip_ms / 1000) not in text
    assert text.count("email: invalid — typeMismatch") == 1
    assert "email: invalid — typeMismatch × 3" in text
    assert "zip: invalid — Enter a valid ZIP" in text and "ZIP ×" not in text  # once: no count
    # the visitor's history page lists them the same way
    page.goto(live.url + "/console/visitors/visitor-polish01")
    history = page.locator(".form-errors").inner_text()
    assert history.count("email: invalid — typeMismatch") == 1 and "× 3" in history
    assert errors == []
    customer.close()
    context.close()


def shown_offer(page):
    """The offer's host element, once an offer is on the page."""
    page.wait_for_selector(f"{OFFER} .bk-card", timeout=5000)
    return page.locator(OFFER).element_handle()


def gone(offer) -> bool:
    """That offer left the page (with no cool-down, the next may already be there)."""
    return poll(lambda: offer.evaluate("host => !host.isConnected"), 3)


def test_an_offer_is_announced_leaves_focus_alone_and_escape_anywhere_dismisses_it(
        live: Live, browser, page_errors) -> None:
    rid = setup_site(live, variant="panel", cooldown_s=0)  # no cool-down: dismissed, offered again
    context, page, errors = flagged_page(live, browser, page_errors)
    page.focus("button.add")  # the shopper is on the page's own button
    focus_on_page = "document.activeElement.matches('button.add')"
    presence(live.api, live.key, rid, "available")
    offer = shown_offer(page)
    # read out politely once it is there; the offer does not take the focus
    expect(page.locator(f"{OFFER} [aria-live=polite]")).to_have_text("Help from Demo: Can we help?")
    assert page.evaluate(focus_on_page)

    # the page's own dialog handles Escape first: the offer stays
    page.evaluate("""() => { window.__dialog = e => { if (e.key === 'Escape') e.preventDefault(); };
                             document.addEventListener('keydown', window.__dialog); }""")
    page.keyboard.press("Escape")
    page.wait_for_timeout(500)
    assert offer.evaluate("host => host.isConnected")
    page.evaluate("document.removeEventListener('keydown', window.__dialog)")
    # Escape with the focus on the page dismisses it, and the focus stays where it is
    page.keyboard.press("Escape")
    assert gone(offer)
    assert page.evaluate(focus_on_page)

    # focus went into the next offer: Escape there, and it comes back to the button
    offer = shown_offer(page)
    offer.evaluate("host => host.shadowRoot.querySelector('[data-beckon-action=accept]').focus()")
    assert not page.evaluate(focus_on_page)
    page.keyboard.press("Escape")
    assert gone(offer)
    assert page.evaluate(focus_on_page)
    # the same after "No thanks" by mouse
    offer = shown_offer(page)
    page.locator(f"{OFFER} .bk-actions [data-beckon-action=dismiss]").click()
    assert gone(offer)
    assert page.evaluate(focus_on_page)
    assert errors == []
    context.close()
