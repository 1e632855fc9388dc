"""CSV that a spreadsheet opens as data, never as formulas.

Excel, LibreOffice and Google Sheets run a cell that begins with ``=``, ``+``, ``-`` or ``@``
(and some a tab or carriage return before one) as a formula, so a material's title or a
representative's name such as ``=HYPERLINK(...)`` would run on the owner's machine. Such a cell
gets a leading apostrophe, which spreadsheets show as text; a cell that is a plain number
(``-12.50``, ``+3``, ``12.5%``) is left alone, as nothing but the number can follow its sign.

Pure: no I/O.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?%?")


def cell(value: str) -> str:
    """The cell as a spreadsheet must receive it."""
    if value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
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
