"""Server-drawn SVG charts: well-formed, safe to place in a page whatever the labels say (no
script, no inline style, labels escaped), and drawn to scale."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from hypothesis import given, settings, strategies as st

from backend.core.charts import Series, bars, interval, lines

NS = "{http://www.w3.org/2000/svg}"
EVIL = '</text><script>alert(1)</script><text style="x">'


def parsed(svg: str) -> ET.Element:
    """The chart as XML, after checking nothing in it runs or styles inline (CSP: script-src
    'self', style-src 'self')."""
    root = ET.fromstring(svg)
    for element in root.iter():
        assert element.tag not in (f"{NS}script", f"{NS}style", f"{NS}foreignObject")
        assert "style" not in element.attrib and not any(k.startswith("on") for k in element.attrib)
    return root


def test_bars_are_to_scale_and_labels_are_text() -> None:
    root = parsed(bars("Revenue by rep", [("Amélie", 300.0), (EVIL, 150.0), ("Nobody", 0.0)]))
    widths = [float(r.get("width")) for r in root.iter(f"{NS}rect")]
    assert widths[0] == 2 * widths[1] and widths[2] == 0
    assert EVIL in [t.text for t in root.iter(f"{NS}text")]  # shown as the text it is
    assert root.find(f"{NS}title").text == "Revenue by rep"


def test_lines_and_intervals_draw_each_series_and_say_when_there_is_nothing() -> None:
    root = parsed(lines("Chats a day", ["2026-11-01", "2026-11-02", "2026-11-03"],
                        [Series("treatment", [1, 5, 3]), Series(EVIL, [0, math.nan, 2])]))
    assert len(list(root.iter(f"{NS}polyline"))) == 2
    root = parsed(interval("Uplift", [("all", 0.02, -0.01, 0.05), ("2x and over", math.nan, math.nan, math.nan)]))
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert "+2.0% (-1.0% to +5.0%)" in texts and "too few visitors yet" in texts
    for empty in (bars("x", []), lines("x", [], []), interval("x", [])):
        assert "No data for these dates." in [t.text for t in parsed(empty).iter(f"{NS}text")]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.text(max_size=30), st.sampled_from(["\ud800", "a\x00b", "\x1b[31m"])),
                          st.floats(allow_nan=True, allow_infinity=True)), max_size=8))
def test_any_labels_and_numbers_make_a_well_formed_chart(rows) -> None:
    parsed(bars("t", rows))
    parsed(lines("t", [str(i) for i in range(len(rows))], [Series("s", [v for _, v in rows])]))
    parsed(interval("t", [(label, v, v - 1, v + 1) for label, v in rows]))
