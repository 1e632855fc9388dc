"""CSV that a spreadsheet opens as data, never as formulas.

Excel, LibreOffice and Google Sheets run a cell that begins with ``=``, ``+``, ``-`` or ``@``
(and some a tab or carriage return before one) as a formula, so a material's title or a
representative's name such as ``=HYPERLINK(...)`` would run on the owner's machine. Such a cell
gets a leading apostrophe, which spreadsheets show as text. A cell made only of numbers,
currency codes and "to", as the reports write amounts and intervals (``-12.50``, ``12.5%``,
``-5.00 EUR``, ``+1.2 (-0.4 to +2.8)``), is left alone: no function call or reference can hide
in it, and a spreadsheet reads it as the number it is.

Pure: no I/O.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_TOKEN = re.compile(r"\(?[+-]?\d+(?:\.\d+)?%?\)?|[A-Z]{3}|to")


def cell(value: str) -> str:
    """The cell as a spreadsheet must receive it."""
    if value.startswith(FORMULA_STARTS) and not all(_TOKEN.fullmatch(t) for t in value.split(" ")):
        return "'" + value
    return value


def csv_text(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A header line and the rows, every cell made safe."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([cell(h) for h in headers])
    for row in rows:
        writer.writerow([cell(c) for c in row])
    return out.getvalue()
