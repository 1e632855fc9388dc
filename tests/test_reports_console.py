"""The reports in the console (real Redis and services): admins and auditors see the funnel,
the uplift, the representatives and the days, each as a chart beside its table, and download
each table as CSV holding the same rows; an auditor reads and changes nothing (no workspace,
no chat socket, no admin form); a plain representative sees no reports; another site's data
never shows."""

from __future__ import annotations

import csv
import io
import re

from starlette.testclient import TestClient

from tests.helpers import (PASSWORD, admin, console_login, ingest, make_rep, post_order, presence, secret_of,
                           waiting_request)


def log_in(client: TestClient, email: str) -> str:
    """Any role: the session's CSRF token, read from the page the console lands on."""
    client.cookies.clear()
    form = client.get("/console/login").text
    r = client.post("/console/login", data={"csrf": re.search(r'name="csrf" value="([^"]+)"', form).group(1),
                                            "email": email, "password": PASSWORD, "next": "/console/"})
    return re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)


def table(html: str, name: str) -> list[list[str]]:
    block = re.search(rf'<table class="report-table" data-report="{name}">(.*?)</table>', html, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", block, re.S)
    return [[re.sub(r"<[^>]+>", "", c).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
             .replace("&#39;", "'").replace("&#34;", '"').strip()
             for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)] for row in rows]


def setup(client: TestClient, key: str) -> str:
    rid = make_rep(client, key, email="ria@example.com", name='=HYPERLINK("x") <b>Ria</b>', capacity=4)
    make_rep(client, key, email="boss@shop.example", name="Boss", role="admin")
    make_rep(client, key, email="audit@shop.example", name="Audrey", role="auditor")
    presence(client, key, rid, "available")
    cid = waiting_request(client, key, vid="visitor-0001")
    client.portal.call(client.app.state.services.chats.accept, key, cid, rid)
    ingest(client, key, "visitor-0001", [{"t": "id", "email": "buyer@example.com"}])
    post_order(client, key, secret_of(client, key), {"order_id": "SO-1", "value": "129.90", "currency": "EUR",
                                                    "email": "buyer@example.com"})
    return rid


def test_admins_and_auditors_read_the_reports_and_their_csv_holds_the_same_rows(client: TestClient,
                                                                                site: dict) -> None:
    key = site["key"]
    setup(client, key)
    for email in ("boss@shop.example", "audit@shop.example"):
        log_in(client, email)
        page = client.get("/console/reports")
        assert page.status_code == 200, page.text
        assert page.text.count("<svg") == 6 and "<script" not in page.text.split("</header>")[1]
        assert "<b>Ria</b>" not in page.text  # a name is text, in the table and in the chart
        funnel = table(page.text, "funnel")
        assert ["Bought", "1", "0"] in funnel and ["Revenue", "129.90 EUR", ""] in funnel
        for name in ("funnel", "uplift", "reasons", "pages", "reps", "days"):
            r = client.get(f"/console/reports/{name}.csv")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
            assert r.headers["content-disposition"].startswith(f'attachment; filename="{name}-')
            rows = list(csv.reader(io.StringIO(r.text)))
            shown = table(page.text, name)
            if name == "reps":  # a spreadsheet must not run a name as a formula
                assert rows[1][0] == '\'=HYPERLINK("x") <b>Ria</b>' and shown[1][0] == '=HYPERLINK("x") <b>Ria</b>'
                rows[1][0] = shown[1][0]
            assert rows == shown, name


def test_an_auditor_changes_nothing_and_a_rep_sees_no_reports(client: TestClient, site: dict) -> None:
    key = site["key"]
    setup(client, key)
    csrf = log_in(client, "audit@shop.example")
    r = client.get("/console/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("/console/reports")
    for path in ("/console/admin/site", "/console/profile", "/console/accreditations"):
        assert client.get(path).status_code == 403, path
    assert client.post("/console/admin/offer", data={"csrf": csrf, "variant": "panel"}).status_code == 403
    assert client.get(f"/v1/sites/{key}/offer-settings", headers=admin()).json()["variant"] == "button"
    r = client.post("/console/profile", data={"csrf": csrf, "capacity": "9"})
    assert r.status_code == 403 and "changes nothing" in r.text
    with client.websocket_connect(f"ws://beckon.test/console/ws?csrf={csrf}",
                                  headers={"Origin": "http://beckon.test"}) as ws:
        closed = ws.receive()
        assert closed["type"] == "websocket.close" and closed["code"] == 4403
    console_login(client, "ria@example.com")
    assert client.get("/console/reports").status_code == 403
    assert client.get("/console/reports/funnel.csv").status_code == 403
    assert "/console/reports" not in client.get("/console/").text


def test_bad_dates_are_shown_and_another_site_stays_apart(client: TestClient, site: dict) -> None:
    key = site["key"]
    setup(client, key)
    other = client.post("/v1/sites", json={"name": "Other", "origins": ["https://other.example"]},
                        headers=admin()).json()
    make_rep(client, other["key"], email="boss@other.example", name="Other boss", role="admin")
    log_in(client, "boss@other.example")
    page = client.get("/console/reports").text
    assert "129.90" not in page and ["Bought", "0", "0"] in table(page, "funnel")
    log_in(client, "boss@shop.example")
    r = client.get("/console/reports", params={"from": "2026-02-30"})
    assert r.status_code == 400 and "from: must be a date as YYYY-MM-DD" in r.text
    assert client.get("/console/reports/secrets.csv").status_code == 404


def test_a_name_that_starts_as_a_number_is_no_formula_in_the_csv(client: TestClient, site: dict) -> None:
    key = site["key"]
    rid = make_rep(client, key, email="neg@example.com", name='-1 =HYPERLINK("http://x")', capacity=4)
    make_rep(client, key, email="boss@shop.example", name="Boss", role="admin")
    presence(client, key, rid, "available")
    cid = waiting_request(client, key, vid="visitor-0001")
    client.portal.call(client.app.state.services.chats.accept, key, cid, rid)
    log_in(client, "boss@shop.example")
    rows = list(csv.reader(io.StringIO(client.get("/console/reports/reps.csv").text)))
    assert rows[1][0] == '\'-1 =HYPERLINK("http://x")' and rows[1][1] == "1"
