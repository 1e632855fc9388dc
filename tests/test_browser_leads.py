"""Real Chromium, real Redis, the live servers: the site's admin builds the territory table in
the console (a row without an area is refused beside that row and nothing is saved), a lead
posted by the site's server goes to Ann by territory row 1, Ann hears of it at once in her
console and finds it under "My leads" with the customer's markup shown as text; the admin finds
it, and why it went to Ann, among the site's leads and on its own page; then adds a webhook
endpoint whose secret is shown once. Everything under the console's strict CSP, with no page
errors."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.helpers import console, go_available, make_rep

pytestmark = pytest.mark.browser

NAME = "<b>Dee</b>"
HOOK = "https://hooks.example/beckon"
REFUSED = "console.error: Failed to load resource: the server responded with a status of 400 (Bad Request)"


def records(live, kind: str, rows: list[dict]) -> None:
    r = live.api.post(f"/v1/sites/{live.key}/records/{kind}", json={"records": rows})
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == ["created"] * len(rows), r.text


def test_a_territory_routes_a_lead_to_ann_who_is_told_and_the_admin_sees_why(live, browser, page_errors) -> None:
    key = live.key
    ann_rep = make_rep(live.api, key, email="ann@shop.example", name="Ann")
    make_rep(live.api, key, email="boss@shop.example", name="Boss", role="admin")
    records(live, "products", [{"model": "sea-1", "name": "Sea kayak", "category": "kayaks"}])
    records(live, "staff", [
        {"id": "ann", "name": "Ann", "email": "ann@shop.example", "areas": ["SW1"], "products": ["kayaks"],
         "rep": ann_rep, "alerts": {"channels": ["console", "email"], "events": ["new_lead"]}},
        {"id": "bob", "name": "Bob", "email": "bob@shop.example", "products": ["kayaks"]}])

    # the admin builds the territory table: a row without an area is refused beside it, nothing saved
    admin_ctx, admin, admin_errors = console(live, browser, page_errors, "boss@shop.example")
    admin.click("nav a[href='/console/admin/leads']")
    admin.click("a[href='/console/admin/leads/territories']")
    expect(admin.locator("table.territories tr.empty")).to_be_visible()
    admin.click("button[name=op][value=add]")
    expect(admin.locator("#unsaved")).to_be_visible()
    admin.fill("[aria-label='Area prefixes of row 1']", "SW1")
    admin.fill("[aria-label='Products of row 1']", "kayaks")
    admin.select_option("[aria-label='Staff of row 1']", label="Ann (ann)")
    admin.click("button[name=op][value=add]")
    admin.fill("[aria-label='Products of row 2']", "kayaks")
    admin.select_option("[aria-label='Staff of row 2']", label="Bob (bob)")
    admin.locator("button[name=op][value=save]").last.click()
    expect(admin.locator("#row-1-errors")).to_contain_text("name at least one area code or postcode prefix")
    expect(admin.locator("#row-1")).to_have_class("invalid")
    expect(admin.locator("#row-0-errors")).to_have_count(0)
    expect(admin.locator("#unsaved")).to_be_visible()
    expect(admin.locator("[aria-label='Area prefixes of row 1']")).to_have_value("SW1")  # the typing is kept
    assert live.api.get(f"/v1/sites/{key}/territories").json()["territories"] == []  # whole or not at all
    assert admin_errors == [REFUSED]  # the refusal's status, which Chromium logs
    admin.click("[aria-label='Remove row 2']")
    expect(admin.locator("table.territories tbody tr[id^=row-]")).to_have_count(1)
    admin.locator("button[name=op][value=save]").last.click()
    expect(admin.locator("p.flash")).to_have_text("The territory table is saved.")
    expect(admin.locator("#unsaved")).to_have_count(0)
    expect(admin.locator("[aria-label='Area prefixes of row 1']")).to_have_value("SW1")
    expect(admin.locator("[aria-label='Products of row 1']")).to_have_value("kayaks")
    expect(admin.locator("[aria-label='Staff of row 1'] option:checked")).to_have_text("Ann (ann)")
    expect(admin.locator("[aria-label='Area prefixes of row 2']")).to_have_count(0)
    saved = live.api.get(f"/v1/sites/{key}/territories").json()["territories"]
    assert len(saved) == 1 and saved[0]["staff"] == "ann", saved

    # Ann in her console, available, is told of the lead the site's server posts
    ann_ctx, ann, ann_errors = console(live, browser, page_errors, "ann@shop.example")
    go_available(ann)
    r = live.api.post(f"/v1/sites/{key}/leads", json={"name": NAME, "email": "dee@example.com",
                                                       "postcode": "SW1A 1AA", "model": "sea-1", "consent": True})
    assert r.status_code == 201, r.text
    lead = r.json()
    why = "area SW1 and sea-1 (territory row 1)"
    assert lead["routed"] == {"staff": "ann", "path": "territory", "why": why}, lead
    expect(ann.locator("#toast")).to_have_text(f"New lead: {NAME} · sea-1 — {why}")
    assert ann.locator("#toast b").count() == 0
    ann.click("nav a[href='/console/leads']")
    row = ann.locator(f"#lead-{lead['id']}")
    expect(row.locator("td").nth(2)).to_contain_text(NAME)  # as text
    expect(row.locator("td").nth(3)).to_contain_text("sea-1")
    expect(row.locator("td").nth(5)).to_have_text(f"territory: {why}")
    assert ann.locator("#my-leads b").count() == 0
    expect(ann.locator("#my-leads tbody tr")).to_have_count(1)

    # the admin finds it among the site's leads, and on its own page
    admin.click("nav a[href='/console/admin/leads']")
    row = admin.locator(f"#lead-{lead['id']}")
    expect(row.locator("td").nth(3)).to_contain_text(NAME)
    expect(row.locator("td").nth(5)).to_contain_text("Ann")
    expect(row.locator("td").nth(5)).to_contain_text(f"territory: {why}")
    assert admin.locator("#leads b").count() == 0
    row.locator("td").first.locator("a").click()
    facts = admin.locator("#lead-facts")
    expect(facts).to_contain_text("Ann (ann)")
    expect(facts).to_contain_text(f"territory: {why}")
    expect(facts).to_contain_text(NAME)
    expect(facts).to_contain_text("SW1A1AA")
    assert admin.locator("#lead-facts b").count() == 0

    # a webhook endpoint: its secret shown once
    admin.click("nav a[href='/console/admin/webhooks']")
    expect(admin.locator("#endpoints tr.empty")).to_be_visible()
    form = admin.locator("#add-endpoint")
    form.locator("input[name=url]").fill(HOOK)
    form.locator("input[name=events][value='lead.created']").check()
    form.locator("button[type=submit]").click()
    secret = admin.locator("#new-secret")
    expect(secret).to_have_text(re.compile(r"^whsec_[A-Za-z0-9+/=]{20,}$"))
    shown = secret.text_content()
    endpoint = secret.get_attribute("data-endpoint")
    expect(admin.locator(f"#endpoint-{endpoint}")).to_contain_text(HOOK)
    expect(admin.locator("#endpoints tbody tr")).to_have_count(1)
    admin.goto(live.url + "/console/admin/webhooks")  # coming back: the list, never the secret
    expect(admin.locator(f"#endpoint-{endpoint}")).to_contain_text(HOOK)
    expect(admin.locator("#new-secret")).to_have_count(0)
    assert shown not in admin.content()

    # (page_errors collects every page's into one list) the refused table's 400, and nothing else
    assert admin_errors == [REFUSED] and ann_errors == [REFUSED]
    ann_ctx.close()
    admin_ctx.close()
