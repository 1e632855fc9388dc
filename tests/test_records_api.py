"""Customers, staff and products over the site API and in Redis (domain/records.py): upserts
idempotent by id, then e-mail, with a row error rather than a merge of two customers; CSV
imports where good rows are stored beside bad ones reported by row number, and nothing of a
bad row is written; an export that imports back as unchanged and runs no formula; another
site's key sees and changes nothing; ten thousand customers in one upsert."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from typing import Any, Awaitable, Callable

import pytest
from starlette.testclient import TestClient

from backend import store
from backend.config import Settings
from backend.domain import records as domain
from backend.domain.records import Records
from tests.helpers import admin


NUMBERS = re.compile(r"[+-]?[0-9.]+( [+-]?[0-9.]+)*")  # what a spreadsheet reads as numbers, never as a call


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def url(key: str, kind: str = "customers") -> str:
    return f"/v1/sites/{key}/records/{kind}"


def upsert(client: TestClient, key: str, kind: str, rows: list, headers: dict | None = None) -> list[dict]:
    r = client.post(url(key, kind), json={"records": rows}, headers=headers or admin())
    assert r.status_code == 200, r.text
    return r.json()["results"]


def statuses(results: list[dict]) -> list[str]:
    return [r["status"] for r in results]


def import_csv(client: TestClient, key: str, kind: str, text: str | bytes, headers: dict | None = None):
    body = text.encode() if isinstance(text, str) else text
    return client.post(url(key, kind) + ".csv", content=body,
                       headers={**(headers or admin()), "Content-Type": "text/csv; charset=utf-8"})


def with_records(settings: Settings, fn: Callable[[Records], Awaitable[Any]], **kw: Any) -> Any:
    async def main() -> Any:
        redis = store.connect(settings)
        await store.prepare(redis)
        try:
            return await fn(Records(redis, **kw))
        finally:
            await redis.aclose()

    return asyncio.run(main())


STAFF = [{"id": "s1", "name": "Sam", "email": "sam@shop.example", "areas": ["SW1"], "products": ["kayaks"]},
         {"id": "s2", "name": "Kim", "email": "kim@shop.example"}]


def test_an_upsert_is_idempotent_by_id_then_email(client: TestClient, site: dict) -> None:
    key = site["key"]
    assert statuses(upsert(client, key, "staff", STAFF)) == ["created", "created"]
    rows = [{"id": "c1", "email": "Ada@X.example", "name": "Ada", "assigned_staff": "s1",
             "consent": {"sales": True}},
            {"email": "bob@x.example", "name": "Bob", "products_owned": [{"model": "KX-1", "date": "2024-05-01"}]}]
    first = upsert(client, key, "customers", rows)
    assert first == [{"row": 0, "status": "created", "id": "c1", "errors": []},
                     {"row": 1, "status": "created", "id": "bob@x.example", "errors": []}]
    assert statuses(upsert(client, key, "customers", rows)) == ["unchanged", "unchanged"]
    stored = client.get(url(key) + "/c1", headers=admin()).json()
    written = stored["updated_ms"]
    assert stored["email"] == "ada@x.example" and stored["consent"] == {"sales": True, "marketing": False}

    # by e-mail: the customer without an id is updated, then takes an id; by id after that
    later = upsert(client, key, "customers", [{"email": "BOB@x.example", "phone": "+44 20 7946 0000"},
                                              {"id": "c2", "email": "bob@x.example"},
                                              {"id": "c2", "name": "Robert"}])
    assert statuses(later) == ["updated", "updated", "updated"]
    bob = client.get(url(key) + "/c2", headers=admin()).json()
    assert (bob["name"], bob["phone"], bob["products_owned"][0]["model"]) == ("Robert", "+44 20 7946 0000", "kx-1")
    assert client.get(url(key) + "/bob@x.example", headers=admin()).json()["id"] == "c2"

    # an id of one customer with another's e-mail is a row error; the other rows go on
    mixed = upsert(client, key, "customers", [{"id": "c2", "email": "ada@x.example", "name": "Merged?"},
                                              {"id": "c1", "assigned_staff": "nobody"},
                                              {"id": "c3", "email": "cy@x.example"},
                                              {"id": "c4", "email": "not an address", "colour": 1}])
    assert statuses(mixed) == ["error", "error", "created", "error"]
    assert mixed[0]["errors"][0]["path"] == "email" and "(c1)" in mixed[0]["errors"][0]["message"]
    assert mixed[1]["errors"] == [{"path": "assigned_staff", "message": "no staff member has this id; add the staff "
                                                                        "first"}]
    assert [e["path"] for e in mixed[3]["errors"]] == ["colour", "email"] and mixed[3]["id"] == "c4"
    assert client.get(url(key) + "/c2", headers=admin()).json()["name"] == "Robert"
    assert client.get(url(key) + "/c1", headers=admin()).json()["updated_ms"] == written
    assert client.get(url(key) + "/c4", headers=admin()).status_code == 404

    # an e-mail moves with its customer: the old one is free again
    assert statuses(upsert(client, key, "customers", [{"id": "c3", "email": "cyril@x.example"},
                                                      {"id": "c5", "email": "cy@x.example"}])) == ["updated", "created"]
    page = client.get(url(key), params={"limit": 2}, headers=admin()).json()
    assert [r["id"] for r in page["records"]] == ["c1", "c2"] and page["cursor"]
    rest = client.get(url(key), params={"cursor": page["cursor"]}, headers=admin()).json()
    assert [r["id"] for r in rest["records"]] == ["c3", "c5"] and rest["cursor"] == ""

    deleted = client.delete(url(key) + "/c5", headers=admin())
    assert deleted.status_code == 200 and deleted.json()["email"] == "cy@x.example"
    assert client.get(url(key) + "/c5", headers=admin()).status_code == 404
    assert statuses(upsert(client, key, "customers", [{"id": "c6", "email": "cy@x.example"}])) == ["created"]


def test_the_api_refuses_what_it_cannot_read(client: TestClient, site: dict) -> None:
    key = site["key"]
    for body in (b"[]", b'{"records": {}}', b'{"records": [], "x": 1}', b"{" * 3000, b'{"records": ["\\ud800"]}'):
        r = client.post(url(key), content=body, headers=admin())
        assert r.status_code == 400 and r.json()["error"], body
    r = client.post(url(key), json={"records": [{}] * 1001}, headers=admin())
    assert r.status_code == 413 and "1000" in r.json()["error"]
    assert client.get(f"/v1/sites/{key}/records/orders", headers=admin()).status_code == 404
    assert client.post(f"/v1/sites/{key}/records/orders", json={"records": []}, headers=admin()).status_code == 404
    assert client.get(url(key), params={"format": "xml"}, headers=admin()).status_code == 400
    assert client.get(url(key), params={"limit": "0"}, headers=admin()).status_code == 400
    assert client.get(url(key) + "/nobody", headers=admin()).status_code == 404
    assert client.delete(url(key, "products") + "/nothing", headers=admin()).status_code == 404
    r = client.post(url(key), json={"records": [{"id": "c1", "price": 1}, 5, None]}, headers=admin())
    assert [x["status"] for x in r.json()["results"]] == ["error", "error", "error"]


def test_a_csv_import_stores_the_good_rows_and_reports_the_bad(client: TestClient, site: dict) -> None:
    key = site["key"]
    upsert(client, key, "staff", STAFF)
    text = ("id,email,name,phone,assigned_staff,consent_sales,products_owned\r\n"
            "c1,ada@x.example,Ada,+44 20 7946 0000,s1,yes,kx-1@2024-05-01;paddle\r\n"
            "c2,bob@x.example,Bob,call me,s2,maybe,kx-1@yesterday\r\n"
            "c3,cy@x.example,Cy,,nobody,no,\r\n"
            ",dee@x.example,Dee,,,,\r\n"
            "c5,ada@x.example,Not Ada,,,,\r\n")
    r = import_csv(client, key, "customers", "\ufeff" + text)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [(x["row"], x["status"], x["id"]) for x in results] == [
        (2, "created", "c1"), (3, "error", "c2"), (4, "error", "c3"), (5, "created", "dee@x.example"),
        (6, "error", "c5")]
    assert [e["path"] for e in results[1]["errors"]] == ["consent_sales", "phone", "products_owned[0].date"]
    assert all(e["message"] for x in results for e in x["errors"])
    assert r.json()["counts"] == {"created": 2, "updated": 0, "unchanged": 0, "error": 3}
    for absent in ("c2", "c3", "c5", "bob@x.example"):  # nothing of a bad row is written
        assert client.get(url(key) + "/" + absent, headers=admin()).status_code == 404
    assert client.get(url(key) + "/c1", headers=admin()).json()["name"] == "Ada"

    # the file as a whole: not UTF-8, no known header, a broken quote, too large, not CSV
    r = import_csv(client, key, "customers", b"id,email\r\nc9,caf\xe9@x.example\r\n")
    assert r.status_code == 400 and "UTF-8" in r.json()["error"]
    r = import_csv(client, key, "customers", "name,colour\nAda,red\n")
    assert r.status_code == 400 and [e["field"] for e in r.json()["errors"]] == ["column 2", "header"]
    r = import_csv(client, key, "customers", "id,email\n" + "c1," + "x" * 200_000 + "\n")
    assert r.status_code == 400 and r.json()["errors"]
    r = client.post(url(key) + ".csv", content=b"id\nc1\n", headers={**admin(), "Content-Type": "image/png"})
    assert r.status_code == 415
    r = client.post(url(key) + ".csv", content=b"x" * (4 * 1024 * 1024 + 1), headers={**admin(),
                                                                                     "Content-Type": "text/csv"})
    assert r.status_code == 413
    assert import_csv(client, key, "stuff", "id\n").status_code == 404


def test_an_export_imports_back_unchanged_and_runs_no_formula(client: TestClient, site: dict) -> None:
    key = site["key"]
    upsert(client, key, "staff", [{"id": "=s1", "name": "@boss", "email": "s@x.example", "areas": ["SW1", "75"],
                                   "products": ["kayaks"], "alerts": {"channels": ["email", "webhook"]},
                                   "schedule": {"timezone": "Europe/Paris", "hours": {"mon": ["09:00-17:00"]},
                                                "days_off": ["2025-12-25"]}, "rep": "rep-00000001"}])
    upsert(client, key, "products", [{"model": "KX-1", "name": "=1+2", "category": "Kayaks", "price": 1299.5,
                                      "currency": "EUR", "related": {"options": ["deck"], "expendables": ["wax"]}}])
    upsert(client, key, "customers", [
        {"id": "c1", "email": "ada@x.example", "name": '=HYPERLINK("http://evil.example","x")', "phone": "+1 555",
         "assigned_staff": "=s1", "consent": {"sales": True}, "products_owned": ["kx-1"]},
        {"email": "nobody@x.example", "name": "-1 =cmd|' /C calc'!A0"}, {"id": "c3", "name": "'=quoted"}])
    for kind, count in (("customers", 3), ("staff", 1), ("products", 1)):
        r = client.get(url(key, kind), params={"format": "csv"}, headers=admin())
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/csv")
        assert r.headers["content-disposition"] == f'attachment; filename="{kind}.csv"'
        lines = list(csv.reader(io.StringIO(r.text)))
        assert len(lines) == count + 1
        assert not any(c[:1] in ("=", "@", "\t", "\r") or c[:1] in ("+", "-") and not NUMBERS.fullmatch(c)
                       for line in lines for c in line), lines
        again = import_csv(client, key, kind, r.content)
        assert again.status_code == 200, again.text
        assert statuses(again.json()["results"]) == ["unchanged"] * count, again.text
    assert client.get(url(key) + "/c1", headers=admin()).json()["name"] == '=HYPERLINK("http://evil.example","x")'
    assert client.get(url(key, "products") + "/kx-1", headers=admin()).json()["price"] == "1299.50"


def test_another_sites_key_reads_and_writes_nothing(client: TestClient, site: dict) -> None:
    key = site["key"]
    other = client.post("/v1/sites", json={"name": "Other", "origins": ["https://other.example"]},
                        headers=admin()).json()["key"]
    mine = client.post(f"/v1/sites/{key}/api-keys", json={"label": "crm"}, headers=admin()).json()["key"]
    theirs = client.post(f"/v1/sites/{other}/api-keys", json={"label": "crm"}, headers=admin()).json()["key"]
    assert statuses(upsert(client, key, "customers", [{"id": "c1", "email": "ada@x.example"}],
                           bearer(mine))) == ["created"]
    calls = [("GET", url(key), None), ("GET", url(key) + "?format=csv", None), ("GET", url(key) + "/c1", None),
             ("DELETE", url(key) + "/c1", None), ("POST", url(key), b'{"records": [{"id": "c1", "name": "X"}]}'),
             ("POST", url(key) + ".csv", b"id,name\nc1,X\n")]
    for method, path, body in calls:
        r = client.request(method, path, content=body, headers={**bearer(theirs), "Content-Type": "text/csv"})
        assert r.status_code == 404 and r.json() == {"error": "no such site"}, (method, path)
        assert client.request(method, path, content=body, headers={"Content-Type": "text/csv"}).status_code == 401
    assert client.get(url(key) + "/c1", headers=bearer(mine)).json()["name"] == ""
    assert client.get(url(other), headers=bearer(theirs)).json() == {"records": [], "cursor": ""}
    # the same id in the other site is another customer
    assert statuses(upsert(client, other, "customers", [{"id": "c1", "email": "ada@x.example", "name": "B"}],
                           bearer(theirs))) == ["created"]
    assert client.get(url(key) + "/c1", headers=bearer(mine)).json()["name"] == ""


def test_ten_thousand_customers_in_one_upsert(settings: Settings, redis_client) -> None:
    rows = [{"id": f"cust-{i:05d}", "email": f"c{i}@x.example", "name": f"Customer {i}",
             "products_owned": [{"model": "kx-1", "date": "2024-05-01"}], "consent": {"sales": i % 2 == 0}}
            for i in range(10_000)]
    rows[1234] = {"id": "cust-01234", "email": "not an address"}
    rows[5000] = {"id": "cust-05000", "email": "c1@x.example"}  # another row's e-mail

    async def run(records: Records) -> tuple:
        first = await records.upsert("site-records-big", "customers", rows)
        again = await records.upsert("site-records-big", "customers", rows)
        count = await records.count("site-records-big", "customers")
        one = await records.find_customer("site-records-big", email="C9999@x.example")
        exported = "".join([chunk async for chunk in records.export_csv("site-records-big", "customers")])
        return first, again, count, one, exported

    first, again, count, one, exported = with_records(settings, run)
    assert [r.status for r in first].count("created") == 9998
    assert [r.row for r in first if r.status == "error"] == [1234, 5000]
    assert [r.status for r in again].count("unchanged") == 9998
    assert count == 9998 and one is not None and one.id == "cust-09999"
    assert len(exported.splitlines()) == 9999


def test_caps_concurrent_imports_and_a_held_lock(settings: Settings, redis_client, monkeypatch) -> None:
    async def run(records: Records) -> tuple:
        capped = await records.upsert("site-cap", "products", [{"model": f"m{i}"} for i in range(5)])
        # two imports at once that each claim one e-mail under a different id: one wins
        a, b = await asyncio.gather(records.upsert("site-cap", "customers", [{"id": "a", "email": "x@y.example"}]),
                                    records.upsert("site-cap", "customers", [{"id": "b", "email": "x@y.example"}]))
        # an import that cannot get the lock in time reports its rows, and writes none of them
        held = records._lock("site-cap", "staff")
        assert await held.acquire()
        waited = await records.upsert("site-cap", "staff", [{"id": "s1", "email": "s@x.example"}, {"id": ""}])
        await held.release()
        return capped, a + b, await records.count("site-cap", "customers"), waited, \
            await records.count("site-cap", "staff")

    monkeypatch.setattr(domain, "LOCK_WAIT_S", 0.3)
    capped, raced, count, waited, staff = with_records(settings, run, caps={"customers": 10, "staff": 10,
                                                                           "products": 3})
    assert [r.status for r in capped] == ["created"] * 3 + ["error"] * 2
    assert "at most 3 products" in capped[3].errors[0][1]
    assert sorted(r.status for r in raced) == ["created", "error"] and count == 1
    assert [(r.status, r.id) for r in waited] == [("error", "s1"), ("error", "")] and staff == 0
    assert "send this row again" in waited[0].errors[0][1] and waited[1].errors[0][0] == "id"


@pytest.mark.parametrize("kind", ["customers", "staff", "products"])
def test_each_kind_round_trips_its_json(client: TestClient, site: dict, kind: str) -> None:
    key = site["key"]
    row = {"customers": {"id": "c1", "email": "a@x.example"}, "staff": {"id": "s1", "email": "s@x.example"},
           "products": {"model": "m1", "price": "10", "currency": "JPY"}}[kind]
    assert statuses(upsert(client, key, kind, [row])) == ["created"]
    stored = client.get(url(key, kind), headers=admin()).json()["records"][0]
    stored.pop("updated_ms")
    assert statuses(upsert(client, key, kind, [stored])) == ["unchanged"]
