"""Real Chromium, real Redis, the live servers: the site owner imports a CSV of 3,000 customers
with 3 bad rows from the console. The preview shows the 3 problems before anything is written;
Import starts it, the progress bar fills to 3,000 of 3,000, and the report lists the 3 rows by
their spreadsheet row number, the customer's own markup shown as text; the error rows download
as CSV. Everything under the console's strict CSP, with no page errors."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect

from tests.helpers import console, make_rep

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=alert(1)>"
def customers_csv() -> bytes:
    """3,000 rows; spreadsheet rows 5 (a bad e-mail), 12 (consent 'perhaps') and 19 (neither id
    nor e-mail) are bad."""
    lines = ["id,email,name,consent_sales"]
    for i in range(3000):
        lines.append(f"c{i},c{i}@shop.example,Customer {i},yes")
    lines[4] = f"c3,not-an-email,{XSS},yes"
    lines[11] = "c10,c10@shop.example,Customer 10,perhaps"
    lines[18] = ",,Nobody,yes"
    return ("\r\n".join(lines) + "\r\n").encode()


def test_an_admin_imports_customers_with_a_preview_a_progress_bar_and_an_error_report(live, browser,
                                                                                         page_errors) -> None:
    make_rep(live.api, live.key, email="boss@shop.example", name="Boss", role="admin")
    context, page, errors = console(live, browser, page_errors, "boss@shop.example")
    page.click("nav a[href='/console/admin/records']")
    expect(page.locator("#count-customers td.n")).to_have_text("0")

    page.select_option("select[name=kind]", "customers")
    page.set_input_files("input[name=file]", files=[{"name": "customers.csv", "mimeType": "text/csv",
                                                      "buffer": customers_csv()}])
    page.click("#preview-button")
    expect(page.locator("#preview-summary")).to_contain_text("3,000 rows in the file; 3 rows have problems")
    bad = page.locator("#preview-rows tbody tr.bad")
    expect(bad).to_have_count(3)
    assert [bad.nth(i).get_attribute("data-row") for i in range(3)] == ["5", "12", "19"]
    expect(bad.nth(0).locator("td.problems")).to_contain_text("email: must be an e-mail address")
    expect(bad.nth(0).locator("td").nth(3)).to_have_text(XSS)  # the file's markup, as text
    expect(bad.nth(1).locator("td.problems")).to_contain_text("consent_sales: must be yes or no")
    expect(bad.nth(2).locator("td.problems")).to_contain_text("a customer needs an id or an e-mail")
    expect(page.locator("#confirm")).to_have_text("Import 2,997 rows")
    assert live.api.get(f"/v1/sites/{live.key}/records/customers").json()["records"] == []  # nothing written yet

    page.eval_on_selector("#import-progress", """bar => {
        window.seen = [];
        new MutationObserver(() => window.seen.push([bar.value, bar.max]))
            .observe(bar, {attributes: true, attributeFilter: ["value"]});
    }""")
    page.click("#confirm")
    expect(page.locator("#result-counts")).to_have_text(
        "Import finished: 2,997 created, 0 updated, 0 unchanged, 3 rows with errors.", timeout=20_000)
    expect(page.locator("#progress-text")).to_have_text("3,000 of 3,000 rows")
    seen = page.evaluate("window.seen")
    assert seen[-1] == [3000, 3000] and [v for v, _ in seen] == sorted(v for v, _ in seen), seen

    report = page.locator("#report-rows tbody tr")
    expect(report).to_have_count(3)
    cells = page.eval_on_selector_all("#report-rows tbody tr",
                                      "rows => rows.map(r => Array.from(r.children).map(c => c.textContent))")
    assert [(c[0], c[1], c[2]) for c in cells] == [("5", "c3", "email"), ("12", "c10", "consent_sales"),
                                                    ("19", "", "id")]
    assert page.locator("img").count() == 0
    with page.expect_download() as got:
        page.click("#error-file")
    with open(got.value.path(), encoding="utf-8") as f:
        rows = list(csv.reader(io.StringIO(f.read())))
    assert rows[0] == ["id", "email", "name", "consent_sales", "errors"]
    assert [r[0] for r in rows[1:]] == ["c3", "c10", ""] and rows[1][4].startswith("row 5: email: ")

    page.reload()
    expect(page.locator("#count-customers td.n")).to_have_text("2,997")
    assert errors == []
    context.close()
