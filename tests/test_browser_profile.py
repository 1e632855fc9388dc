"""Real Chromium: the site owner fills in a representative's profile; a misspelt time zone is
pointed out beside its field with everything typed kept, and once fixed the profile saves and
shows."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.helpers import Live, console, make_rep

pytestmark = pytest.mark.browser


def test_the_admin_fills_a_profile_fixes_the_time_zone_and_sees_it_saved(live: Live, browser, page_errors) -> None:
    make_rep(live.api, live.key, email="boss@shop.example", name="Bea", role="admin")
    rid = make_rep(live.api, live.key, email="ria@shop.example", name="Ria")
    ctx, page, errors = console(live, browser, page_errors, "boss@shop.example")
    page.goto(live.url + "/console/admin/reps")
    page.locator(f"#rep-{rid} a.edit-rep").click()
    form = page.locator("#rep-profile")
    form.locator("input[name=skills]").fill("kayaks:5, billing:2")
    form.locator("input[name=languages]").fill("fr, EN")
    form.locator("input[name=products]").fill("Sea kayaks")
    form.locator("input[name=areas]").fill("75, sw1")
    form.locator("input[name=timezone]").fill("Europe/Pariss")
    form.locator("input[name=hours_mon]").fill("09:00-17:30")
    form.locator("input[name=hours_fri]").fill("22:00-02:00")
    form.locator("input[name=days_off]").fill("2025-12-25")
    form.locator("input[name=alert_email]").check()
    form.locator("input[name=email_after_s]").fill("120")
    form.locator("button[type=submit]").click()

    expect(page.locator("#timezone-errors")).to_contain_text("must be a time zone such as Europe/Paris")
    zone = page.locator("#rep-profile input[name=timezone]")
    assert zone.get_attribute("aria-invalid") == "true"
    assert zone.input_value() == "Europe/Pariss"  # what was typed is kept, so only the mistake needs fixing
    assert page.locator("#rep-profile input[name=skills]").input_value() == "kayaks:5, billing:2"
    assert page.locator("#rep-profile .field-errors").count() == 1  # nothing else was wrong
    assert live.api.get(f"/v1/sites/{live.key}/reps/{rid}").json()["schedule"] is None

    zone.fill("Europe/Paris")
    page.locator("#rep-profile button[type=submit]").click()
    expect(page.locator(".flash")).to_have_text("Profile saved.")
    summary = page.locator(".profile-summary").inner_text()
    for shown in ("kayaks (5/5)", "billing (2/5)", "fr, en", "sea kayaks", "75, SW1", "Europe/Paris",
                  "Monday 09:00-17:30", "Friday 22:00-02:00", "days off 2025-12-25",
                  "e-mail when a request waits more than 120 s"):
        assert shown in summary, shown
    rep = live.api.get(f"/v1/sites/{live.key}/reps/{rid}").json()
    assert rep["skills"] == {"billing": 2, "kayaks": 5} and rep["languages"] == ["fr", "en"]
    assert rep["schedule"]["timezone"] == "Europe/Paris"
    assert [e for e in errors if "status of 400" not in e] == []  # the refused form's 400 only
    ctx.close()
