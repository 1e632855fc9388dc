"""A CSV import of records in the console (issue 13): what the preview shows before anything
is written, the progress an import reports while it runs, and the error rows as a CSV file.

Pure: no I/O. Rows are read by ``records.read_csv`` and numbered as it numbers them (as a
spreadsheet shows them, the header being row 1), so the preview, the progress's error report
and the error file all name the same rows.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any, Iterator

from backend.core import records
from backend.core.records import Errors
from backend.core.spreadsheet import cell

PREVIEW_ROWS = 20  # rows shown, with their cells, before the admin confirms
CELL_SHOWN = 200  # characters of a cell in the preview
REPORT_SHOWN = 1000  # error rows listed on the page; all of them are in the error file
STALE_MS = 5000  # a running import whose heartbeat is older than this has stopped (its worker went away)


def errors_json(errors: Errors) -> list[dict[str, str]]:
    return [{"path": p, "message": m} for p, m in errors]


@dataclass(frozen=True)
class PreviewRow:
    number: int
    cells: list[str]  # as the file has them (an apostrophe before a formula taken off), long ones cut
    label: str
    errors: Errors

    def as_json(self) -> dict[str, Any]:
        return {"row": self.number, "cells": self.cells, "id": self.label, "errors": errors_json(self.errors)}


@dataclass(frozen=True)
class Preview:
    """What a file would import: its columns, its first rows with their problems, how many
    rows it has and how many of them have problems; or ``problems`` with the whole file."""

    kind: str
    columns: list[str]
    rows: list[PreviewRow] = field(default_factory=list)
    total: int = 0
    with_errors: int = 0
    problems: Errors = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "columns": self.columns, "rows": [r.as_json() for r in self.rows],
                "total": self.total, "with_errors": self.with_errors, "problems": errors_json(self.problems)}


def _text(text: str) -> str:
    return text[1:] if text.startswith("\ufeff") else text


def file_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """(number, cells) of each non-blank data row, numbered as ``records.read_csv`` numbers
    them; raises csv.Error where the file stops being CSV."""
    reader = csv.reader(io.StringIO(_text(text), newline=""))
    next(reader, None)
    for number, cells in enumerate(reader, start=2):
        if any(c.strip() for c in cells):
            yield number, cells


def _columns(text: str) -> list[str]:
    try:
        header = next(csv.reader(io.StringIO(_text(text), newline="")), None) or []
    except csv.Error:
        return []
    return [h.strip().lower()[:80] for h in header[:200]]


def _shown(text: str) -> str:
    return text if len(text) <= CELL_SHOWN else text[:CELL_SHOWN] + "…"


def preview(kind: str, text: str, shown: int = PREVIEW_ROWS) -> Preview:
    """The file read whole, nothing written: the problems of every row, the first ``shown``
    rows' cells. A file with no data rows is a problem of the file."""
    columns = _columns(text)
    found = records.read_csv(kind, text)
    if found and isinstance(found[0], tuple):
        return Preview(kind, columns, problems=found)  # type: ignore[arg-type]
    rows: list[records.CsvRow] = found  # type: ignore[assignment]
    if not rows:
        return Preview(kind, columns, problems=[("", "the file has no rows below its header")])
    first: list[PreviewRow] = []
    errors = {r.number: r for r in rows[:shown]}
    for number, cells in file_rows(text):  # read_csv read the file: no csv.Error here
        if len(first) >= shown:
            break
        first.append(PreviewRow(number, [_shown(records.uncell(c)) for c in cells[:len(columns) + 1]], errors[number].label,
                                errors[number].errors))
    return Preview(kind, columns, first, len(rows), sum(1 for r in rows if r.errors))


def parsed(kind: str, text: str) -> list[tuple[int, records.Row | Errors, str]]:
    """The rows to upsert (number, row or its problems, label); [] for a file that cannot be
    read as a whole (the preview said so, and no import starts from it)."""
    found = records.read_csv(kind, text)
    if found and isinstance(found[0], tuple):
        return []
    return [(r.number, r.row or r.errors, r.label) for r in found]  # type: ignore[union-attr]


def error_file(text: str, report: dict[int, Errors]) -> str:
    """The rows of the file that were not imported, under its own header, with a last column
    ``errors`` saying why (``records.read_csv`` ignores it): fixed, the file imports back.
    Every cell safe in a spreadsheet and read back as it was."""
    header = next(csv.reader(io.StringIO(_text(text), newline="")), [])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([records.export_cell(h) for h in header if h.strip().lower() != records.NOTES]
                    + [records.NOTES])
    notes_at = [i for i, h in enumerate(header) if h.strip().lower() == records.NOTES]
    for number, cells in file_rows(text):
        if number in report:
            kept = [c for i, c in enumerate(cells) if i not in notes_at]
            why = "; ".join(f"{p}: {m}" if p else m for p, m in report[number])
            writer.writerow([records.export_cell(records.uncell(c)) for c in kept] + [cell(f"row {number}: {why}")])
    return out.getvalue()


@dataclass(frozen=True)
class Progress:
    """An import as its worker last wrote it; ``stopped`` when it is not finished and its
    heartbeat is older than STALE_MS (the worker restarted or lost Redis)."""

    id: str
    kind: str
    total: int
    done: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: int = 0
    finished: bool = False
    beat_ms: int = 0
    started_ms: int = 0

    def stopped(self, now_ms: int) -> bool:
        return not self.finished and now_ms - self.beat_ms > STALE_MS

    def as_json(self, now_ms: int) -> dict[str, Any]:
        state = "finished" if self.finished else "stopped" if self.stopped(now_ms) else "running"
        return {"id": self.id, "kind": self.kind, "state": state, "total": self.total, "done": self.done,
                "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "errors": self.errors, "finished": self.finished}


def counts(statuses: list[str]) -> dict[str, int]:
    """The progress's counts from the rows' statuses so far."""
    out = {"done": len(statuses), "created": 0, "updated": 0, "unchanged": 0, "errors": 0}
    for s in statuses:
        out["errors" if s == "error" else s] += 1
    return out
