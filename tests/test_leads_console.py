"""Leads in the console (issue 13, "work from the console"; web/console/leads_page.py): the
admin's list (newest first, filters, paging, a CSV whose cells a spreadsheet cannot run, a page
per lead), the territory table and extra addressees saved whole with every problem beside its
row, and a representative's own leads and alert choices. Roles: a rep 403 on the admin pages,
an auditor reads and cannot post; another site's admin 404 on a lead's id; no CSRF token, no
change; customer text escaped. Hostile form posts: tests/test_fuzz.py."""

from __future__ import annotations

import csv
import io
import re
from html import unescape
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from backend.core import lead_views
from backend.core.leads import Lead, Territory
from backend.domain import leads as domain_leads
from tests.helpers import admin, ingest, make_rep, post_order, secret_of

HOME = "/console/admin/leads"
ROUTING = "/console/admin/leads/territories"
XSS = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://evil.example","click")'
ANN = {"id": "ann", "name": "Ann Seller", "email": "ann@shop.example", "areas": ["SW1"], "products": ["kayaks"]}
BOB = {"id": "bob", "name": "Bob Seller", "email": "bob@shop.example", "products": ["kayaks"]}
SEA = {"model": "sea-1", "name": "Sea kayak", "category": "kayaks"}


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def login(client: TestClient, email: str) -> str:
    """Logs in (replacing any session); the session's CSRF token."""
    client.cookies.clear()
    r = client.post("/console/login", data={"csrf": csrf_of(client.get("/console/login").text), "email": email,
                                            "password": "a long password", "next": "/console/"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/console/leads" if "auditor" not in email else "/console/reports").text)


def records(client: TestClient, key: str, kind: str, rows: list) -> None:
    r = client.post(f"/v1/sites/{key}/records/{kind}", json={"records": rows}, headers=admin())
    assert r.status_code == 200 and all(x["status"] != "error" for x in r.json()["results"]), r.text


def lead(client: TestClient, key: str, **body) -> dict:
    r = client.post(f"/v1/sites/{key}/leads", json={"consent": True, **body}, headers=admin())
    assert r.status_code == 201, r.text
    return r.json()


def staff_record(client: TestClient, key: str, sid: str) -> dict:
    return client.get(f"/v1/sites/{key}/records/staff/{sid}", headers=admin()).json()


@pytest.fixture()
def shop(client: TestClient, site: dict) -> dict:
    key = site["key"]
    ids = {"boss": make_rep(client, key, email="boss@shop.example", role="admin", name="Bea Boss"),
           "ria": make_rep(client, key, email="ria@shop.example", name="Ria Rep"),
           "sam": make_rep(client, key, email="sam@shop.example", name="Sam Rep"),
           "aud": make_rep(client, key, email="auditor@shop.example", role="auditor", name="Aud Itor")}
    records(client, key, "staff", [{**ANN, "rep": ids["ria"]}, {**BOB, "rep": ids["sam"]}])
    records(client, key, "products", [SEA])
    return {"key": key, **ids}


def ids_on(html: str) -> list[str]:
    return re.findall(r'<tr id="lead-([^"]+)"', html)


# --- roles ------------------------------------------------------------------------------------------

def test_admins_work_here_auditors_read_and_a_rep_is_refused(client: TestClient, shop: dict) -> None:
    x = lead(client, shop["key"], email="dee@example.com", postcode="SW1A 1AA", model="sea-1")
    pages = [HOME, f"{HOME}.csv", f"{HOME}/{x['id']}", ROUTING]
    posts = [(ROUTING, {"op": "add"}), ("/console/admin/leads/settings", {"extra_to": "x@shop.example"})]
    for path in pages:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login"), path

    csrf = login(client, "ria@shop.example")
    for path in pages:
        assert client.get(path).status_code == 403, path
    for path, data in posts:
        assert client.post(path, data={"csrf": csrf, **data}).status_code == 403, path
    assert 'href="/console/admin/leads"' not in client.get("/console/").text
    assert 'href="/console/leads"' in client.get("/console/").text  # "My leads" for every rep

    csrf = login(client, "auditor@shop.example")
    for path in pages:
        assert client.get(path).status_code == 200, path
    html = client.get(ROUTING).text
    assert "Save the table" not in html and "Save the addressees" not in html
    for path, data in posts:
        assert client.post(path, data={"csrf": csrf, **data}).status_code == 403, path
    assert client.get("/console/leads").status_code == 403  # an auditor is no salesperson

    login(client, "boss@shop.example")
    html = client.get(HOME).text
    assert 'href="/console/admin/leads" aria-current="page"' in html and x["id"] in html


def test_forms_without_the_csrf_token_change_nothing(client: TestClient, shop: dict) -> None:
    key = shop["key"]
    login(client, "boss@shop.example")
    table = {"areas": "EH", "products": "", "staff": "bob", "op": "save"}
    for token in (None, "not-the-token-at-all-000"):
        data = table | ({"csrf": token} if token else {})
        assert client.post(ROUTING, data=data).status_code == 403
        extra = {"extra_to": "x@shop.example"} | ({"csrf": token} if token else {})
        assert client.post("/console/admin/leads/settings", data=extra).status_code == 403
    assert client.get(f"/v1/sites/{key}/territories", headers=admin()).json()["territories"] == []
    assert client.get(f"/v1/sites/{key}/lead-settings", headers=admin()).json()["extra_to"] == []
    login(client, "ria@shop.example")
    assert client.post("/console/leads/alerts", data={"channels": "webhook", "events": "purchase"}).status_code == 403
    assert staff_record(client, key, "ann")["alerts"]["channels"] == ["email"]


def test_another_sites_admin_cannot_see_a_lead(client: TestClient, shop: dict) -> None:
    x = lead(client, shop["key"], email="dee@example.com", name="Dee Secret")
    other = client.post("/v1/sites", json={"name": "Other", "origins": ["https://other.example"]}, headers=admin())
    make_rep(client, other.json()["key"], email="olga@other.example", role="admin", name="Olga")
    login(client, "olga@other.example")
    r = client.get(f"{HOME}/{x['id']}")
    assert r.status_code == 404 and "Dee Secret" not in r.text
    assert "Dee Secret" not in client.get(HOME).text and "Dee Secret" not in client.get(f"{HOME}.csv").text
    assert client.get(f"{HOME}/ld_..%2F..%2Fx").status_code == 404


# --- the list, its filters, the detail and the CSV ------------------------------------------------

def test_filters_newest_first_and_paging(client: TestClient, shop: dict, monkeypatch) -> None:
    key = shop["key"]
    a = lead(client, key, email="a@example.com", name="Territory Tom", postcode="SW1A 1AA", model="sea-1")
    b = lead(client, key, email="b@example.com", name="Nobody Nell", consent=False)
    c = lead(client, key, email="c@example.com", name="Rotated Rae", postcode="EH1", model="sea-1")
    assert (a["routed"]["path"], b["routed"]["path"], c["routed"]["path"]) == ("territory", "no_consent", "rotation")
    login(client, "boss@shop.example")
    html = client.get(HOME).text
    assert ids_on(html) == [c["id"], b["id"], a["id"]]
    assert "Ann Seller" in html and "territory: area SW1 and sea-1" in html
    assert ids_on(client.get(HOME, params={"path": "territory"}).text) == [a["id"]]
    assert ids_on(client.get(HOME, params={"status": "no_consent"}).text) == [b["id"]]
    assert ids_on(client.get(HOME, params={"staff": c["routed"]["staff"], "path": "rotation"}).text) == [c["id"]]
    assert ids_on(client.get(HOME, params={"kind": "purchase"}).text) == []
    assert ids_on(client.get(HOME, params={"from": "2001-01-01", "to": "2001-01-31"}).text) == []
    r = client.get(HOME, params={"kind": "<b>x</b>", "from": "yesterday", "cursor": "nope"})
    assert r.status_code == 400 and "must be one of contact" in r.text and "<b>x</b>" not in r.text
    assert "must be a date" in r.text and ids_on(r.text) == [c["id"], b["id"], a["id"]]  # defaults stand in

    monkeypatch.setattr(lead_views, "PAGE_SIZE", 2)
    first = client.get(HOME, params={"kind": "contact"}).text
    assert ids_on(first) == [c["id"], b["id"]]
    older = unescape(re.search(r'href="([^"]+)" id="older"', first).group(1))
    assert "kind=contact" in older
    second = client.get(older).text
    assert ids_on(second) == [a["id"]] and 'id="older"' not in second and 'id="newest"' in second


def test_a_rare_filter_reads_a_bounded_number_of_leads_per_page(client: TestClient, shop: dict,
                                                                 monkeypatch) -> None:
    key = shop["key"]
    for i in range(5):
        lead(client, key, email=f"x{i}@example.com", postcode="EH1")
    wanted = lead(client, key, email="w@example.com", consent=False)["id"]  # the newest
    monkeypatch.setattr(domain_leads, "RECENT_SCAN_MAX", 2)
    monkeypatch.setattr(domain_leads, "RECENT_CHUNK", 1)
    login(client, "boss@shop.example")
    html = client.get(HOME, params={"status": "no_consent"}).text
    assert ids_on(html) == [wanted] and 'id="older"' in html  # two read: that one, and one more
    html = client.get(HOME, params={"kind": "purchase"}).text
    assert ids_on(html) == [] and "searched so far" in html
    pages, link = 1, unescape(re.search(r'href="([^"]+)" id="older"', html).group(1))
    while link:  # each page reads two more, newest first, until none is left
        page = client.get(link).text
        assert ids_on(page) == [] and "kind=purchase" in link
        found = re.search(r'href="([^"]+)" id="older"', page)
        link, pages = (unescape(found.group(1)) if found else ""), pages + 1
    assert pages == 4  # six leads, two a page, and the last finds the end


def test_customer_text_is_escaped_and_the_detail_shows_everything(client: TestClient, shop: dict) -> None:
    key = shop["key"]
    x = lead(client, key, email="evil@example.com", name=XSS, comment=f"line one\n{XSS}", company=XSS,
             phone="+44 20 7946 0000", postcode="SW1A 1AA", model="sea-1")
    login(client, "boss@shop.example")
    for path in (HOME, f"{HOME}/{x['id']}"):
        html = client.get(path).text
        assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    html = client.get(f"{HOME}/{x['id']}").text
    for shown in ("evil@example.com", "+44 20 7946 0000", "SW1A1AA", "sea-1", "kayaks", "Ann Seller",
                  "ann@shop.example", "area SW1 and sea-1", "line one"):
        assert shown in html, shown
    assert 'id="visitor-link"' not in html  # a lead from the site's server has no visit
    # a purchase from the page: its order id and the link to the visitor's history
    records(client, key, "customers", [{"id": "cust-77", "email": "g@example.com", "name": "Gus",
                                        "consent": {"sales": True}, "postcode": "SW1 9ZZ"}])
    ingest(client, key, "visitor-0003", [{"t": "pv", "url": "https://shop.example/"}])
    order = {"order_id": "SO-3", "value": 899, "currency": "EUR", "customer_id": "cust-77",
             "items": [{"sku": "SEA-1", "name": "Sea kayak", "qty": 1, "price": "899.00"}]}
    assert post_order(client, key, secret_of(client, key), order).status_code == 201
    [bought] = ids_on(client.get(HOME, params={"kind": "purchase"}).text)
    html = client.get(f"{HOME}/{bought}").text
    assert 'id="order-id">SO-3<' in html
    ingest(client, key, "visitor-0004", [{"t": "pv", "url": "https://shop.example/"}])
    ingest(client, key, "visitor-0004", [{"t": "buy", **order, "order_id": "SO-4"}])
    page = [i for i in ids_on(client.get(HOME, params={"kind": "purchase"}).text) if i != bought]
    html = client.get(f"{HOME}/{page[0]}").text
    assert 'href="/console/visitors/visitor-0004"' in html and "SO-4" in html


def test_the_csv_is_the_filtered_list_and_its_cells_are_safe(client: TestClient, shop: dict) -> None:
    key = shop["key"]
    bad = lead(client, key, email="f@example.com", name=FORMULA, comment="@SUM(A1:A9)", postcode="SW1", model="sea-1")
    lead(client, key, email="g@example.com", name="Plain Pat", consent=False)
    login(client, "boss@shop.example")
    r = client.get(f"{HOME}.csv", params={"path": "territory"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["id"] for row in rows] == [bad["id"]]
    assert rows[0]["name"] == "'" + FORMULA and rows[0]["comment"] == "'@SUM(A1:A9)"
    assert rows[0]["routed_staff_name"] == "Ann Seller" and rows[0]["notified"] == "ann@shop.example"
    assert len(list(csv.DictReader(io.StringIO(client.get(f"{HOME}.csv").text)))) == 2
    assert client.get(f"{HOME}.csv", params={"kind": "nope"}).status_code == 400


# --- territories and addressees -----------------------------------------------------------------

def test_the_territory_table_is_edited_and_saved_whole(client: TestClient, shop: dict) -> None:
    key = shop["key"]
    csrf = login(client, "boss@shop.example")
    html = client.get(ROUTING).text
    assert "No territory table" in html and 'id="row-0"' not in html
    # add a row: shown with a choice of the staff by name, not saved
    r = client.post(ROUTING, data={"csrf": csrf, "op": "add"})
    assert r.status_code == 200 and 'id="row-0"' in r.text and 'id="unsaved"' in r.text
    assert '<option value="ann">Ann Seller (ann)</option>' in r.text
    rows = {"areas": ["SW1, SW2", "EH"], "products": ["kayaks", ""], "staff": ["ann", "bob"]}
    r = client.post(ROUTING, data={"csrf": csrf, **rows, "op": "down:0"})
    assert r.status_code == 200 and r.text.index('value="EH"') < r.text.index('value="SW1, SW2"')
    assert client.get(f"/v1/sites/{key}/territories", headers=admin()).json()["territories"] == []
    # a bad row: its error beside it, nothing saved
    bad = {"areas": ["EH", "", "SW1"], "products": ["", "kayaks", ""], "staff": ["bob", "ann", "ghost"]}
    r = client.post(ROUTING, data={"csrf": csrf, **bad, "op": "save"})
    assert r.status_code == 400
    errors = {int(i): unescape(t) for i, t in re.findall(r'id="row-(\d+)-errors">(.*?)</tr>', r.text, re.S)}
    assert set(errors) == {1, 2} and "name at least one area" in errors[1] and "'ghost'" in errors[2]
    assert 'value="ghost" selected' in r.text  # the unknown id stays chosen so the admin sees it
    assert client.get(f"/v1/sites/{key}/territories", headers=admin()).json()["territories"] == []
    # saved whole, in order; then moved and removed
    good = {"areas": ["EH", "SW1 sw2"], "products": ["", "Kayaks"], "staff": ["bob", "ann"]}
    r = client.post(ROUTING, data={"csrf": csrf, **good, "op": "save"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("saved=territories")
    assert client.get(f"/v1/sites/{key}/territories", headers=admin()).json()["territories"] == [
        {"areas": ["EH"], "products": [], "staff": "bob"},
        {"areas": ["SW1", "SW2"], "products": ["kayaks"], "staff": "ann"}]
    assert "The territory table is saved." in client.get(ROUTING + "?saved=territories").text
    r = client.post(ROUTING, data={"csrf": csrf, **good, "op": "remove:0"})
    assert 'value="EH"' not in r.text and 'id="row-1"' not in r.text
    for op in ("remove:9", "up:x", "delete-all", "add:1"):
        assert client.post(ROUTING, data={"csrf": csrf, **good, "op": op}).status_code == 400, op


def test_extra_addressees_are_checked_and_sales_email_is_always_one(client: TestClient, shop: dict) -> None:
    key = shop["key"]
    r = client.put(f"/v1/sites/{key}/offer-settings", json={"sales_email": "sales@shop.example"}, headers=admin())
    assert r.status_code == 200, r.text
    csrf = login(client, "boss@shop.example")
    html = client.get(ROUTING).text
    sales = re.search(r'id="sales-email">([^<]*)<', html)
    assert sales and "always an addressee" in html
    r = client.post("/console/admin/leads/settings", data={"csrf": csrf, "extra_to": "boss@shop.example\nnot an address"})
    assert r.status_code == 400 and "extra_to[1]" in r.text and "must be an e-mail address" in r.text
    assert "not an address" in r.text  # what was typed stays
    eleven = "\n".join(f"a{i}@shop.example" for i in range(11))
    assert "at most 10" in client.post("/console/admin/leads/settings", data={"csrf": csrf, "extra_to": eleven}).text
    assert client.get(f"/v1/sites/{key}/lead-settings", headers=admin()).json()["extra_to"] == []
    r = client.post("/console/admin/leads/settings", data={"csrf": csrf, "extra_to": "Boss@Shop.example, crm@shop.example"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert client.get(f"/v1/sites/{key}/lead-settings", headers=admin()).json()["extra_to"] == [
        "boss@shop.example", "crm@shop.example"]
    assert "crm@shop.example" in client.get(ROUTING).text


# --- a representative's own leads -----------------------------------------------------------------

def test_a_rep_sees_only_their_own_leads_and_sets_only_their_alerts(client: TestClient, shop: dict) -> None:
    key = shop["key"]
    mine = lead(client, key, email="m@example.com", name="Mine Mo", postcode="SW1", model="sea-1")  # ann: ria
    theirs = lead(client, key, email="t@example.com", name="Their Tia", postcode="EH1", model="sea-1",
                  customer_id="")  # rotation: ann or bob
    assert mine["routed"]["staff"] == "ann"
    before = staff_record(client, key, "ann")
    csrf = login(client, "ria@shop.example")
    html = client.get("/console/leads").text
    assert 'href="/console/leads" aria-current="page"' in html and "Ann Seller" in html
    shown = ids_on(html)
    assert mine["id"] in shown and "Mine Mo" in html
    assert (theirs["id"] in shown) == (theirs["routed"]["staff"] == "ann")
    assert all(x in (mine["id"], theirs["id"]) for x in shown)
    # their own alert choices: only alerts change
    r = client.post("/console/leads/alerts", data={"csrf": csrf, "channels": ["console", "webhook"],
                                                   "events": ["purchase", "customer_needs_help"]},
                    follow_redirects=False)
    assert r.status_code == 303
    after = staff_record(client, key, "ann")
    assert after["alerts"] == {"channels": ["console", "webhook"], "events": ["purchase", "customer_needs_help"]}
    strip = lambda s: {k: v for k, v in s.items() if k not in ("alerts", "updated_ms")}  # noqa: E731
    assert strip(after) == strip(before)
    assert staff_record(client, key, "bob")["alerts"] == before["alerts"]  # Sam's record untouched
    # a choice that is none: refused, shown, nothing written
    r = client.post("/console/leads/alerts", data={"csrf": csrf, "channels": ["sms"], "events": ["new_lead"]})
    assert r.status_code == 400 and "alerts.channels" in r.text
    assert staff_record(client, key, "ann")["alerts"] == after["alerts"]
    # the form names no staff id: a field naming another's is ignored
    client.post("/console/leads/alerts", data={"csrf": csrf, "id": "bob", "channels": ["email"], "events": []})
    assert staff_record(client, key, "bob")["alerts"] == before["alerts"]
    assert staff_record(client, key, "ann")["alerts"] == {"channels": ["email"], "events": []}


def test_a_rep_who_is_not_on_the_staff_is_told_so(client: TestClient, shop: dict) -> None:
    lead(client, shop["key"], email="m@example.com", name="Mine Mo", postcode="SW1", model="sea-1")
    csrf = login(client, "boss@shop.example")
    html = client.get("/console/leads").text
    assert 'id="not-staff"' in html and "Mine Mo" not in html
    r = client.post("/console/leads/alerts", data={"csrf": csrf, "channels": ["email"], "events": ["new_lead"]})
    assert r.status_code == 403 and "not on the sales staff" in r.text


# --- the pure parts -------------------------------------------------------------------------------

def test_queries_ops_and_errors_read_as_the_page_means() -> None:
    now = 1_750_000_000_000
    q, errors = lead_views.parse_query({}, now)
    assert errors == {} and q.to_ms - q.from_ms > 30 * lead_views.DAY_MS and q.params() == {
        "from": q.from_day, "to": q.to_day}
    q, errors = lead_views.parse_query({"from": "2025-02-01", "to": "2025-01-01", "staff": "\x00"}, now)
    assert set(errors) == {"to", "staff"} and q.to_day == "2025-02-01" and q.staff == ""
    x = Lead(id="ld_1", kind="contact", source="api", created_ms=now, staff="ann", path="territory", status="sent")
    assert lead_views.parse_query({"staff": "ann", "kind": "contact"}, now)[0].keeps(x)
    assert not lead_views.parse_query({"status": "nobody"}, now)[0].keeps(x)
    rows = lead_views.table_rows([Territory(("SW1",), (), "ann"), Territory(("EH",), ("kayaks",), "bob")])
    assert lead_views.apply_op(rows, "up:1") == rows[::-1] and lead_views.apply_op(rows, "up:0") == rows
    assert lead_views.apply_op(rows, "down:1") == rows and lead_views.apply_op(rows, "remove:5") is None
    assert lead_views.apply_op(rows, "remove:\u00b2") is None  # a digit to str.isdigit, not to int()
    assert lead_views.form_rows(["a"], [], ["s", "t"])[1] == lead_views.FormRow("", "", "t")
    assert lead_views.row_errors([("[2].staff", "no"), ("", "too many")]) == ({2: ["staff: no"]}, ["too many"])
    assert lead_views.split("SW1, sw2;EH  ") == ["SW1", "sw2", "EH"]


def test_odd_queries_and_ids_get_a_page_never_a_5xx(client: TestClient, shop: dict) -> None:
    lead(client, shop["key"], email="q@example.com")
    login(client, "boss@shop.example")
    odd = ["%ED%A0%80", "\x00", "9" * 30, "-1", "2025-02-30", "0000-01-01", "9999-12-31", "1.", ".x", "1.\x7f",
           "99999999999999999999.a", "x" * 500]
    for value in odd:
        for name in ("from", "to", "kind", "status", "path", "staff", "cursor"):
            for path in (HOME, f"{HOME}.csv"):
                r = client.get(path, params={name: value})
                assert r.status_code in (200, 400), (path, name, value, r.status_code)
        assert client.get("/console/leads", params={"cursor": value}).status_code == 200
        assert client.get(f"{HOME}/{quote(value, safe='')}").status_code in (404, 400)
    for name in ("from", "kind", "staff", "cursor"):  # bytes that are not UTF-8 once decoded
        assert client.get(f"{HOME}?{name}=%ED%A0%80%FF").status_code in (200, 400)
    assert client.get("/console/leads?cursor=%ED%A0%80").status_code == 200
