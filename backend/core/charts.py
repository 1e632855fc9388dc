"""Charts drawn on the server as SVG, to stand beside the tables of the reports.

No script and no CSS in them: the console's Content-Security-Policy forbids inline style, so
shapes carry presentation attributes (``fill``, ``stroke``) and classes the console's own
stylesheet may refine. Every label is escaped here, so a chart is safe to place in a page as
it is, whatever a site named its pages or rule sets. Numbers are written with a fixed number
of decimals so the same data always draws the same bytes.

Pure: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Callable

WIDTH = 640
ROW_H, GAP, LABEL_W, VALUE_W = 22, 6, 180, 90
PALETTE = ("#2f6fdf", "#d9822b", "#3a9d5d", "#b03a5b", "#6b5fb5", "#7a7a7a")


def _n(x: float) -> str:
    return f"{x:.1f}"


def _svg(height: float, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{WIDTH}" '
            f'height="{_n(height)}" viewBox="0 0 {WIDTH} {_n(height)}" aria-label="{escape(_printable(title))}">'
            f"<title>{escape(_printable(title))}</title>" + "".join(body) + "</svg>")


def _printable(text: str) -> str:
    """Control characters and lone surrogates are not text XML may hold: dropped."""
    return "".join(c for c in text if c.isprintable())


def _text(x: float, y: float, text: str, anchor: str = "start", cls: str = "") -> str:
    text = _printable(text)
    klass = f' class="{cls}"' if cls else ""
    return (f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" font-size="12" fill="#222"{klass}>'
            f"{escape(text)}</text>")


def bars(title: str, rows: list[tuple[str, float]], fmt: Callable[[float], str] = "{:,.0f}".format) -> str:
    """Horizontal bars on one scale from zero, a row per (label, value); negative values are
    drawn as zero-length bars and still print their value."""
    if not rows:
        return _svg(40, title, [_text(8, 24, "No data for these dates.")])
    top = max([v for _, v in rows if math.isfinite(v)] + [0.0])
    span = WIDTH - LABEL_W - VALUE_W
    body = []
    for i, (label, value) in enumerate(rows):
        y = 8 + i * (ROW_H + GAP)
        length = span * max(value, 0.0) / top if top > 0 and math.isfinite(value) else 0.0
        body.append(_text(LABEL_W - 8, y + ROW_H * 0.7, label, "end"))
        body.append(f'<rect x="{LABEL_W}" y="{_n(y)}" width="{_n(length)}" height="{ROW_H}" '
                    f'fill="{PALETTE[0]}" class="bar"/>')
        body.append(_text(LABEL_W + length + 6, y + ROW_H * 0.7, fmt(value) if math.isfinite(value) else "-"))
    return _svg(16 + len(rows) * (ROW_H + GAP), title, body)


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float]  # one per x label; NaN: no value that day


def lines(title: str, x_labels: list[str], series: list[Series], fmt: Callable[[float], str] = "{:,.0f}".format
          ) -> str:
    """One line per series over the x labels (days), on one scale from zero, with a legend."""
    values = [v for s in series for v in s.values if math.isfinite(v)]
    if not x_labels or not values:
        return _svg(40, title, [_text(8, 24, "No data for these dates.")])
    left, right, top_y, bottom_y = 60, WIDTH - 12, 12, 200
    top = max(values + [0.0]) or 1.0
    low = min(values + [0.0])
    step = (right - left) / max(len(x_labels) - 1, 1)

    def y_of(v: float) -> float:
        return bottom_y - (v - low) / (top - low) * (bottom_y - top_y) if top > low else bottom_y

    body = [f'<line x1="{left}" y1="{bottom_y}" x2="{right}" y2="{bottom_y}" stroke="#999" class="axis"/>',
            _text(left - 6, top_y + 4, fmt(top), "end"), _text(left - 6, bottom_y, fmt(low), "end"),
            _text(left, bottom_y + 16, x_labels[0]), _text(right, bottom_y + 16, x_labels[-1], "end")]
    if low < 0 < top:
        body.append(f'<line x1="{left}" y1="{_n(y_of(0))}" x2="{right}" y2="{_n(y_of(0))}" stroke="#ccc" '
                    f'class="zero"/>')
    for k, s in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        points = [f"{_n(left + i * step)},{_n(y_of(v))}" for i, v in enumerate(s.values) if math.isfinite(v)]
        if points:
            body.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" stroke-width="2" '
                        f'class="line"/>')
        legend_y = bottom_y + 34 + k * 16
        body.append(f'<rect x="{left}" y="{legend_y - 9}" width="10" height="10" fill="{colour}"/>')
        body.append(_text(left + 16, legend_y, s.name))
    return _svg(bottom_y + 40 + len(series) * 16, title, body)


def interval(title: str, rows: list[tuple[str, float, float, float]],
             fmt: Callable[[float], str] = "{:+.1%}".format) -> str:
    """Estimates with their confidence intervals, a row per (label, estimate, low, high), on
    one scale around zero: whether an interval leaves zero is what the reader looks for."""
    finite = [x for _, e, lo, hi in rows for x in (e, lo, hi) if math.isfinite(x)]
    if not rows or not finite:
        return _svg(40, title, [_text(8, 24, "No data for these dates.")])
    reach = max(abs(x) for x in finite) or 1.0
    label_w, value_w = 140, 210  # the value reads "+1.2% (-0.4% to +2.8%)"
    span = WIDTH - label_w - value_w
    zero_x = label_w + span / 2

    def x_of(v: float) -> float:
        return zero_x + v / reach * span / 2

    height = 16 + len(rows) * (ROW_H + GAP)
    body = [f'<line x1="{_n(zero_x)}" y1="4" x2="{_n(zero_x)}" y2="{_n(height - 4)}" stroke="#999" class="zero"/>']
    for i, (label, estimate, lo, hi) in enumerate(rows):
        y = 8 + i * (ROW_H + GAP) + ROW_H / 2
        body.append(_text(label_w - 8, y + 4, label, "end"))
        if all(math.isfinite(x) for x in (estimate, lo, hi)):
            body.append(f'<line x1="{_n(x_of(lo))}" y1="{_n(y)}" x2="{_n(x_of(hi))}" y2="{_n(y)}" '
                        f'stroke="{PALETTE[0]}" stroke-width="3" class="ci"/>')
            body.append(f'<circle cx="{_n(x_of(estimate))}" cy="{_n(y)}" r="5" fill="{PALETTE[1]}" class="point"/>')
            text = f"{fmt(estimate)} ({fmt(lo)} to {fmt(hi)})"
        else:
            text = "too few visitors yet"
        body.append(_text(WIDTH - value_w + 8, y + 4, text))
    return _svg(height, title, body)
