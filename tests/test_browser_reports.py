"""Real Chromium, real Redis, the live servers: the site owner opens the reports; every chart
is drawn (SVG, under the console's strict CSP, no page errors), and each table's CSV, downloaded
through the browser, holds the numbers the table shows."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.helpers import console, flagged_page, make_rep, setup_site, signed

pytestmark = pytest.mark.browser


def test_the_reports_draw_their_charts_and_each_csv_matches_its_table(live, browser, page_errors) -> None:
    key = live.key
    setup_site(live)
    make_rep(live.api, key, email="boss@shop.example", name="Boss", role="admin")
    shopper, shop_page, shop_errors = flagged_page(live, browser, page_errors)  # a customer who needs help
    vid = shop_page.evaluate("Beckon.vid")
    secret = live.api.get(f"/v1/sites/{key}/order-secret").json()["secret"]
    body = json.dumps({"order_id": "SO-9", "value": "249.50", "currency": "EUR", "visitor_id": vid}).encode()
    r = live.api.post(f"/v1/sites/{key}/orders", content=body, headers=signed(secret, body))
    assert r.status_code == 201, r.text

    context, page, errors = console(live, browser, page_errors, "boss@shop.example")
    page.click("nav a[href='/console/reports']")
    page.wait_for_selector("#report-funnel")
    charts = page.locator("figure.chart svg")
    assert charts.count() == 6
    for i in range(6):
        box = charts.nth(i).bounding_box()
        assert box and box["width"] > 100 and box["height"] > 20  # drawn, not blocked
    assert page.locator("#report-funnel svg rect.bar").count() >= 5
    for name in ("funnel", "uplift", "reasons", "pages", "reps", "days"):
        shown = page.eval_on_selector_all(
            f"table[data-report={name}] tr",
            "rows => rows.map(r => Array.from(r.children).map(c => c.textContent.trim()))")
        with page.expect_download() as got:
            page.click(f"#report-{name} a.csv")
        with open(got.value.path(), encoding="utf-8") as f:
            rows = list(csv.reader(io.StringIO(f.read())))
        if shown[1:] == [["Nothing in these dates."]]:  # nobody chatted: the table says so, the CSV holds its header
            assert name == "reps" and rows == shown[:1]
        else:
            assert rows == shown, name
    funnel = page.eval_on_selector_all("table[data-report=funnel] tr",
                                       "rows => rows.map(r => Array.from(r.children).map(c => c.textContent.trim()))")
    assert ["Bought", "1", "0"] in funnel and ["Revenue", "249.50 EUR", ""] in funnel
    assert errors == [] and shop_errors == []
    context.close()
    shopper.close()
