"""Leads in the console (issue 13, "work from the console"): what the admin's list asks for
(a period and filters read from a query string), which leads a filter keeps, the CSV of a
filtered list, and the territory table as the console's form posts it.

Pure: no I/O. The console's handlers read and write through domain/leads.py and
domain/records.py; every decision about what a query or a posted table means is here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import zip_longest
from typing import Any, Iterable, Mapping, Sequence

from backend.core.leads import KINDS, PATHS, STATUSES, Lead, Territory, parse_cursor
from backend.core.spreadsheet import csv_text

Errors = list[tuple[str, str]]

DAY_MS = 86_400_000
DEFAULT_DAYS = 30
PAGE_SIZE = 50
STAFF_ID_MAX = 64
TERRITORY_OPS = ("save", "add", "remove", "up", "down")


def day(ms: int) -> str:
    """The UTC date of ``ms`` as YYYY-MM-DD, as a date input shows it."""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d")


def _day_start(text: str) -> int | None:
    try:
        found = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return int(found.timestamp() * 1000) if 2000 <= found.year <= 9998 else None


@dataclass(frozen=True)
class LeadQuery:
    """The admin's list: the period (whole UTC days, both ends included) and the filters."""

    from_day: str
    to_day: str
    from_ms: int
    to_ms: int  # the last ms of to_day
    kind: str = ""
    status: str = ""
    path: str = ""
    staff: str = ""
    cursor: str = ""

    def keeps(self, lead: Lead) -> bool:
        """Whether a lead of the period passes the filters."""
        return ((not self.kind or lead.kind == self.kind) and (not self.status or lead.status == self.status)
                and (not self.path or lead.path == self.path) and (not self.staff or lead.staff == self.staff))

    def params(self, cursor: str = "") -> dict[str, str]:
        """The query string that asks for this list again (from ``cursor`` when given)."""
        out = {"from": self.from_day, "to": self.to_day, "kind": self.kind, "status": self.status,
               "path": self.path, "staff": self.staff, "cursor": cursor}
        return {k: v for k, v in out.items() if v}


def parse_query(params: Mapping[str, str], now_ms: int) -> tuple[LeadQuery, dict[str, str]]:
    """The list's query from a query string; each unreadable value is reported by its field
    and replaced by its default, so the page always shows something."""
    errors: dict[str, str] = {}
    today = day(now_ms)
    start = day(now_ms - DEFAULT_DAYS * DAY_MS)
    from_day, to_day = params.get("from", "") or start, params.get("to", "") or today
    from_ms, to_ms = _day_start(from_day), _day_start(to_day)
    if from_ms is None:
        errors["from"] = "must be a date such as 2025-01-31"
        from_day, from_ms = start, _day_start(start)
    if to_ms is None:
        errors["to"] = "must be a date such as 2025-01-31"
        to_day, to_ms = today, _day_start(today)
    assert from_ms is not None and to_ms is not None
    if from_ms > to_ms:
        errors["to"] = "must not be before the start of the period"
        to_day, to_ms = from_day, from_ms
    chosen: dict[str, str] = {}
    for name, allowed in (("kind", KINDS), ("status", STATUSES), ("path", PATHS)):
        value = params.get(name, "")
        if value and value not in allowed:
            errors[name] = "must be one of " + ", ".join(allowed)
            value = ""
        chosen[name] = value
    staff = params.get("staff", "")
    if len(staff) > STAFF_ID_MAX or not staff.isprintable():
        errors["staff"] = "is not a staff id"
        staff = ""
    cursor = params.get("cursor", "")
    if cursor and parse_cursor(cursor) is None:
        errors["cursor"] = "must be the link a previous page gave"
        cursor = ""
    return LeadQuery(from_day, to_day, from_ms, to_ms + DAY_MS - 1, chosen["kind"], chosen["status"],
                     chosen["path"], staff, cursor), errors


def retention_query(now_ms: int, retention_days: int, staff: str, cursor: str = "") -> LeadQuery:
    """A representative's own leads: everything kept, routed to their staff record."""
    first = now_ms - retention_days * DAY_MS
    return LeadQuery(day(first), day(now_ms), first, now_ms + DAY_MS, staff=staff,
                     cursor=cursor if parse_cursor(cursor) else "")


# --- CSV ----------------------------------------------------------------------------------------

CSV_COLUMNS = ("created", "id", "kind", "source", "status", "name", "email", "phone", "postcode", "area_code",
               "company", "comment", "model", "line", "consent", "order_id", "customer", "visitor", "changes",
               "routed_staff", "routed_staff_name", "routed_path", "routed_why", "notified")


def csv_rows(leads: Iterable[Lead], names: Mapping[str, str]) -> list[list[str]]:
    """One row per lead under CSV_COLUMNS; ``names`` maps staff ids to their names."""
    return [[datetime.fromtimestamp(x.created_ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S"), x.id,
             x.kind, x.source, x.status, x.name, x.email, x.phone, x.postcode, x.area_code, x.company, x.comment,
             x.model, x.line, "yes" if x.consent else "no", x.order_id, x.customer, x.visitor, ";".join(x.changes),
             x.staff, names.get(x.staff, "") if x.staff else "", x.path, x.why, ";".join(x.notified)]
            for x in leads]


def csv_part(leads: Iterable[Lead], names: Mapping[str, str], header: bool) -> str:
    """A chunk of the export, every cell safe in a spreadsheet (a name "=HYPERLINK(...)" is text)."""
    text = csv_text(CSV_COLUMNS, csv_rows(leads, names))
    return text if header else text.split("\r\n", 1)[1]


# --- the territory table as the console's form posts it -----------------------------------------


@dataclass(frozen=True)
class FormRow:
    """A row as typed: prefixes and products as one line each, the staff id chosen."""

    areas: str = ""
    products: str = ""
    staff: str = ""

    def as_data(self) -> dict[str, Any]:
        """The API's row: lists split on commas and spaces (core/leads.py:parse_territories checks it)."""
        return {"areas": split(self.areas), "products": split(self.products), "staff": self.staff.strip()}


def split(text: str) -> list[str]:
    return [part for part in text.replace(",", " ").replace(";", " ").split() if part]


def form_rows(areas: Sequence[str], products: Sequence[str], staff: Sequence[str]) -> list[FormRow]:
    """The posted columns side by side (a short column reads as blanks)."""
    return [FormRow(a or "", p or "", s or "") for a, p, s in zip_longest(areas, products, staff)]


def table_rows(table: Iterable[Territory]) -> list[FormRow]:
    return [FormRow(", ".join(t.areas), ", ".join(t.products), t.staff) for t in table]


def apply_op(rows: list[FormRow], op: str) -> list[FormRow] | None:
    """The table after "add", "remove:N", "up:N" or "down:N" (N the row's index); None for an
    op that is none of these (or "save")."""
    name, _, at = op.partition(":")
    if name == "add" and not at:
        return rows + [FormRow()]
    if name not in ("remove", "up", "down") or not (at.isascii() and at.isdigit()) or int(at) >= len(rows):
        return None
    i = int(at)
    out = list(rows)
    if name == "remove":
        del out[i]
    elif name == "up" and i > 0:
        out[i - 1], out[i] = out[i], out[i - 1]
    elif name == "down" and i + 1 < len(out):
        out[i], out[i + 1] = out[i + 1], out[i]
    return out


def row_errors(errors: Errors) -> tuple[dict[int, list[str]], list[str]]:
    """A table's problems by row ("[3].areas: ..." is row 3's) and those of the whole table."""
    rows: dict[int, list[str]] = {}
    whole: list[str] = []
    for path, message in errors:
        head, _, rest = path.partition("]")
        if head.startswith("[") and head[1:].isdigit():
            field = rest.lstrip(".").split("[")[0]
            rows.setdefault(int(head[1:]), []).append(f"{field}: {message}" if field else message)
        else:
            whole.append(f"{path}: {message}" if path else message)
    return rows, whole


def extra_to_lines(text: str) -> list[str]:
    """The extra addressees as typed, one per line (commas and spaces separate too)."""
    return split(text)
