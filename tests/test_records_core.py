"""The records' pure part (core/records.py): rows read with every problem listed and nothing
raised on hostile input; what an upsert does (by id, then e-mail; never a silent merge of two
customers); CSV read and written so that an export imports back unchanged and no cell runs as
a formula."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timezone
from decimal import Decimal

from hypothesis import HealthCheck, given, settings, strategies as st

from backend.core import records as core
from backend.core.records import Customer, Product, Staff
from tests.helpers import deep, hostile_json, hostile_text

NUMBERS = re.compile(r"[+-]?[0-9.]+( [+-]?[0-9.]+)*")  # what a spreadsheet reads as numbers, never as a call
NOW = 1_750_000_000_000
HOSTILE = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


def row(kind: str, data: dict) -> core.Row:
    found = core.parse(kind, data)
    assert isinstance(found, core.Row), found
    return found


def created(kind: str, data: dict) -> core.Record:
    decision = core.decide(row(kind, data), None, None, NOW)
    assert decision.status == "created", decision
    return decision.record


def test_a_customer_row_is_normalised() -> None:
    found = row("customers", {"id": " C-1 ", "email": "Ada@Shop.Example", "name": " Ada  Lovelace ",
                              "phone": "+44 (0)20 7946-0000", "postcode": "sw1a  1aa", "area_code": "sw",
                              "products_owned": ["KX 200", {"model": "Paddle", "date": "2024-05-01"}],
                              "consent": {"sales": True}, "updated_ms": 5})
    c = found.record
    assert isinstance(c, Customer)
    assert (c.id, c.email, c.name, c.postcode, c.area_code) == ("C-1", "ada@shop.example", "Ada Lovelace",
                                                               "SW1A 1AA", "SW")
    assert c.products_owned == (core.Owned("kx 200"), core.Owned("paddle", "2024-05-01"))
    assert c.consent == core.Consent(sales=True, marketing=False) and c.updated_ms == 0  # the server's to set
    assert found.given == {"id", "email", "name", "phone", "postcode", "area_code", "products_owned", "consent.sales"}


def test_every_problem_of_a_row_is_listed() -> None:
    found = core.parse("customers", {"email": "nope", "phone": "call me", "products_owned": [{"model": "a;b",
                                     "date": "2024-02-30"}], "consent": {"sales": "yes", "x": 1}, "colour": "red"})
    assert [p for p, _ in found] == ["colour", "email", "phone", "products_owned[0].model",
                                     "products_owned[0].date", "consent.x"]
    assert core.parse("customers", {"name": "Ada"}) == [("id", "a customer needs an id or an e-mail")]
    assert [p for p, _ in core.parse("staff", {"id": "s1", "alerts": {"channels": ["sms"], "events": ["x"]},
                                               "schedule": {"timezone": "Mars/Base"}, "rep": "x",
                                               "areas": [""] })] == \
        ["areas[0]", "alerts.channels[0]", "alerts.events[0]", "schedule.timezone", "rep"]
    assert [p for p, _ in core.parse("products", {"model": "x", "price": "1.999", "currency": "EUR",
                                                  "related": {"options": ["a"] * 51}})] == ["related.options"]
    assert core.parse("products", {"model": "x", "price": "1.999", "currency": "EUR"}) == \
        [("price", "has more than 2 decimals (EUR has 2)")]
    assert core.parse("products", {"model": "x", "price": "10"}) == [("currency", "is required with a price")]
    assert core.parse("nope", {}) == [("", "unknown kind; known: customers, staff, products")]


def test_a_product_price_is_read_as_its_currency_has_it() -> None:
    p = row("products", {"model": "KX-200", "name": "Kayak", "category": "Sea Kayaks", "price": "1299.5",
                         "currency": "eur", "related": {"attachments": ["Rudder"], "options": ["Spray Deck"]}}).record
    assert isinstance(p, Product)
    assert (p.model, p.category, p.price, p.currency) == ("kx-200", "sea kayaks", Decimal("1299.50"), "EUR")
    assert p.related == core.Related(("rudder",), (), ("spray deck",))
    assert row("products", {"model": "x", "price": 300, "currency": "JPY"}).record.price == Decimal("300")
    assert core.parse("products", {"model": "x", "price": "1.5", "currency": "JPY"})[0][0] == "price"


def test_staff_working_hours_are_a_reps_schedule() -> None:
    s = created("staff", {"id": "s1", "email": "s@x.example", "areas": ["sw1", "75"], "products": ["Kayaks"],
                          "schedule": {"timezone": "Europe/Paris", "hours": {"mon": ["09:00-17:00"]}}})
    assert isinstance(s, Staff) and s.areas == ("SW1", "75") and s.products == ("kayaks",)
    assert s.alerts == core.Alerts(("email",), core.ALERT_EVENTS) and s.active
    monday_10 = datetime(2025, 6, 2, 8, 0, tzinfo=timezone.utc)  # 10:00 in Paris
    assert s.on_duty(monday_10) and not s.on_duty(monday_10.replace(hour=18))
    always = created("staff", {"id": "s2", "email": "t@x.example"})
    assert always.on_duty(monday_10.replace(hour=3))


# --- hostile input ----------------------------------------------------------------------------


def problems_or_row(found: object) -> None:
    if isinstance(found, list):
        assert found and all(isinstance(p, str) and isinstance(m, str) and m for p, m in found), found
        for p, m in found:
            (p + m).encode("utf-8")  # can be sent back as JSON
    else:
        assert isinstance(found, core.Row)
        core.read(found.kind, found.record.as_json())


FIELDS = sorted({f for fields in core.FIELDS.values() for f in fields} | {"consent", "related", "alerts"})


@HOSTILE
@given(st.sampled_from(core.KINDS), st.one_of(hostile_json(), st.dictionaries(st.sampled_from(FIELDS),
                                                                              hostile_json(), max_size=6)))
def test_hostile_rows_are_listed_never_raised(kind: str, data: object) -> None:
    problems_or_row(core.parse(kind, data))


@HOSTILE
@given(st.sampled_from(core.KINDS), st.sampled_from(["consent", "related", "alerts", "schedule", "products_owned",
                                                    "areas", "price", "id", "model", "email"]),
       st.one_of(hostile_json(), st.dictionaries(st.sampled_from(["sales", "options", "channels", "events",
                                                                  "timezone", "hours", "model", "date"]),
                                                 hostile_json(), max_size=3)))
def test_hostile_nested_fields_are_listed_never_raised(kind: str, name: str, value: object) -> None:
    key = {"customers": {"id": "c1"}, "staff": {"id": "s1", "email": "s@x.example"}, "products": {"model": "m"}}
    problems_or_row(core.parse(kind, {**key[kind], name: value}))


def test_deep_nesting_and_huge_numbers_are_problems() -> None:
    for value in (deep(5000), 10 ** 400, float("nan"), float("inf"), "\ud800", {"\ud800": 1}):
        for kind, name in (("customers", "products_owned"), ("customers", "consent"), ("staff", "schedule"),
                           ("staff", "alerts"), ("products", "related"), ("products", "price"), ("customers", "id")):
            base = {"customers": {"email": "a@b.example"}, "staff": {"id": "s", "email": "a@b.example"},
                    "products": {"model": "m", "currency": "EUR"}}[kind]
            found = core.parse(kind, {**base, name: value})
            assert isinstance(found, list), (kind, name, value)


@HOSTILE
@given(st.sampled_from(core.KINDS), st.lists(st.lists(hostile_text(60), max_size=12), max_size=5))
def test_hostile_csv_rows_are_listed_never_raised(kind: str, rows: list[list[str]]) -> None:
    cells = [[c for c in r if core.is_text(c)] for r in rows]
    header = list(core.COLUMNS[kind])
    for one in cells:
        problems_or_row(core.from_csv(kind, header, one))
    text = core.csv_header(kind) + "".join(core._lines([r]) for r in cells)
    found = core.read_csv(kind, text)
    assert isinstance(found, list)


@HOSTILE
@given(st.text(max_size=2000))
def test_any_text_read_as_csv_is_rows_or_problems(text: str) -> None:
    for kind in core.KINDS:
        found = core.read_csv(kind, text)
        assert isinstance(found, list)
        found = core.read_csv(kind, "id,email,model\n" + text)
        assert isinstance(found, list)


# --- what an upsert does ------------------------------------------------------------------------


def test_the_same_row_twice_is_unchanged_and_a_change_is_an_update() -> None:
    data = {"id": "c1", "email": "ada@x.example", "name": "Ada"}
    first = created("customers", data)
    again = core.decide(row("customers", data), first, first, NOW + 1)
    assert again.status == "unchanged" and again.record == first
    changed = core.decide(row("customers", {"id": "c1", "phone": "123"}), first, first, NOW + 1)
    assert changed.status == "updated" and changed.record.name == "Ada" and changed.record.phone == "123"
    assert changed.record.updated_ms == NOW + 1 and changed.before == first
    cleared = core.decide(row("customers", {"id": "c1", "name": None}), first, None, NOW + 1)
    assert cleared.status == "updated" and cleared.record.name == ""


def test_customers_match_by_id_then_email_and_never_merge_two() -> None:
    by_mail = created("customers", {"email": "ada@x.example", "name": "Ada"})
    assert by_mail.key == "e:ada@x.example"
    # a row without an id is the customer with its e-mail
    d = core.decide(row("customers", {"email": "ADA@x.example", "phone": "1"}), None, by_mail, NOW)
    assert d.status == "updated" and d.record.key == "e:ada@x.example"
    # a row with an id takes over the customer known only by that e-mail
    d = core.decide(row("customers", {"id": "c9", "email": "ada@x.example"}), None, by_mail, NOW)
    assert d.status == "updated" and d.record.key == "i:c9" and d.before == by_mail and d.record.name == "Ada"
    with_id = d.record
    # an empty id never takes the id away
    d = core.decide(row("customers", {"id": "", "email": "ada@x.example", "name": "Ada"}), None, with_id, NOW)
    assert d.status == "unchanged"
    # id of one customer, e-mail of another: an error, never a merge
    other = created("customers", {"id": "c2", "email": "bob@x.example"})
    d = core.decide(row("customers", {"id": "c2", "email": "ada@x.example"}), other, with_id, NOW)
    assert d.status == "error" and d.errors[0][0] == "email" and "c9" in d.errors[0][1]
    # a new id with an e-mail that another customer (with an id) has: an error too
    d = core.decide(row("customers", {"id": "c3", "email": "ada@x.example"}), None, with_id, NOW)
    assert d.status == "error"
    # staff need an e-mail to be made, and keep it
    assert core.decide(row("staff", {"id": "s1"}), None, None, NOW).errors == \
        [("email", "is required for a new staff member")]


def test_a_nested_field_merges_field_by_field() -> None:
    first = created("customers", {"id": "c1", "consent": {"sales": True, "marketing": True}})
    d = core.decide(row("customers", {"id": "c1", "consent": {"marketing": False}}), first, None, NOW)
    assert d.record.consent == core.Consent(sales=True, marketing=False)
    d = core.decide(row("customers", {"id": "c1", "consent": None}), first, None, NOW)
    assert d.record.consent == core.Consent()


# --- CSV ---------------------------------------------------------------------------------------


NASTY = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+44 20 7946 0000", "-1 =cmd|' /C calc'!A0", "@SUM(A1)",
         "'=already", "''", "'plain", "O'Brien, \"Jr\"", "Zoë 😀", "-12.50"]


def test_an_export_imports_back_unchanged_and_never_runs_as_a_formula() -> None:
    stored = [created("customers", {"id": f"c{i}", "email": f"c{i}@x.example", "name": name,
                                    "products_owned": [{"model": "kx-1", "date": "2024-05-01"}, "paddle"],
                                    "consent": {"sales": i % 2 == 0}})
              for i, name in enumerate(NASTY)]
    stored.append(created("customers", {"email": "no-id@x.example", "phone": "+1 (555) 010-0000"}))
    staff = [created("staff", {"id": "=s1", "email": "s@x.example", "name": "@boss", "areas": ["SW1", "75"],
                               "products": ["kayaks"], "alerts": {"channels": [], "events": ["purchase"]},
                               "schedule": {"timezone": "Europe/Paris", "hours": {"mon": ["09:00-12:00", "13:00-17:00"],
                                                                                   "sat": ["22:00-02:00"]},
                                            "days_off": ["2025-12-25"]}, "active": False}),
             created("staff", {"id": "s2", "email": "t@x.example"})]
    products = [created("products", {"model": "kx-1", "name": "-Kayak", "category": "kayaks", "price": "1299.00",
                                     "currency": "EUR",
                                     "related": {"attachments": ["rudder"], "options": ["deck", "x"]}}),
                created("products", {"model": "paddle"})]
    for kind, records in (("customers", stored), ("staff", staff), ("products", products)):
        text = core.write_csv(kind, records)
        for line in csv.reader(io.StringIO(text)):
            assert not any(c[:1] in ("=", "@", "\t", "\r") or c[:1] in ("+", "-") and not NUMBERS.fullmatch(c)
                           for c in line), line
        rows = core.read_csv(kind, "\ufeff" + text)
        assert [r.errors for r in rows] == [[] for _ in records]
        assert [r.number for r in rows] == list(range(2, len(records) + 2))
        for found, record in zip(rows, records):
            d = core.decide(found.row, record, record if kind == "customers" and record.email else None, NOW + 9)
            assert d.status == "unchanged", (kind, record, found.row)


def test_csv_rows_with_problems_are_numbered_and_named() -> None:
    text = ("id,email,consent_sales,products_owned,related_options\n")
    assert core.read_csv("customers", text) == [("column 5", "unknown column 'related_options'; known: "
                                                              + ", ".join(core.COLUMNS["customers"]))]
    text = ("Email,Name,Consent_Sales,products_owned\n"
            "ada@x.example,Ada,yes,kx-1@2024-05-01;paddle\n"
            "\n"
            "bad,Bob,perhaps,x@2024-13-01\n"
            '"c@x.example","Multi\nline",no,\n'
            "d@x.example,Too,many,cells,here\n")
    rows = core.read_csv("customers", text)
    assert [(r.number, r.label, [p for p, _ in r.errors]) for r in rows] == [
        (2, "ada@x.example", []), (4, "bad", ["consent_sales", "email", "products_owned[0].date"]),
        (5, "c@x.example", []), (6, "d@x.example", [""])]
    assert rows[0].row.record.products_owned == (core.Owned("kx-1", "2024-05-01"), core.Owned("paddle"))
    assert core.read_csv("customers", "name\nAda\n") == [("header", "needs a column id or email")]
    assert core.read_csv("customers", "")[0][0] == "header"
    assert core.read_csv("customers", "id,id\n")[0] == ("column 2", "id appears twice")
    found = core.read_csv("customers", "id,email,consent_sales\nc1,bad,perhaps\n")
    assert [p for p, _ in found[0].errors] == ["consent_sales", "email"]
    found = core.read_csv("staff", "id,email,schedule_timezone,schedule_mon,related_x\n")
    assert found[0][0] == "column 5"
    found = core.read_csv("staff", "id,email,schedule_timezone,schedule_mon\ns1,a@b.example,Mars/Base,9-5\n")
    assert [p for p, _ in found[0].errors] == ["schedule_timezone", "schedule_mon[0]"]


@HOSTILE
@given(st.text(max_size=40))
def test_a_cell_made_safe_reads_back_as_it_was(text: str) -> None:
    safe = core.export_cell(text)
    assert core.uncell(safe) == text
    assert not safe.startswith(("=", "@", "\t", "\r")) and (not safe.startswith(("+", "-")) or safe == text)
    assert safe == text or safe == "'" + text
