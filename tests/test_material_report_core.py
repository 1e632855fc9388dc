"""The owner's report on the materials library, pure (core/material_report.py): flags only
after a fair chance, rows in the estimate's order (not the raw conversion's), money in each
currency's minor units, facets grouped and named, and a CSV a spreadsheet cannot run."""

from __future__ import annotations

import csv
import io

import pytest

from backend.core import material_report as mr
from backend.core.materials import Material
from backend.core.practices import Record
from backend.core.spreadsheet import cell, csv_text

DAY = 86_400_000
NOW = 100 * DAY


def mat(mid: str, title: str = "", age_days: float = 30, kind: str = "reply", status: str = "active") -> Material:
    return Material(mid, kind, title or mid.title(), "text", created_ms=int(NOW - age_days * DAY), status=status)


def test_never_used_only_after_fourteen_days_and_never_sells_only_after_twenty_uses() -> None:
    found = {r.id: r.flag for r in mr.rows(
        [mat("old"), mat("new", age_days=13.9), mat("tried", age_days=400), mat("dud"), mat("seller"),
         mat("edge", age_days=14.01)], "*",
        {}, {"tried": Record(19, 0), "dud": Record(20, 0), "seller": Record(40, 1)}, NOW)}
    assert found == {"old": "never used", "new": "", "tried": "", "dud": "never sells", "seller": "",
                     "edge": "never used"}


def test_the_flag_reads_every_chat_whatever_facet_is_shown() -> None:
    everywhere = {"a": Record(30, 6), "b": Record(25, 0)}
    rows = {r.id: r for r in mr.rows([mat("a"), mat("b"), mat("c")], "rep=r1", {"a": Record(20, 0)}, everywhere, NOW)}
    assert rows["a"].flag == "" and (rows["a"].uses, rows["a"].sales) == (20, 0)  # sells elsewhere
    assert rows["b"].flag == "never sells" and rows["b"].uses == 0  # not used by r1, never sold anywhere
    assert rows["c"].flag == "never used"


def test_rows_follow_the_estimate_not_the_raw_conversion() -> None:
    everywhere = {"lucky": Record(1, 1), "steady": Record(100, 30), "new": Record(), "poor": Record(50, 1)}
    rows = mr.rows([mat(m) for m in everywhere], "*", {}, everywhere, NOW)
    assert [r.id for r in rows] == ["steady", "lucky", "new", "poor"]
    lucky = rows[1]
    assert lucky.conversion == 1.0 and abs(lucky.estimate - (1 + 0.1 * 10) / 11) < 1e-12
    assert rows[2].conversion is None and rows[2].why == "new: not used in a chat like this one yet"


def test_the_order_is_by_expected_revenue_per_use_then_by_id() -> None:
    """As the suggestions (README "How they rank"): a sale worth more weighs more."""
    everywhere = {"b": Record(10, 2, revenue={"EUR": 100}), "a": Record(10, 2, revenue={"EUR": 100}),
                  "c": Record(10, 2, revenue={"EUR": 900}), "kayak": Record(40, 8, revenue={"EUR": 640_000}),
                  "wax": Record(40, 10, revenue={"EUR": 20_000}), "yen": Record(40, 12, revenue={"JPY": 9})}
    rows = mr.rows([mat(m) for m in everywhere], "*", {}, everywhere, NOW)
    assert [r.id for r in rows] == ["kayak", "yen", "c", "a", "b", "wax"]  # wax sells often, and cheaply
    by = {r.id: r for r in rows}
    assert by["wax"].estimate > by["kayak"].estimate and by["kayak"].weight > 1 > by["wax"].weight
    assert by["yen"].weight == 1.0  # sells in another currency: not weighed against euros
    assert by["yen"].as_json()["value_weight"] == 1.0


def test_a_facet_is_shrunk_towards_the_materials_record_everywhere() -> None:
    everywhere = {"good": Record(200, 80), "bad": Record(200, 4)}
    here: dict[str, Record] = {}  # neither used for this product yet
    rows = mr.rows([mat("good"), mat("bad")], "product=kayak", here, everywhere, NOW)
    assert [r.id for r in rows] == ["good", "bad"]
    good = rows[0]
    assert good.uses == 0 and abs(good.estimate - (80 + 0.1 * 10) / 210) < 1e-12  # its own record as prior
    assert good.why.startswith("not used in chats about kayak yet; sold in 80 of 200 chats like this one".replace(
        "chats like this one", "all chats"))


def test_money_in_each_currencys_minor_units_and_the_average_in_the_main_one() -> None:
    rec = Record(10, 4, 3, 13, {"EUR": 12345, "JPY": 500, "KWD": 1, "XXX": 7})
    row = mr.rows([mat("m")], "*", {}, {"m": rec}, NOW)[0]
    assert row.revenue == {"EUR": "123.45", "JPY": "500", "KWD": "0.001", "XXX": "7"}
    assert (row.currency, row.average) == ("EUR", "30.86")  # 123.45 over 4 sales, to the cent
    assert row.rating == pytest.approx(13 / 3)
    assert "sold in 4 of 10 chats like this one; 30.86 EUR on average; rated 4.3 of 5" == row.why
    cells = dict(zip(mr.HEADERS, mr.cells(row)))
    assert cells["Revenue"] == "123.45 EUR 500 JPY 0.001 KWD 7 XXX" and cells["Average per sale"] == "30.86 EUR"
    assert (cells["Conversion"], cells["Estimated conversion"], cells["Rating"]) == ("40.0%", "25.0%", "4.3")
    assert mr.money(-250, "EUR") == "-2.50" and mr.money(0, "JPY") == "0"


def test_facets_are_grouped_for_a_select_and_reps_shown_by_name() -> None:
    facets = ["*", "rep=r2", "product=kayak", "reason=form_errors", "rep=r1", "lang=fr", "sp=quote",
              "category=boats", "product=canoe", "rep=gone"]
    groups = mr.choices(facets, {"r1": "Zed", "r2": "Ann"})
    assert [g.label for g in groups] == ["Every chat", "Per product", "Per category", "Per reason",
                                         "Per representative", "Per service point", "Per language"]
    assert groups[0].options == (("*", "Every chat"),)
    assert groups[1].options == (("product=canoe", "Product: canoe"), ("product=kayak", "Product: kayak"))
    assert groups[3].options == (("reason=form_errors", "Reason: Form errors"),)
    assert groups[4].options == (("rep=r2", "Representative: Ann"), ("rep=r1", "Representative: Zed"),
                                 ("rep=gone", "Representative: gone (removed)"))
    rows = mr.rows([mat("m")], "rep=r1", {"m": Record(2, 1)}, {"m": Record(2, 1)}, NOW, {"r1": "Zed"})
    assert rows[0].why == "sold in 1 of 2 chats of Zed"


def test_only_a_counted_facet_is_asked_for() -> None:
    known = ["*", "product=kayak"]
    assert mr.check_facet("*", []) == "*" and mr.check_facet("product=kayak", known) == "product=kayak"
    for bad in ("product=canoe", "", "x" * 201, "product=\x00", "\ud800", "rep=\u2028"):
        with pytest.raises(mr.FacetError) as exc:
            mr.check_facet(bad, known)
        assert bad not in str(exc.value) or bad == ""


def test_csv_cells_a_spreadsheet_would_run_get_an_apostrophe() -> None:
    for hostile in ("=HYPERLINK(\"http://x\")", "+1+cmd", "-1 =cmd|' /C calc'!A0", "@SUM(A1)", "\t=1", "\r=1", "-",
                    "+", "-1 +SUM(A1)", "-1  x", "-1 ", "+1 HYPERLINK(1)", "-1 (=2 to 3)"):
        assert cell(hostile) == "'" + hostile
    for plain in ("-12.50", "+3", "12.5%", "0", "Kayak sizes", "", "'quoted", " =x", "-5.00 EUR 12 JPY",
                  "+1.2 (-0.4 to +2.8)", "-3 (-5 to -1)"):
        assert cell(plain) == plain
    rec = Record(25, 0)
    row = mr.rows([Material("m", "reply", '=HYPERLINK("x") <b>', "t", created_ms=NOW)], "*", {}, {"m": rec}, NOW)[0]
    text = csv_text(mr.HEADERS, mr.table([row]))
    got = list(csv.reader(io.StringIO(text)))
    assert got[0] == list(mr.HEADERS)
    assert got[1][0] == '\'=HYPERLINK("x") <b>' and got[1][-1] == "never sells" and got[1][4] == "25"


def test_a_time_no_calendar_holds_shows_no_day() -> None:
    for created, flagged in ((0, "never used"), (-5, "never used"), (10**20, "")):
        row = mr.rows([Material("m", "reply", "T", "t", created_ms=created)], "*", {}, {}, NOW)[0]
        assert mr.cells(row)[3] == "" and row.flag == flagged
