"""CSV imports of records in the console (/console/admin/records): admins only (auditors read
the counts and export), a preview that writes nothing, a confirmed import in the background
whose progress any poll reads, with a per-row error report and the error rows as a CSV file
that imports back once fixed; another site's admin finds nothing under an import id; no CSRF
token, no import; a worker gone mid-import reads "stopped". Hostile files: tests/test_fuzz.py."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from backend import store
from backend.config import Settings
from backend.core import record_imports as core
from backend.core import records
from backend.domain.record_imports import RecordImports
from backend.domain import records as domain_records
from backend.domain.records import Records
from tests.helpers import ORIGIN, PASSWORD, admin, make_rep

PAGE = "/console/admin/records"
GOOD = [f"c{i},c{i}@shop.example,Customer {i},yes" for i in range(1, 6)]
MIXED = "\r\n".join(["id,email,name,consent_sales",
                     GOOD[0], GOOD[1],
                     "c90,not-an-email,<b>Bad</b>,yes",  # row 4
                     GOOD[2],
                     '"c91","c91@shop.example","=HYPERLINK(""http://evil.example"")",perhaps',  # row 6
                     "", GOOD[3], GOOD[4]]) + "\r\n"  # a blank line: rows 8 and 9 keep the spreadsheet's numbers


def login(client: TestClient, email: str) -> str:
    """Logs in (replacing any session); the session's CSRF token (from the logout form)."""
    client.cookies.clear()
    form = client.get("/console/login").text
    r = client.post("/console/login", data={"csrf": re.search(r'name="csrf" value="([^"]+)"', form).group(1),
                                            "email": email, "password": PASSWORD, "next": "/console/"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/console/profile").text
                     if "auditor" not in email else client.get("/console/reports").text).group(1)


def preview(client: TestClient, csrf: str | None, body: bytes | str, kind: str = "customers"):
    headers = {"Content-Type": "text/csv"} | ({"X-CSRF-Token": csrf} if csrf is not None else {})
    return client.post(f"{PAGE}/{kind}/preview", content=body.encode() if isinstance(body, str) else body,
                       headers=headers)


def confirm(client: TestClient, csrf: str | None, iid: str):
    return client.post(f"{PAGE}/imports/{iid}", headers={"X-CSRF-Token": csrf} if csrf is not None else {})


def finished(client: TestClient, iid: str, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"{PAGE}/imports/{iid}")
        assert r.status_code == 200, r.text
        if r.json()["state"] != "running":
            return r.json()
        assert time.monotonic() < deadline, r.json()
        time.sleep(0.05)


def count(client: TestClient, key: str, kind: str = "customers") -> int:
    r = client.get(f"/v1/sites/{key}/records/{kind}", params={"limit": 1000}, headers=admin())
    return len(r.json()["records"])


@pytest.fixture()
def shop(client: TestClient, site: dict) -> dict:
    key = site["key"]
    make_rep(client, key, email="boss@shop.example", role="admin", name="Bea Boss")
    make_rep(client, key, email="ria@shop.example", name="Ria Rep")
    make_rep(client, key, email="auditor@shop.example", role="auditor", name="Aud Itor")
    return {"key": key}


# --- who may ----------------------------------------------------------------------------------

def test_the_page_is_for_admins_and_auditors_read_it(client: TestClient, shop: dict) -> None:
    r = client.get(PAGE, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    assert preview(client, "x", "id\nc1\n").status_code == 401

    rep_csrf = login(client, "ria@shop.example")
    assert client.get(PAGE).status_code == 403
    assert client.get(f"{PAGE}/customers.csv").status_code == 403
    r = preview(client, rep_csrf, "id\nc1\n")
    assert r.status_code == 403 and r.json()["error"]

    aud_csrf = login(client, "auditor@shop.example")
    page = client.get(PAGE)
    assert page.status_code == 200 and 'id="count-customers"' in page.text
    assert 'href="/console/admin/records/staff.csv"' in page.text
    assert 'id="import"' not in page.text and "records.js" not in page.text  # no upload for an auditor
    r = client.get(f"{PAGE}/customers.csv")
    assert r.status_code == 200 and r.text.startswith("id,email,") and "attachment" in r.headers["content-disposition"]
    assert preview(client, aud_csrf, "id\nc1\n").status_code == 403
    assert client.get(f"{PAGE}/imports/abcdefghijkl").status_code == 403

    boss_csrf = login(client, "boss@shop.example")
    page = client.get(PAGE)
    assert page.status_code == 200 and 'id="import"' in page.text and f'data-csrf="{boss_csrf}"' in page.text
    assert 'href="/console/admin/records" aria-current="page"' in page.text
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    assert client.get(f"{PAGE}/orders.csv").status_code == 404
    assert preview(client, boss_csrf, "id\nc1\n", kind="orders").status_code == 404


def test_without_the_csrf_token_nothing_is_previewed_or_started(client: TestClient, shop: dict) -> None:
    csrf = login(client, "boss@shop.example")
    assert preview(client, None, MIXED).status_code == 403
    assert preview(client, "not-the-token-at-all-000", MIXED).status_code == 403
    iid = preview(client, csrf, MIXED).json()["import"]
    for token in (None, "not-the-token-at-all-000"):
        r = confirm(client, token, iid)
        assert r.status_code == 403 and "expired" in r.json()["error"]
    assert client.get(f"{PAGE}/imports/{iid}").status_code == 404  # never started
    assert count(client, shop["key"]) == 0


# --- preview, import, report -------------------------------------------------------------------

def test_a_preview_lists_the_problems_and_writes_nothing(client: TestClient, shop: dict) -> None:
    csrf = login(client, "boss@shop.example")
    r = preview(client, csrf, "\ufeff" + MIXED)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["columns"] == ["id", "email", "name", "consent_sales"]
    assert body["total"] == 7 and body["with_errors"] == 2 and body["problems"] == []
    assert [row["row"] for row in body["rows"]] == [2, 3, 4, 5, 6, 8, 9]
    bad = {row["row"]: row for row in body["rows"] if row["errors"]}
    assert bad[4]["errors"] == [{"path": "email", "message": "must be an e-mail address such as ada@example.com"}]
    assert bad[4]["cells"] == ["c90", "not-an-email", "<b>Bad</b>", "yes"]  # as text: the page never parses it
    assert bad[6]["errors"] == [{"path": "consent_sales", "message": "must be yes or no (true/false, 1/0)"}]
    assert bad[6]["cells"][2] == '=HYPERLINK("http://evil.example")'
    assert count(client, shop["key"]) == 0


def test_the_first_twenty_rows_are_shown_and_long_cells_cut(client: TestClient, shop: dict) -> None:
    csrf = login(client, "boss@shop.example")
    text = "id,name\n" + "".join(f"c{i},{'x' * 5000 if i == 1 else 'N'}\n" for i in range(1, 31))
    body = preview(client, csrf, text).json()
    assert body["total"] == 30 and len(body["rows"]) == core.PREVIEW_ROWS
    assert len(body["rows"][0]["cells"][1]) == core.CELL_SHOWN + 1


@pytest.mark.parametrize("body,status,says", [
    (b"id,email\nc1,\xff@x.example\n", 400, "not UTF-8 (byte 0xff at offset"),
    (b"id,email\nc1,\xed\xa0\x80@x.example\n", 400, "not UTF-8"),  # a lone surrogate, encoded anyway
    (b"id,email,colour\nc1,a@b.example,red\n", 400, "unknown column 'colour'"),
    (b"", 400, "the file is empty"),
    (b"id,email\n", 400, "no rows below its header"),
    (b'id,email\n"c1,unclosed' + b"x" * 200_000 + b"\n", 400, "is not CSV"),
    (b"id\n" + b"x\n" * (2 * 1024 * 1024 + 1), 413, "at most 4 MiB"),
])
def test_a_file_that_cannot_be_imported_says_why(client: TestClient, shop: dict, body: bytes, status: int,
                                                  says: str) -> None:
    csrf = login(client, "boss@shop.example")
    r = preview(client, csrf, body)
    assert r.status_code == status, r.text
    answer = r.json()
    assert says in answer["error"] + " ".join(p["message"] for p in answer.get("problems", []))
    assert "import" not in answer


def test_a_confirmed_import_stores_the_good_rows_and_reports_the_bad(client: TestClient, shop: dict) -> None:
    key = shop["key"]
    csrf = login(client, "boss@shop.example")
    iid = preview(client, csrf, MIXED).json()["import"]
    r = confirm(client, csrf, iid)
    assert r.status_code == 202 and r.json()["total"] == 7 and r.json()["state"] == "running"
    done = finished(client, iid)
    assert {k: done[k] for k in ("state", "done", "total", "created", "updated", "unchanged", "errors")} == {
        "state": "finished", "done": 7, "total": 7, "created": 5, "updated": 0, "unchanged": 0, "errors": 2}
    assert [(row["row"], row["id"], [e["path"] for e in row["errors"]]) for row in done["report"]] == [
        (4, "c90", ["email"]), (6, "c91", ["consent_sales"])]
    assert done["report_total"] == 2 and done["error_file"] == f"{PAGE}/imports/{iid}/errors.csv"
    assert count(client, key) == 5
    assert client.get(f"/v1/sites/{key}/records/customers/c90", headers=admin()).status_code == 404

    again = confirm(client, csrf, iid)  # a second click: the same import, not a second one
    assert again.status_code == 202 and again.json()["created"] == 5

    r = client.get(done["error_file"])
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["id", "email", "name", "consent_sales", "errors"]
    assert rows[1][:4] == ["c90", "not-an-email", "<b>Bad</b>", "yes"] and rows[1][4].startswith("row 4: email: ")
    assert rows[2][2] == "'=HYPERLINK(\"http://evil.example\")"  # safe in a spreadsheet, read back as written
    fixed = r.text.replace("not-an-email", "c90@shop.example").replace(",perhaps,", ",no,")
    iid2 = preview(client, csrf, fixed).json()["import"]
    assert finished(client, confirm(client, csrf, iid2).json()["id"])["created"] == 2
    stored = client.get(f"/v1/sites/{key}/records/customers/c91", headers=admin()).json()
    assert stored["name"] == '=HYPERLINK("http://evil.example")' and stored["consent"]["sales"] is False

    page = client.get(PAGE)
    assert re.search(r'id="count-customers">\s*<td>Customers</td>\s*<td class="n">7</td>', page.text)


def test_a_new_preview_replaces_the_one_waiting(client: TestClient, shop: dict) -> None:
    csrf = login(client, "boss@shop.example")
    first = preview(client, csrf, MIXED).json()["import"]
    second = preview(client, csrf, "model,name\np1,Paddle\n", kind="products").json()
    assert second["total"] == 1
    r = confirm(client, csrf, first)
    assert r.status_code == 404 and "upload the file again" in r.json()["error"]
    assert finished(client, confirm(client, csrf, second["import"]).json()["id"])["kind"] == "products"


def test_another_sites_admin_finds_nothing_under_an_import_id(client: TestClient, shop: dict) -> None:
    r = client.post("/v1/sites", json={"name": "Other", "origins": [ORIGIN]}, headers=admin())
    make_rep(client, r.json()["key"], email="other@shop2.example", role="admin", name="Other Boss")
    make_rep(client, shop["key"], email="boss2@shop.example", role="admin", name="Second Boss")
    csrf = login(client, "boss@shop.example")
    waiting = preview(client, csrf, MIXED).json()["import"]
    iid = preview(client, csrf, MIXED).json()["import"]
    finished(client, confirm(client, csrf, iid).json()["id"])

    other = login(client, "other@shop2.example")
    for path in (f"{PAGE}/imports/{iid}", f"{PAGE}/imports/{iid}/errors.csv"):
        assert client.get(path).status_code == 404
    assert confirm(client, other, waiting).status_code == 404
    assert count(client, r.json()["key"]) == 0

    second = login(client, "boss2@shop.example")  # the same site: reads the progress, cannot start another's file
    assert client.get(f"{PAGE}/imports/{iid}").json()["state"] == "finished"
    assert confirm(client, second, waiting).status_code == 404

    login(client, "ria@shop.example")
    assert client.get(f"{PAGE}/imports/{iid}").status_code == 403
    for bad in ("x", "%ED%A0%80", "a" * 80):
        login(client, "boss@shop.example")
        assert client.get(f"{PAGE}/imports/{bad}").status_code == 404


# --- the worker goes away --------------------------------------------------------------------

class SlowRecords(Records):
    async def _batch(self, *args: Any, **kw: Any) -> Any:
        await asyncio.sleep(0.2)
        return await super()._batch(*args, **kw)


def test_an_import_whose_worker_went_away_reads_stopped(settings: Settings, redis_client: Any) -> None:
    text = "id,email\n" + "".join(f"c{i},c{i}@shop.example\n" for i in range(3000))

    async def main() -> None:
        redis = store.connect(settings)
        await store.prepare(redis)
        imports = RecordImports(redis, SlowRecords(redis), beat_s=0.1)
        try:
            iid, _ = await imports.preview("site-0001", "rep-0001", "customers", text)
            await imports.start("site-0001", "rep-0001", iid)
            while (p := await imports.progress("site-0001", iid)).done < 500:
                await asyncio.sleep(0.05)
            beat = p.beat_ms
            await asyncio.sleep(0.4)
            alive = await imports.progress("site-0001", iid)
            assert alive.beat_ms > beat and alive.as_json(imports.now_ms())["state"] == "running"
            await imports.stop()  # as a restart does: the task ends, nothing marks it
            gone = await imports.progress("site-0001", iid)
            await asyncio.sleep(0.3)
            assert (await imports.progress("site-0001", iid)).beat_ms == gone.beat_ms  # no heartbeat any more
            assert not gone.finished and 500 <= gone.done < 3000
            assert gone.as_json(gone.beat_ms + core.STALE_MS + 1)["state"] == "stopped"
            # whole batches only; the last one written may not have reached the progress when
            # the task was cut between the batch's transaction and the progress's write
            stored = await Records(redis).count("site-0001", "customers")
            assert stored % domain_records.BATCH == 0 and gone.done <= stored <= gone.done + domain_records.BATCH
        finally:
            await redis.aclose()

    asyncio.run(main())


# --- the pure part ---------------------------------------------------------------------------

def test_the_error_file_names_the_rows_read_csv_numbered_and_imports_back() -> None:
    text = ('id,email,name\n"c1","a@x.example","two\nlines"\n\n'
            "c2,bad,'=1+1\nc3,c@x.example,-5 EUR\nc4,worse,@SUM(A1)\n")
    found = records.read_csv("customers", text)
    report = {r.number: r.errors for r in found if r.errors}
    assert sorted(report) == [4, 6]
    rows = list(csv.reader(io.StringIO(core.error_file(text, report))))
    assert rows[0] == ["id", "email", "name", "errors"]
    assert [r[:3] for r in rows[1:]] == [["c2", "bad", "'=1+1"], ["c4", "worse", "'@SUM(A1)"]]
    again = records.read_csv("customers", core.error_file(text, report))
    assert [(r.number, r.label) for r in again] == [(2, "c2"), (3, "c4")]  # the errors column is ignored
    assert [r.row.record.name for r in records.read_csv("customers", core.error_file(text, report).replace(
        "bad", "b@x.example").replace("worse", "w@x.example"))] == ["=1+1", "@SUM(A1)"]


def test_progress_counts_and_states() -> None:
    assert core.counts(["created", "error", "unchanged", "created"]) == {
        "done": 4, "created": 2, "updated": 0, "unchanged": 1, "errors": 1}
    p = core.Progress("i", "customers", 10, done=4, beat_ms=1000)
    assert p.as_json(1000 + core.STALE_MS)["state"] == "running"
    assert p.as_json(1001 + core.STALE_MS)["state"] == "stopped"
    assert core.Progress("i", "staff", 1, 1, finished=True).as_json(10**12)["state"] == "finished"
