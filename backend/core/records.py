"""A site's records (issue 13): its customers, its sales staff and its products, which leads
and alerts are routed by.

Records are per site; sharing them across an enterprise's sites is not part of this slice.

Pure: no I/O. ``parse`` reads one row (decoded JSON, or a CSV row through ``from_csv``) into
a ``Row`` or lists every problem as (path, message), never raising, whatever it is given.
``decide`` says what upserting a row does to what is stored (created, updated, unchanged, or a
row error) without writing anything, so the domain only stores what it was told to.

An upsert merges: the fields a row gives replace the stored ones (null, or an empty CSV cell,
clears one), the fields it leaves out stay. Customers are matched "by id, then e-mail": a row
with an id is the customer with that id (or, if there is none, the customer without an id who
has the row's e-mail, who takes the id); a row without one is the customer with its e-mail. A
row whose id and e-mail name two different customers is an error, never a merge. Models and
product lines compare case-insensitively (lower-cased), areas and postcodes upper-cased.

CSV: column names are the field names, with nested fields flattened (``consent_sales``,
``related_options``, ``alerts_channels``, ``schedule_mon`` ...); a list in a cell is separated
by ``;`` (``products_owned`` as ``model@2024-05-01;model2``); booleans read yes/no, true/false,
1/0. A column named ``errors`` (the console's error report) is ignored. Cells a spreadsheet
would run as formulas are written with a leading apostrophe (core/spreadsheet.py), which
``from_csv`` takes off again, so an export imports back unchanged.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Iterable, Union

from backend.core import rep_profile
from backend.core.currencies import minor_units
from backend.core.orders import money
from backend.core.protocol import ID_RE
from backend.core.rep_profile import WEEKDAYS, Schedule
from backend.core.spreadsheet import FORMULA_STARTS, cell
from backend.core.validation import EMAIL_RE, NOT_TEXT, bounded_list, is_text

Errors = list[tuple[str, str]]

KINDS = ("customers", "staff", "products")
MAX_RECORDS = {"customers": 200_000, "staff": 5_000, "products": 50_000}  # per site
CUSTOMER_ID_MAX, STAFF_ID_MAX, MODEL_MAX = 128, 64, 64
NAME_MAX, EMAIL_MAX, PHONE_MAX, POSTCODE_MAX, AREA_MAX, CATEGORY_MAX = 200, 254, 32, 16, 64, 64
MAX_OWNED, MAX_AREAS, MAX_PRODUCTS, MAX_RELATED = 100, 200, 200, 50
ALERT_CHANNELS = ("console", "email", "webhook")
ALERT_EVENTS = ("new_lead", "purchase", "customer_needs_help")
RELATED = ("attachments", "expendables", "options")
PHONE_RE = re.compile(r"[0-9 +()\-]+")
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MODEL_FORBIDDEN = set(";@/\\?#%")  # list separators in a CSV cell, and what would break a URL path
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
SERVER_FIELDS = ("updated_ms",)  # set by Beckon; accepted on input (an export imports back) and ignored


# --- the records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Owned:
    model: str
    date: str = ""  # YYYY-MM-DD, or unknown

    def as_json(self) -> dict[str, str]:
        return {"model": self.model, "date": self.date}


@dataclass(frozen=True)
class Consent:
    sales: bool = False  # a salesperson may contact them
    marketing: bool = False

    def as_json(self) -> dict[str, bool]:
        return {"sales": self.sales, "marketing": self.marketing}


@dataclass(frozen=True)
class Customer:
    id: str = ""  # the site's own customer id
    email: str = ""  # lower-cased
    name: str = ""
    phone: str = ""
    postcode: str = ""
    area_code: str = ""
    products_owned: tuple[Owned, ...] = ()
    assigned_staff: str = ""  # a staff id
    consent: Consent = Consent()
    updated_ms: int = 0

    @property
    def key(self) -> str:
        """Its field in the site's hash: by id, or by e-mail while it has none."""
        return "i:" + self.id if self.id else "e:" + self.email

    @property
    def label(self) -> str:
        return self.id or self.email

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "email": self.email, "name": self.name, "phone": self.phone, "postcode": self.postcode,
                "area_code": self.area_code, "products_owned": [o.as_json() for o in self.products_owned],
                "assigned_staff": self.assigned_staff, "consent": self.consent.as_json(),
                "updated_ms": self.updated_ms}


@dataclass(frozen=True)
class Alerts:
    channels: tuple[str, ...] = ("email",)  # a staff member may never log in to the console
    events: tuple[str, ...] = ALERT_EVENTS

    def as_json(self) -> dict[str, list[str]]:
        return {"channels": list(self.channels), "events": list(self.events)}


@dataclass(frozen=True)
class Staff:
    id: str = ""
    name: str = ""
    email: str = ""
    phone: str = ""
    areas: tuple[str, ...] = ()  # area codes or postcode prefixes, upper-cased
    products: tuple[str, ...] = ()  # models or product lines, lower-cased
    alerts: Alerts = Alerts()
    schedule: Schedule | None = None  # None: always within working hours
    rep: str = ""  # the console representative this person is, if any
    active: bool = True
    updated_ms: int = 0

    @property
    def key(self) -> str:
        return self.id

    @property
    def label(self) -> str:
        return self.id

    def on_duty(self, when: datetime) -> bool:
        """Within working hours at ``when`` (time-zone aware), read as a rep's schedule is."""
        return rep_profile.on_schedule(rep_profile.Profile(schedule=self.schedule), when)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "email": self.email, "phone": self.phone, "areas": list(self.areas),
                "products": list(self.products), "alerts": self.alerts.as_json(),
                "schedule": self.schedule.as_json() if self.schedule else None, "rep": self.rep,
                "active": self.active, "updated_ms": self.updated_ms}


@dataclass(frozen=True)
class Related:
    attachments: tuple[str, ...] = ()
    expendables: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    def as_json(self) -> dict[str, list[str]]:
        return {name: list(getattr(self, name)) for name in RELATED}


@dataclass(frozen=True)
class Product:
    model: str = ""  # lower-cased: the key
    name: str = ""
    category: str = ""  # the product line, lower-cased
    price: Decimal | None = None
    currency: str = ""
    related: Related = Related()
    updated_ms: int = 0

    @property
    def key(self) -> str:
        return self.model

    @property
    def label(self) -> str:
        return self.model

    def as_json(self) -> dict[str, Any]:
        return {"model": self.model, "name": self.name, "category": self.category,
                "price": None if self.price is None else str(self.price), "currency": self.currency,
                "related": self.related.as_json(), "updated_ms": self.updated_ms}


Record = Union[Customer, Staff, Product]
EMPTY: dict[str, Record] = {"customers": Customer(), "staff": Staff(), "products": Product()}


def content(record: Record) -> dict[str, Any]:
    """What a record says, without when it was written: an unchanged row compares equal."""
    data = record.as_json()
    data.pop("updated_ms")
    return data


# --- checks: each appends its problems and answers the clean value (None on a problem) ---------


def _label(key: object, index: int) -> str:
    """A key the sender chose, echoed back only when it is short printable text."""
    return key if is_text(key) and 0 < len(key) <= 40 and key.isprintable() else f"[{index}]"  # type: ignore


def _text(value: object, path: str, limit: int, errors: Errors, fold: bool = True) -> str | None:
    """Text on one line: whitespace runs folded to one space (``fold``), or only trimmed."""
    if value is None:
        return ""
    if not isinstance(value, str):
        errors.append((path, "must be text"))
        return None
    if not is_text(value):
        errors.append((path, NOT_TEXT))
        return None
    if len(value) > limit * 4:
        errors.append((path, f"must be at most {limit} characters"))
        return None
    value = " ".join(value.split()) if fold else value.strip()
    if len(value) > limit:
        errors.append((path, f"must be at most {limit} characters"))
        return None
    if CONTROL.search(value):
        errors.append((path, "must not hold control characters (or line breaks, in an id)"))
        return None
    return value


def _name(value: object, path: str, errors: Errors) -> str | None:
    return _text(value, path, NAME_MAX, errors)


def _key_text(value: object, path: str, limit: int, errors: Errors) -> str | None:
    """An id as the site wrote it: trimmed, nothing else changed."""
    return _text(value, path, limit, errors, fold=False)


def _email(value: object, path: str, errors: Errors) -> str | None:
    found = _text(value, path, EMAIL_MAX, errors)
    if found and not EMAIL_RE.match(found):
        errors.append((path, "must be an e-mail address such as ada@example.com"))
        return None
    return found.lower() if found is not None else None


def _phone(value: object, path: str, errors: Errors) -> str | None:
    found = _text(value, path, PHONE_MAX, errors)
    if found and (not PHONE_RE.fullmatch(found) or not any(c.isdigit() for c in found)):
        errors.append((path, f"must be a phone number: digits, spaces, + - ( ), at most {PHONE_MAX} characters"))
        return None
    return found


def _upper(value: object, path: str, limit: int, errors: Errors) -> str | None:
    found = _text(value, path, limit, errors)
    return None if found is None else " ".join(found.split()).upper()


def _model(value: object, path: str, errors: Errors, required: bool = True) -> str | None:
    found = _text(value, path, MODEL_MAX, errors)
    if found is None:
        return None
    found = " ".join(found.split()).lower()
    if not found and required:
        errors.append((path, "is required"))
        return None
    if MODEL_FORBIDDEN & set(found):
        errors.append((path, "must not hold any of ; @ / \\ ? # %"))
        return None
    return found


def _date(value: object, path: str, errors: Errors) -> str | None:
    if value is None or value == "":
        return ""
    try:
        if not (isinstance(value, str) and DATE_RE.fullmatch(value)):
            raise ValueError
        return date.fromisoformat(value).isoformat()
    except ValueError:
        errors.append((path, "must be a date such as 2024-05-01"))
        return None


def _bool(value: object, path: str, errors: Errors, default: bool) -> bool | None:
    if value is None:
        return default
    if not isinstance(value, bool):
        errors.append((path, "must be true or false"))
        return None
    return value


def _list(value: object, path: str, limit: int, errors: Errors, what: str) -> list[object] | None:
    return [] if value is None else bounded_list(value, path, limit, errors, what)


def _names(value: object, path: str, limit: int, errors: Errors, what: str,
           one: Callable[[object, str, Errors], str | None]) -> tuple[str, ...] | None:
    items = _list(value, path, limit, errors, what)
    if items is None:
        return None
    before, out = len(errors), []
    for i, item in enumerate(items):
        found = one(item, f"{path}[{i}]", errors)
        if found == "":
            errors.append((f"{path}[{i}]", "must not be empty"))
        elif found is not None and found not in out:
            out.append(found)
    return tuple(out) if len(errors) == before else None


def _choices(value: object, path: str, allowed: tuple[str, ...], errors: Errors) -> tuple[str, ...] | None:
    items = _list(value, path, len(allowed) * 2, errors, "names")
    if items is None:
        return None
    before = len(errors)
    for i, item in enumerate(items):
        if item not in allowed:
            errors.append((f"{path}[{i}]", "must be one of " + ", ".join(allowed)))
    return tuple(a for a in allowed if a in items) if len(errors) == before else None


def _object(value: object, path: str, allowed: tuple[str, ...], errors: Errors) -> dict[str, Any] | None:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.append((path, "must be an object {" + ", ".join(allowed) + "}"))
        return None
    before = len(errors)
    for i, key in enumerate(value):
        if key not in allowed:
            errors.append((f"{path}.{_label(key, i)}", "unknown field; allowed: " + ", ".join(allowed)))
    return value if len(errors) == before else None


def _owned(value: object, errors: Errors) -> tuple[Owned, ...] | None:
    items = _list(value, "products_owned", MAX_OWNED, errors, "products")
    if items is None:
        return None
    before, out = len(errors), []
    for i, item in enumerate(items):
        path = f"products_owned[{i}]"
        if isinstance(item, str):  # a bare model
            item = {"model": item}
        one = _object(item, path, ("model", "date"), errors)
        if one is None:
            continue
        model, day = _model(one.get("model"), f"{path}.model", errors), _date(one.get("date"), f"{path}.date", errors)
        if model is not None and day is not None:
            out.append(Owned(model, day))
    return tuple(out) if len(errors) == before else None


def _consent(value: object, errors: Errors) -> dict[str, bool] | None:
    found = _object(value, "consent", ("sales", "marketing"), errors)
    if found is None:
        return None
    before = len(errors)
    out = {k: _bool(found[k], f"consent.{k}", errors, False) for k in ("sales", "marketing") if k in found}
    return out if len(errors) == before else None  # type: ignore[return-value]


def _related(value: object, errors: Errors) -> dict[str, tuple[str, ...]] | None:
    found = _object(value, "related", RELATED, errors)
    if found is None:
        return None
    before = len(errors)
    out = {k: _names(found[k], f"related.{k}", MAX_RELATED, errors, "models", _model) for k in RELATED if k in found}
    return out if len(errors) == before else None  # type: ignore[return-value]


def _alerts(value: object, errors: Errors) -> dict[str, tuple[str, ...]] | None:
    found = _object(value, "alerts", ("channels", "events"), errors)
    if found is None:
        return None
    before = len(errors)
    out = {}
    if "channels" in found:
        out["channels"] = _choices(found["channels"], "alerts.channels", ALERT_CHANNELS, errors)
    if "events" in found:
        out["events"] = _choices(found["events"], "alerts.events", ALERT_EVENTS, errors)
    return out if len(errors) == before else None  # type: ignore[return-value]


def _price(value: object, errors: Errors) -> Decimal | None:
    if value is None or value == "":
        return None
    return money(value, 4, "", "price", errors)  # checked against the currency's decimals in ``parse``


def _currency(value: object, errors: Errors) -> str | None:
    if value is None or value == "":
        return ""
    code = value.upper() if isinstance(value, str) and re.fullmatch(r"[A-Za-z]{3}", value) else ""
    if not code or minor_units(code) is None:
        errors.append(("currency", "must be an ISO 4217 currency code such as EUR, USD or JPY"))
        return None
    return code


def _rep(value: object, errors: Errors) -> str | None:
    if value is None or value == "":
        return ""
    if not (isinstance(value, str) and ID_RE.match(value)):
        errors.append(("rep", "must be a console representative's id"))
        return None
    return value


def _staff_id(value: object, path: str, errors: Errors) -> str | None:
    return _key_text(value, path, STAFF_ID_MAX, errors)


Check = Callable[[object, Errors], Any]


def _at(check: Callable[..., Any], path: str, *args: Any) -> Check:
    return lambda value, errors: check(value, path, *args, errors) if args else check(value, path, errors)


CHECKS: dict[str, dict[str, Check]] = {
    "customers": {
        "id": lambda v, e: _key_text(v, "id", CUSTOMER_ID_MAX, e), "email": _at(_email, "email"),
        "name": _at(_name, "name"), "phone": _at(_phone, "phone"),
        "postcode": lambda v, e: _upper(v, "postcode", POSTCODE_MAX, e),
        "area_code": lambda v, e: _upper(v, "area_code", AREA_MAX, e), "products_owned": _owned,
        "assigned_staff": _at(_staff_id, "assigned_staff"), "consent": _consent,
    },
    "staff": {
        "id": _at(_staff_id, "id"), "name": _at(_name, "name"), "email": _at(_email, "email"),
        "phone": _at(_phone, "phone"),
        "areas": lambda v, e: _names(v, "areas", MAX_AREAS, e, "areas",
                                     lambda x, p, er: _upper(x, p, AREA_MAX, er)),
        "products": lambda v, e: _names(v, "products", MAX_PRODUCTS, e, "models or product lines",
                                        lambda x, p, er: _model(x, p, er)),
        "alerts": _alerts, "schedule": rep_profile.validate_schedule, "rep": _rep,
        "active": lambda v, e: _bool(v, "active", e, True),
    },
    "products": {
        "model": lambda v, e: _model(v, "model", e, required=False), "name": _at(_name, "name"),
        "category": lambda v, e: _model(v, "category", e, required=False), "price": _price, "currency": _currency,
        "related": _related,
    },
}
FIELDS = {kind: tuple(checks) + SERVER_FIELDS for kind, checks in CHECKS.items()}
NESTED = {"consent": Consent, "related": Related, "alerts": Alerts}  # merged field by field


# --- a row ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """A clean row: the record it describes (defaults where it said nothing) and which fields
    it gave ("consent.sales" for a nested one), which are the ones an upsert changes."""

    kind: str
    record: Record
    given: frozenset[str]


def parse(kind: str, data: object) -> Row | Errors:
    """A row of ``kind`` from decoded JSON; every problem listed, never raises."""
    if kind not in KINDS:
        return [("", "unknown kind; known: " + ", ".join(KINDS))]
    if not isinstance(data, dict):
        return [("", "a record must be a JSON object")]
    checks, errors = CHECKS[kind], []
    for i, key in enumerate(data):
        if key not in checks and key not in SERVER_FIELDS:
            errors.append((_label(key, i), "unknown field; known: " + ", ".join(FIELDS[kind])))
    values: dict[str, Any] = {}
    given: set[str] = set()
    for name, check in checks.items():
        if name not in data:
            continue
        value = check(data[name], errors)
        if name in NESTED and isinstance(value, dict):
            values[name] = replace(NESTED[name](), **value)
            given |= {f"{name}.{k}" for k in value} if data[name] is not None else {name}
        else:
            values[name] = value
            given.add(name)
    if errors:
        return errors
    if kind == "products" and values.get("price") is not None:
        exponent = minor_units(values.get("currency") or "")
        if exponent is None:
            errors.append(("currency", "is required with a price"))
        else:
            values["price"] = money(values["price"], exponent, values["currency"], "price", errors)
    key_fields = {"customers": ("id", "email"), "staff": ("id",), "products": ("model",)}[kind]
    if not any(values.get(f) for f in key_fields):
        errors.append((key_fields[0], "is required" if kind != "customers" else "a customer needs an id or an e-mail"))
    if errors:
        return errors
    return Row(kind, replace(EMPTY[kind], **{k: v for k, v in values.items() if v is not None}), frozenset(given))


# --- what an upsert does -------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    status: str  # created | updated | unchanged | error
    record: Record | None = None  # to store (created, updated) or as stored (unchanged)
    before: Record | None = None  # the stored record it replaces, if any
    errors: Errors = field(default_factory=list)


def merge(stored: Record, row: Row) -> Record:
    """``stored`` with the fields the row gave; nested ones field by field."""
    changes: dict[str, Any] = {}
    for name in sorted(row.given):
        if name == "id" and isinstance(row.record, Customer) and not row.record.id:
            continue  # an empty id matches by e-mail; it never takes a customer's id away
        top, _, sub = name.partition(".")
        new = getattr(row.record, top)
        if sub:
            changes[top] = replace(changes.get(top, getattr(stored, top)), **{sub: getattr(new, sub)})
        else:
            changes[top] = new
    return replace(stored, **changes)  # type: ignore[type-var]


def decide(row: Row, by_key: Record | None, by_email: Record | None, now_ms: int) -> Decision:
    """What upserting ``row`` does. ``by_key``: the stored record with the row's id (model);
    ``by_email``: for a customer row with an e-mail, the stored customer who has it."""
    record = row.record
    target = by_key
    if isinstance(record, Customer):
        if record.id and by_key is None and by_email is not None and not by_email.id:  # type: ignore[union-attr]
            target = by_email  # the customer known only by e-mail gets their id
        elif not record.id:
            target = by_email
        if record.email and by_email is not None and (target is None or by_email.key != target.key):
            owner = by_email.label
            return Decision("error", errors=[("email", f"belongs to another customer ({owner}); a row's id and e-mail "
                                                        "must name the same customer")])
    if target is None:
        if isinstance(record, Staff) and not record.email:
            return Decision("error", errors=[("email", "is required for a new staff member")])
        made = merge(EMPTY[row.kind], row)
        return Decision("created", replace(made, updated_ms=now_ms))
    merged = merge(target, row)
    if isinstance(merged, Customer) and not merged.id and not merged.email:
        return Decision("error", errors=[("email", "a customer without an id keeps their e-mail")])
    if isinstance(merged, Staff) and not merged.email:
        return Decision("error", errors=[("email", "a staff member needs an e-mail")])
    if content(merged) == content(target):
        return Decision("unchanged", target, target)
    return Decision("updated", replace(merged, updated_ms=now_ms), target)


# --- stored records ----------------------------------------------------------------------------


def read(kind: str, data: object) -> Record | None:
    """A stored record (``as_json``) read back; None when it no longer reads."""
    if not isinstance(data, dict):
        return None
    found = parse(kind, {k: v for k, v in data.items() if k not in SERVER_FIELDS})
    if isinstance(found, list):
        return None
    updated = data.get("updated_ms")
    return replace(found.record, updated_ms=updated if isinstance(updated, int) else 0)


# --- CSV ---------------------------------------------------------------------------------------

YES, NO = ("yes", "true", "1", "y"), ("no", "false", "0", "n")
SCHEDULE_COLUMNS = ("schedule_timezone", *(f"schedule_{d}" for d in WEEKDAYS), "schedule_days_off")
COLUMNS = {
    "customers": ("id", "email", "name", "phone", "postcode", "area_code", "products_owned", "assigned_staff",
                  "consent_sales", "consent_marketing", "updated_ms"),
    "staff": ("id", "name", "email", "phone", "areas", "products", "alerts_channels", "alerts_events",
              *SCHEDULE_COLUMNS, "rep", "active", "updated_ms"),
    "products": ("model", "name", "category", "price", "currency", "related_attachments", "related_expendables",
                 "related_options", "updated_ms"),
}
LISTS = {"areas", "products", "alerts_channels", "alerts_events", "related_attachments", "related_expendables",
         "related_options", "schedule_days_off", *(f"schedule_{d}" for d in WEEKDAYS)}
BOOLS = {"consent_sales", "consent_marketing", "active"}
NOTES = "errors"  # the error report's column (console imports): ignored, so a fixed report imports back
CSV_MAX_ROWS = 10_000
CELL_MAX = 20_000


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(";") if part.strip()]


def _csv_path(path: str) -> str:
    """A validation path as the CSV's column: consent.sales -> consent_sales."""
    if path.startswith("schedule.hours."):
        return "schedule_" + path[len("schedule.hours."):]
    for group in ("consent", "related", "alerts", "schedule"):
        if path.startswith(group + "."):
            return group + "_" + path[len(group) + 1:]
    return path


def uncell(text: str) -> str:
    """A cell as written before ``export_cell`` made it safe."""
    return text[1:] if text.startswith("'") and text[1:].startswith((*FORMULA_STARTS, "'")) else text


def export_cell(text: str) -> str:
    """``spreadsheet.cell``, and a leading apostrophe kept as one: ``uncell`` undoes it exactly."""
    return "'" + text if text.startswith("'") and text[1:].startswith((*FORMULA_STARTS, "'")) else cell(text)


def check_header(kind: str, header: list[str]) -> Errors:
    """Unknown or repeated columns, or none that names the record: the whole file is refused."""
    errors: Errors = []
    known = COLUMNS[kind]
    for i, name in enumerate(header):
        if name == NOTES:
            continue
        if name not in known:
            errors.append((f"column {i + 1}", f"unknown column {name[:40]!r}; known: {', '.join(known)}"))
        elif header.index(name) != i:
            errors.append((f"column {i + 1}", f"{name} appears twice"))
    need = {"customers": ("id", "email"), "staff": ("id",), "products": ("model",)}[kind]
    if not any(n in header for n in need):
        errors.append(("header", "needs a column " + " or ".join(need)))
    return errors


def from_csv(kind: str, header: list[str], cells: list[str]) -> Row | Errors:
    """A CSV row (its cells under ``header``, already checked) as a ``Row``: a column present
    gives its field (an empty cell clears it), a column absent leaves the stored value."""
    if len(cells) > len(header):
        return [("", f"has {len(cells)} cells; the header has {len(header)}")]
    errors: Errors = []
    values = dict(zip(header, [uncell(c) for c in cells] + [""] * (len(header) - len(cells))))
    data: dict[str, Any] = {}
    for name, text in values.items():
        if name == NOTES:
            continue
        if len(text) > CELL_MAX:
            errors.append((name, f"must be at most {CELL_MAX} characters"))
        elif name in BOOLS:
            low = text.strip().lower()
            if low and low not in YES + NO:
                errors.append((name, "must be yes or no (true/false, 1/0)"))
                continue  # listed here; the other cells are still read for their problems
            value: Any = None if not low else low in YES
            group, _, sub = name.partition("_")
            if name == "active":
                data["active"] = value
            else:
                data.setdefault(group, {})[sub] = value
        elif name == "products_owned":
            data[name] = [{"model": m, "date": d} if sep else {"model": m}
                          for m, sep, d in (p.rpartition("@") if "@" in p else (p, "", "") for p in _split(text))]
        elif name.startswith(("related_", "alerts_")):
            group, _, sub = name.partition("_")
            data.setdefault(group, {})[sub] = _split(text)
        elif name in ("areas", "products"):
            data[name] = _split(text)
        elif name not in SCHEDULE_COLUMNS and name not in SERVER_FIELDS:
            data[name] = text or None
    schedule = {c: values[c] for c in SCHEDULE_COLUMNS if c in values}
    if schedule:
        data["schedule"] = _schedule_from(schedule)
    found = parse(kind, data)
    if isinstance(found, list):
        return errors + [(_csv_path(p), m) for p, m in found]
    return errors or found


def _schedule_from(cells: dict[str, str]) -> dict[str, Any] | None:
    if not any(v.strip() for v in cells.values()):
        return None
    out: dict[str, Any] = {"timezone": cells.get("schedule_timezone", "").strip(),
                           "hours": {d: _split(cells.get(f"schedule_{d}", "")) for d in WEEKDAYS}}
    if "schedule_days_off" in cells:
        out["days_off"] = _split(cells["schedule_days_off"])
    return out


def to_cells(record: Record) -> list[str]:
    """The record as its kind's CSV columns (before ``export_cell``)."""
    data = record.as_json()
    flat: dict[str, str] = {}
    for name, value in data.items():
        if name == "products_owned":
            flat[name] = ";".join(o["model"] + ("@" + o["date"] if o["date"] else "") for o in value)
        elif name == "schedule":
            hours = value["hours"] if value else {}
            flat["schedule_timezone"] = value["timezone"] if value else ""
            flat.update({f"schedule_{d}": ";".join(hours.get(d, [])) for d in WEEKDAYS})
            flat["schedule_days_off"] = ";".join(value["days_off"]) if value else ""
        elif isinstance(value, dict):
            for sub, inner in value.items():
                flat[f"{name}_{sub}"] = ";".join(inner) if isinstance(inner, list) else _cell_text(inner)
        else:
            flat[name] = ";".join(value) if isinstance(value, list) else _cell_text(value)
    return [flat.get(c, "") for c in COLUMNS[_kind_of(record)]]


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _kind_of(record: Record) -> str:
    return {Customer: "customers", Staff: "staff", Product: "products"}[type(record)]


def _lines(rows: Iterable[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def csv_header(kind: str) -> str:
    return _lines([list(COLUMNS[kind])])


def csv_lines(records: Iterable[Record]) -> str:
    """Records as CSV lines under their kind's header, every cell safe in a spreadsheet."""
    return _lines([export_cell(c) for c in to_cells(r)] for r in records)


def write_csv(kind: str, records: Iterable[Record]) -> str:
    return csv_header(kind) + csv_lines(records)


@dataclass(frozen=True)
class CsvRow:
    number: int  # the spreadsheet's row number: the header is row 1
    row: Row | None
    errors: Errors
    label: str = ""  # what the row names itself (its id, e-mail or model cell)


def _cell_label(kind: str, header: list[str], cells: list[str]) -> str:
    for name in {"customers": ("id", "email"), "staff": ("id",), "products": ("model",)}[kind]:
        if name in header and header.index(name) < len(cells):
            text = uncell(cells[header.index(name)]).strip()
            if text and len(text) <= 254 and not CONTROL.search(text):
                return text
    return ""


def read_csv(kind: str, text: str) -> Errors | list[CsvRow]:
    """Every data row of a CSV file, parsed or with its problems; a list of problems with the
    file as a whole (no header, unknown columns, a broken quote, too many rows) instead."""
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[CsvRow] = []
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            return [("header", "the file is empty; its first row names the columns: " + ", ".join(COLUMNS[kind]))]
        header = [h.strip().lower() for h in header]
        problems = check_header(kind, header)
        if problems:
            return problems
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue  # a blank line
            if len(rows) >= CSV_MAX_ROWS:
                return [("", f"a file holds at most {CSV_MAX_ROWS} rows; split it")]
            found = from_csv(kind, header, cells)
            if isinstance(found, list):
                rows.append(CsvRow(number, None, found, _cell_label(kind, header, cells)))
            else:
                rows.append(CsvRow(number, found, [], found.record.label))
    except csv.Error as exc:
        return [(f"row {reader.line_num}", f"is not CSV: {exc}")]
    return rows
