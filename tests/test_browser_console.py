"""Real Chromium against the real server: a representative logs in, goes available, sees a
request arrive with the reasons it was flagged, accepts it and chats with the customer
(whose side speaks through the page's own push socket); two representatives race for one
request and only one gets it."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect

from tests.helpers import PASSWORD, Customer, Live, console, go_available, make_rep, poll

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=window.__pwned=1>"


def test_a_rep_goes_available_sees_why_a_request_was_flagged_and_chats(live: Live, browser, page_errors) -> None:
    rid = make_rep(live.api, live.key, email="ria@shop.example", name="Ria", capacity=2)
    # a wrong password shows why the login failed
    context = browser.new_context()
    page = context.new_page()
    errors = page_errors(page)
    page.goto(live.url + "/console/")
    page.fill("input[name=email]", "ria@shop.example")
    page.fill("input[name=password]", "not the password")
    page.click("form button[type=submit]")
    assert "Wrong e-mail address or password" in page.locator("#login-error").inner_text()
    errors.clear()  # the 401 of the failed login itself
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_selector("#workspace")
    go_available(page)
    rep = live.api.get(f"/v1/sites/{live.key}/reps/{rid}").json()
    assert rep["status"] == "available"

    customer = Customer(live, "visitor-browser1", name=XSS)
    request_id = customer.ask_for_help()
    item = page.locator(f".request[data-id='{request_id}']")
    item.wait_for(timeout=5000)
    text = item.inner_text()
    for expected in ("Time in one field: 4 s (threshold 20 s)", "Form errors: 2 (threshold 2)",
                     "Cart value: 250", "Get a quote", "zip: invalid — Enter a valid ZIP", "waiting"):
        assert expected in text, expected
    assert item.locator(".who").inner_text() == XSS  # shown as text, never as markup
    assert page.evaluate("window.__pwned") is None and item.locator("img").count() == 0
    assert page.title().startswith("(1) ")

    item.locator(".accept").click()
    pane = page.locator(f".chat[data-id='{request_id}']")
    pane.wait_for(timeout=5000)
    item.wait_for(state="detached", timeout=5000)
    assert "Ria joined the chat." in pane.locator(".messages").inner_text()
    assert "Get a quote" in pane.locator(".details").inner_text()  # the customer beside the chat
    assert not page.title().startswith("(")

    customer.connect()
    customer.expect(lambda m: m.get("type") == "history")
    pane.locator("textarea").fill("Hello! Which ZIP did you try?")
    pane.locator("textarea").press("Enter")
    got = customer.expect(lambda m: m.get("type") == "msg" and m["msg"]["from"] == "rep")
    assert got["msg"]["text"] == "Hello! Which ZIP did you try?" and got["msg"]["name"] == "Ria"

    # the rep types: the customer is told
    pane.locator("textarea").type("One mo")
    assert customer.expect(lambda m: m.get("type") == "typing")["from"] == "rep"
    pane.locator("textarea").fill("")
    # the customer types and writes: the rep sees both, as text
    customer.socket.send(json.dumps({"type": "typing"}))
    pane.locator(".typing").wait_for(state="visible", timeout=5000)
    customer.say("It says <b>invalid</b> for 1000")
    pane.locator(".msg.from-visitor").wait_for(timeout=5000)
    assert pane.locator(".msg.from-visitor .text").inner_text() == "It says <b>invalid</b> for 1000"
    assert pane.locator(".msg.from-visitor b").count() == 0

    # a page link: another site's page is refused with the reason, the shop's own is sent
    pane.locator(".link-box summary").click()
    pane.locator("input[name=url]").fill("https://evil.example/free")
    pane.locator("form.link button").click()
    expect(pane.locator(".error")).to_contain_text("only pages of this site", timeout=5000)
    pane.locator("input[name=url]").fill(live.demo_url + "/product/kayak")
    pane.locator("input[name=title]").fill("Our kayak")
    pane.locator("form.link button").click()
    link = customer.expect(lambda m: m.get("type") == "msg" and m["msg"]["kind"] == "link")["msg"]
    assert link["url"] == live.demo_url + "/product/kayak" and link["title"] == "Our kayak"
    assert pane.locator(".msg.kind-link a").get_attribute("href") == live.demo_url + "/product/kayak"

    pane.locator(".end").click()
    pane.locator(".end").click()  # confirm
    assert customer.expect(lambda m: m.get("type") == "ended")["by"] == "rep"
    pane.locator(".close").wait_for(state="visible", timeout=5000)
    assert pane.locator("textarea").is_disabled()

    # the visitor's history has the transcript, searchable
    page.goto(live.url + "/console/visitors/visitor-browser1?q=invalid")
    assert "It says <b>invalid</b> for 1000" in page.locator(".transcript").inner_text()
    assert errors == []
    customer.close()
    context.close()


def test_two_reps_race_for_one_request_and_only_one_gets_it(live: Live, browser, page_errors) -> None:
    make_rep(live.api, live.key, email="ria@shop.example", name="Ria", capacity=2)
    make_rep(live.api, live.key, email="bob@shop.example", name="Bob", capacity=2)
    ctx_a, a, errors_a = console(live, browser, page_errors, "ria@shop.example")
    ctx_b, b, errors_b = console(live, browser, page_errors, "bob@shop.example")
    go_available(a)
    go_available(b)

    first = Customer(live, "visitor-race0001")
    request_id = first.ask_for_help()
    for page in (a, b):
        page.locator(f".request[data-id='{request_id}']").wait_for(timeout=5000)
    # Ria accepts: Bob's copy disappears at once
    a.locator(f".request[data-id='{request_id}'] .accept").click()
    a.locator(f".chat[data-id='{request_id}']").wait_for(timeout=5000)
    b.locator(f".request[data-id='{request_id}']").wait_for(state="detached", timeout=3000)
    assert b.locator(".chat").count() == 0

    # both press Accept on the next request at the same moment: exactly one wins, the other is told
    second = Customer(live, "visitor-race0002")
    request_id = second.ask_for_help()
    for page in (a, b):
        page.locator(f".request[data-id='{request_id}'] .accept").wait_for(timeout=5000)
    # both pages click at the same wall-clock instant (one machine, one clock)
    at = a.evaluate("Date.now()") + 400
    click = ("at => setTimeout(() => document.querySelector(\".request[data-id='%s'] .accept\").click(),"
             " at - Date.now())" % request_id)
    a.evaluate(click, at)
    b.evaluate(click, at)
    assert poll(lambda: a.locator(f".chat[data-id='{request_id}']").count()
                + b.locator(f".chat[data-id='{request_id}']").count() == 1, 5)
    loser = b if a.locator(f".chat[data-id='{request_id}']").count() else a
    expect(loser.locator("#toast")).to_contain_text("another representative already took this request",
                                                    timeout=5000)
    loser.locator(f".request[data-id='{request_id}']").wait_for(state="detached", timeout=3000)
    time.sleep(0.5)  # no event says "nothing more will change": a grace period for stray frames
    winner = a if loser is b else b
    assert winner.locator(f".chat[data-id='{request_id}']").count() == 1  # stays with the winner

    assert errors_a == [] and errors_b == []
    for c in (first, second):
        c.close()
    ctx_a.close()
    ctx_b.close()


def test_admin_pages_work_under_the_strict_csp(live: Live, browser, page_errors) -> None:
    make_rep(live.api, live.key, email="boss@shop.example", name="Bea", role="admin", capacity=2)
    ctx, page, errors = console(live, browser, page_errors, "boss@shop.example")
    page.goto(live.url + "/console/admin/site")
    page.fill("textarea[name=rules]", '{"threshold": 0, "rules": {"page_dwell": {"weight": 1}}}')
    page.click("#rules-form button[type=submit]")
    messages = page.locator("#rules-errors").inner_text()
    assert "threshold: must be a number above 0" in messages
    assert "rules.page_dwell.threshold: must be a number above 0" in messages
    page.fill("#offer-form input[name=cooldown_s]", "-1")
    page.click("#offer-form button[type=submit]")
    assert "must be a number from 0 to 604800" in page.locator("#cooldown_s-errors").inner_text()
    # the live visitor view picks up a new visitor without a reload
    page.goto(live.url + "/console/admin/visitors")
    assert page.locator("#visitors tbody tr.empty").count() == 1
    Customer(live, "visitor-live0001", name="Vera Visitor").close()
    page.locator("#visitors tbody tr.needy", has_text="Vera Visitor").wait_for(timeout=8000)
    assert "form errors 2" in page.locator("#visitors tbody").inner_text()
    # a CSP violation would show up here as a console error; the 400s are the refused forms
    assert [e for e in errors if "status of 400" not in e] == []
    ctx.close()
