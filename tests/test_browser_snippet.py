"""Real Chromium on the demo shop: the snippet reports what a struggling customer does, the
backend decides they need help and says why, and the page never breaks."""

from __future__ import annotations

import pytest

from tests.helpers import Live, poll, wait_js

pytestmark = pytest.mark.browser

STRICT_RULES = {
    "threshold": 0.6,
    "rules": {
        "field_dwell": {"weight": 0.3, "threshold": 2},
        "form_errors": {"weight": 0.4, "threshold": 2},
        "page_dwell": {"weight": 0.1, "threshold": 600},
    },
}


def test_lingering_and_a_failed_submit_flag_the_visitor_with_reasons(live: Live, browser, page_errors) -> None:
    live.api.put(f"/v1/sites/{live.site['key']}/rules", json=STRICT_RULES).raise_for_status()
    context = browser.new_context()
    page = context.new_page()
    errors = page_errors(page)
    page.goto(live.demo_url + "/quote")
    wait_js(page, "window.Beckon && window.Beckon.vid")
    vid = page.evaluate("Beckon.vid")
    assert poll(lambda: live.visitor(vid)), "the page view never reached the collector"

    page.click("#postcode")
    page.keyboard.type("12")          # not five digits
    page.wait_for_timeout(2500)       # lingering in the field (what the customer does, not a wait)
    page.click("#email")
    page.click("button[type=submit]")  # the browser refuses: required fields, pattern
    page.evaluate("Beckon.flush()")

    def flagged():
        v = live.visitor(vid)
        return v if v and v["needs_assistance"] else None

    v = poll(flagged)
    assert v, f"not flagged: {live.visitor(vid)}"
    fired = {r["rule"]: r for r in v["reasons"] if r["fired"]}
    assert fired["field_dwell"]["value"] >= 2
    assert fired["form_errors"]["value"] >= 2
    assert "postcode" in v["fields"]
    assert {e["kind"] for e in v["form_errors"]} >= {"invalid"}
    assert v["pages"][0]["url"].endswith("/quote")
    assert v["service_point"] == "quote"  # the form carries data-beckon-service-point
    assert errors == []
    context.close()


def test_server_side_errors_and_spa_navigation_are_seen(live: Live, browser, page_errors) -> None:
    context = browser.new_context()
    page = context.new_page()
    errors = page_errors(page)
    page.goto(live.demo_url + "/quote")
    wait_js(page, "window.Beckon && window.Beckon.vid")
    vid = page.evaluate("Beckon.vid")
    # fill the form so the browser lets it through; the server rejects the postcode and
    # marks it with aria-invalid and data-beckon-error
    page.fill("#name", "Ann")
    page.fill("#email", "ann@example.com")
    page.fill("#postcode", "1234a")
    page.evaluate("document.getElementById('postcode').removeAttribute('pattern')")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-beckon-error=postcode]")
    page.evaluate("history.pushState({}, '', '/quote?step=2'); history.replaceState({}, '', '/quote?step=2b')")
    page.evaluate("Beckon.flush()")

    def seen():
        v = live.visitor(vid)
        return v if v and any(e["kind"] in ("aria", "marked") for e in v["form_errors"]) and \
            any("step=2" in p["url"] for p in v["pages"]) else None

    v = poll(seen)
    assert v, live.visitor(vid)
    urls = [p["url"] for p in v["pages"]]
    assert not any("step=2b" in u for u in urls)  # replaceState is not a page view
    assert errors == []
    context.close()


def test_page_keeps_working_when_the_collector_is_down(live: Live, browser, page_errors) -> None:
    context = browser.new_context()
    page = context.new_page()
    errors = page_errors(page)
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" and "/v1/events" in r.url else None)
    page.add_init_script("window.__before = Object.keys(window)")
    page.goto(live.demo_url + "/product/kayak")
    wait_js(page, "window.Beckon && window.Beckon.vid")
    live.web.stop()  # the collector goes away; the page stays
    sent.clear()
    page.click("button.add")
    page.click("button.add")
    assert page.inner_text("#cart-count") == "2"  # the shop still works
    page.evaluate("Beckon.flush()")
    page.wait_for_timeout(6000)  # the window the attempts are counted in (not a wait for something)
    # backs off: a handful of attempts in six seconds, not one per event or per second
    assert 1 <= len(sent) <= 4, sent
    uncaught = [e for e in errors if not e.startswith("console.error: Failed to load resource")]
    assert uncaught == []
    added = page.evaluate("Object.keys(window).filter(k => k !== '__before' && !window.__before.includes(k))")
    assert added == ["Beckon"]
    context.close()
