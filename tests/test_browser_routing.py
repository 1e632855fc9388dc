"""Real Chromium, real Redis, the live servers: a request goes to the right representative.

Two reps are online in their consoles: Amélie, accredited for kayaks and speaking French, and
Ria, neither. A customer whose browser prefers French, on the kayak page, accepts HELP: only
Amélie's console lists the request, saying why it came to her (the rule set's name shown as
text), and Ria's lists it only once the escalation time passed without Amélie accepting; Ria
accepts and it leaves Amélie's queue."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.helpers import OFFER, console, flagged_page, go_available, make_rep, poll, setup_site

pytestmark = pytest.mark.browser

RULE_SET = "Kayaks <b>FR</b>"  # shown as text, never as markup
MATCHING = {
    "pages": [{"pattern": "/product/kayak*", "category": "boats", "product": "kayaks"}],
    "rule_sets": [{"name": RULE_SET, "when": {"products": ["kayaks"]}, "filters": {"language": False},
                   "rules": {"accreditation": {"weight": 0.4}, "language": {"weight": 0.3},
                             "capacity": {"weight": 0.3}},
                   "dispatch": {"mode": "best", "widen_by": 1, "escalate_after_s": 10}}],
}


def test_the_kayak_expert_gets_the_request_first_and_the_other_rep_after_the_escalation_time(
        live, browser, page_errors) -> None:
    key = live.key
    setup_site(live)  # Ria, no skills
    amelie = make_rep(live.api, key, email="amelie@shop.example", name="Amélie")
    live.api.put(f"/v1/sites/{key}/reps/{amelie}", json={"languages": ["fr", "en"]}).raise_for_status()
    live.api.post(f"/v1/sites/{key}/reps/{amelie}/accreditations",
                  json={"subject": "kayaks", "level": 5, "valid_days": 365}).raise_for_status()
    live.api.put(f"/v1/sites/{key}/matching", json=MATCHING).raise_for_status()
    a_context, a_page, a_errors = console(live, browser, page_errors, "amelie@shop.example")
    r_context, r_page, r_errors = console(live, browser, page_errors, "ria@shop.example")
    go_available(a_page)
    go_available(r_page)
    c_context, page, c_errors = flagged_page(live, browser, page_errors, locale="fr-FR")
    page.click(f"{OFFER} [data-beckon-action=accept]")
    cid = poll(lambda: page.evaluate("Beckon.request"))
    assert cid
    item = a_page.locator(f".request[data-id='{cid}']")
    item.wait_for(timeout=10_000)
    why = item.locator(".why")
    expect(why).to_have_text(f"Sent to you by “{RULE_SET}”: score 1.00 (accreditation 0.40, language 0.30, "
                             "free capacity 0.30)")
    assert a_page.locator(".request .why b").count() == 0
    assert r_page.locator(f".request[data-id='{cid}']").count() == 0  # not offered to Ria yet
    ria_item = r_page.locator(f".request[data-id='{cid}']")
    ria_item.wait_for(timeout=30_000)  # after the escalation time
    expect(ria_item.locator(".why")).to_have_text(f"Sent to you by “{RULE_SET}”: score 0.30 (free capacity 0.30)")
    ria_item.locator(".accept").click()
    item.wait_for(state="detached", timeout=10_000)
    for errors in (a_errors, r_errors, c_errors):
        assert errors == []
    for context in (a_context, r_context, c_context):
        context.close()
