"""Leads (issue 13): a customer asked to be contacted, changed their details, or bought; who
of the site's sales staff gets it, and why.

Who gets a lead, first rule that gives someone:

1. **consent**: without the customer's consent (the form's checkbox, or their stored consent)
   nobody is contacted; the lead is kept and marked ``no_consent``;
2. **assigned**: the customer's assigned staff member, if active (in or out of hours: the
   customer is theirs);
3. **territory**: the first row of the site's territory table whose area prefixes match the
   customer's postcode or area code and whose products name the lead's model or its product
   line (a row without products: any); its staff member, if active. Without a table, the
   staff records' own areas and products are the table, in the order of their ids;
4. **rotation**: in turn, the active staff of the lead's product line (or model) who are within
   working hours now; without a model or line, every active staff member in hours;
5. **nobody**: the lead is kept and marked, and the site's extra addressees still get it.

Pure: no I/O. The rotation's turn is a counter the domain keeps per site and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from backend.core.records import Customer, Staff
from backend.core.validation import EMAIL_RE, is_text

Errors = list[tuple[str, str]]

KINDS = ("contact", "registration", "purchase")
SOURCES = ("widget", "form", "api", "identify", "order")
PATHS = ("assigned", "territory", "rotation", "nobody", "no_consent")
COMMENT_MAX, NAME_MAX, PHONE_MAX, POSTCODE_MAX, MODEL_MAX = 2000, 200, 32, 16, 64
MAX_TERRITORIES, MAX_PREFIXES, MAX_EXTRA_TO = 500, 200, 10
PHONE_RE = re.compile(r"[0-9 +()\-]{3,32}")
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # tab and newline stay (a comment)
# The fields a site's own contact form may send (data-beckon-form="contact"): never a
# password, a card or a hidden field (the snippet does not read those), and only these.
FORM_FIELDS = ("name", "email", "phone", "postcode", "comment", "model", "company", "consent")


def fold_area(value: str) -> str:
    """Postcodes and area codes compare upper-cased, without spaces: "sw1a 1aa" -> "SW1A1AA"."""
    return "".join(value.split()).upper()


@dataclass(frozen=True)
class Territory:
    areas: tuple[str, ...]  # prefixes of a postcode or area code, folded
    products: tuple[str, ...]  # models or product lines, lower-cased; empty: any
    staff: str

    def as_json(self) -> dict[str, Any]:
        return {"areas": list(self.areas), "products": list(self.products), "staff": self.staff}


@dataclass(frozen=True)
class Facts:
    """What routing reads of a lead."""

    area: str = ""  # the customer's postcode or area code, folded
    model: str = ""  # lower-cased
    line: str = ""  # the model's product line (its category), lower-cased
    assigned: str = ""  # the customer's assigned staff id
    consent: bool = False


@dataclass(frozen=True)
class Routed:
    staff: str  # "" when nobody
    path: str  # one of PATHS
    why: str


def consented(given: bool | None, customer: Customer | None) -> bool:
    """The form's answer when it asked; else what the customer's record says."""
    if given is not None:
        return given
    return bool(customer and customer.consent.sales)


def _matches(areas: tuple[str, ...], products: tuple[str, ...], facts: Facts) -> bool:
    return (facts.area != "" and any(facts.area.startswith(fold_area(a)) for a in areas if a)
            and (not products or (facts.model != "" and facts.model in products)
                 or (facts.line != "" and facts.line in products)))


def implicit_territories(staff: Mapping[str, Staff]) -> list[Territory]:
    """The staff records' own areas and products as a table, in the order of their ids."""
    return [Territory(s.areas, s.products, s.id) for _, s in sorted(staff.items()) if s.areas]


def route(facts: Facts, staff: Mapping[str, Staff], territories: list[Territory], turn: int,
          now: datetime) -> Routed:
    """Who gets the lead and why (the module's docstring gives the order)."""
    if not facts.consent:
        return Routed("", "no_consent", "the customer did not agree to be contacted by sales")
    person = staff.get(facts.assigned) if facts.assigned else None
    if person is not None and person.active:
        return Routed(person.id, "assigned", f"the customer's assigned salesperson ({person.id})")
    table = territories or implicit_territories(staff)
    for i, row in enumerate(table):
        person = staff.get(row.staff)
        if person is not None and person.active and _matches(row.areas, row.products, facts):
            named = next(p for p in row.areas if p and facts.area.startswith(fold_area(p)))
            what = f" and {facts.model or facts.line}" if row.products else ""
            source = f"territory row {i + 1}" if territories else "their staff record"
            return Routed(person.id, "territory", f"area {named}{what} ({source})")
    wanted = {p for p in (facts.model, facts.line) if p}
    pool = sorted(s.id for s in staff.values()
                  if s.active and (not wanted or wanted & set(s.products)) and s.on_duty(now))
    if pool:
        chosen = pool[turn % len(pool)]
        of = f"the {facts.line or facts.model} staff" if wanted else "the staff"
        return Routed(chosen, "rotation", f"next in turn of {len(pool)} of {of} in working hours")
    return Routed("", "nobody", "nobody matches and nobody of the product line is in working hours")


# --- validation ---------------------------------------------------------------------------------


def _text(value: object, path: str, limit: int, errors: Errors, multiline: bool = False) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or not is_text(value):
        errors.append((path, "must be text"))
        return ""
    # one line: every line break folds to a space; a comment keeps its lines, CRLF (as a form
    # posts a textarea) and a lone CR read as LF
    value = (value.replace("\r\n", "\n").replace("\r", "\n").strip() if multiline
             else " ".join(value.split()))
    if len(value) > limit:
        errors.append((path, f"must be at most {limit} characters"))
        return ""
    if CONTROL.search(value):
        errors.append((path, "must not hold control characters"))
        return ""
    return value


@dataclass(frozen=True)
class Request:
    """What a customer (or the site's server) said when asking to be contacted."""

    name: str = ""
    email: str = ""
    phone: str = ""
    postcode: str = ""
    comment: str = ""
    model: str = ""
    company: str = ""
    consent: bool | None = None  # None: the form did not ask
    customer_id: str = ""  # from the site's server only
    extra: Mapping[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "email": self.email, "phone": self.phone, "postcode": self.postcode,
                "comment": self.comment, "model": self.model, "company": self.company, "consent": self.consent,
                "customer_id": self.customer_id}


def parse_request(data: object, server: bool = False) -> Request | Errors:
    """A contact request from the widget's form, a site's marked form (FORM_FIELDS only), or
    the site's server (``server``: also ``customer_id``). Every problem listed; never raises.
    A way to reach the customer (e-mail or phone) is required."""
    if not isinstance(data, dict):
        return [("", "must be a JSON object")]
    allowed = FORM_FIELDS + (("customer_id",) if server else ())
    errors: Errors = []
    for key in data:
        if key not in allowed:
            shown = key[:40] if isinstance(key, str) and is_text(key) and key.isprintable() else "?"
            errors.append((shown, f"unknown field; known: {', '.join(allowed)}"))
    got = {name: _text(data.get(name), name, limit, errors, multiline=name == "comment")
           for name, limit in (("name", NAME_MAX), ("email", 254), ("phone", PHONE_MAX), ("postcode", POSTCODE_MAX),
                               ("comment", COMMENT_MAX), ("model", MODEL_MAX), ("company", NAME_MAX),
                               ("customer_id", 128))}
    email = got["email"].lower()
    if email and not EMAIL_RE.match(email):
        errors.append(("email", "is not an e-mail address"))
    if got["phone"] and not PHONE_RE.fullmatch(got["phone"]):
        errors.append(("phone", "may hold digits, spaces, +, - and brackets"))
    if not email and not got["phone"] and not any(p == "email" or p == "phone" for p, _ in errors):
        errors.append(("email", "give an e-mail address or a phone number, so that someone can reply"))
    consent = data.get("consent")
    if consent is not None and not isinstance(consent, bool):
        errors.append(("consent", "must be true or false"))
    if errors:
        return errors
    return Request(name=got["name"], email=email, phone=got["phone"], postcode=fold_area(got["postcode"]),
                   comment=got["comment"], model=got["model"].lower(), company=got["company"],
                   consent=consent if isinstance(consent, bool) else None, customer_id=got["customer_id"])


def from_message(fields: Mapping[str, str]) -> Request:
    """The widget's "leave a message" (name, e-mail, message; checked by its form) as a contact
    request: one-line fields folded, control characters gone, no consent asked."""
    return Request(name=one_line(fields.get("name", ""), NAME_MAX), email=fields.get("email", "").strip().lower(),
                   comment=CONTROL.sub("", fields.get("message", "")).strip())


def parse_territories(data: object) -> list[Territory] | Errors:
    """The territory table, in order (first match wins); every problem listed."""
    if not isinstance(data, list) or len(data) > MAX_TERRITORIES:
        return [("", f"must be a list of at most {MAX_TERRITORIES} rows {{areas, products, staff}}")]
    errors: Errors = []
    out = []
    for i, row in enumerate(data):
        path = f"[{i}]"
        if not isinstance(row, dict) or set(row) - {"areas", "products", "staff"}:
            errors.append((path, "must be an object {areas, products, staff}"))
            continue
        lists: dict[str, tuple[str, ...]] = {}
        for name, fold in (("areas", fold_area), ("products", str.lower)):
            value = row.get(name, [])
            if not isinstance(value, list) or len(value) > MAX_PREFIXES:
                errors.append((f"{path}.{name}", f"must be a list of at most {MAX_PREFIXES}"))
                continue
            items = [_text(v, f"{path}.{name}", MODEL_MAX, errors) for v in value]
            lists[name] = tuple(dict.fromkeys(fold(v) for v in items if v))
        if not lists.get("areas") and "areas" in lists:
            errors.append((f"{path}.areas", "name at least one area code or postcode prefix"))
        staff = _text(row.get("staff"), f"{path}.staff", 64, errors)
        if not staff:
            errors.append((f"{path}.staff", "is required: a staff id"))
        if lists.get("areas") and staff:
            out.append(Territory(lists["areas"], lists.get("products", ()), staff))
    return errors or out


# --- stored leads ---------------------------------------------------------------------------

STATUSES = ("sent", "no_consent", "nobody")
CONTACT_FIELDS = ("name", "email", "phone", "postcode", "area_code")  # a registration update is a change of these
EVENTS = {"contact": "new_lead", "registration": "new_lead", "purchase": "purchase"}  # core/records.py:ALERT_EVENTS
# An address plain enough for a To: or Reply-To: header: no comma, quote, bracket or space that
# could make one value two addresses.
PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


@dataclass(frozen=True)
class Lead:
    """A lead as stored: who asked (or changed, or bought), about what, and who got it and why."""

    id: str
    kind: str  # KINDS
    source: str  # SOURCES
    created_ms: int
    visitor: str = ""
    customer: str = ""  # the customer record's id, else its e-mail; "" when none matched
    name: str = ""
    email: str = ""
    phone: str = ""
    postcode: str = ""
    area_code: str = ""
    company: str = ""
    comment: str = ""
    model: str = ""
    line: str = ""
    consent: bool = False
    order_id: str = ""
    changes: tuple[str, ...] = ()  # a registration update: which of CONTACT_FIELDS changed
    staff: str = ""
    path: str = "nobody"  # PATHS
    why: str = ""
    status: str = "nobody"  # STATUSES
    notified: tuple[str, ...] = ()  # the addresses mailed

    @property
    def event(self) -> str:
        """The alert event a staff member chooses to hear about (core/records.py:ALERT_EVENTS)."""
        return EVENTS[self.kind]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "source": self.source, "created_ms": self.created_ms,
                "visitor": self.visitor, "customer": self.customer, "name": self.name, "email": self.email,
                "phone": self.phone, "postcode": self.postcode, "area_code": self.area_code,
                "company": self.company, "comment": self.comment, "model": self.model, "line": self.line,
                "consent": self.consent, "order_id": self.order_id, "changes": list(self.changes),
                "routed": {"staff": self.staff, "path": self.path, "why": self.why}, "status": self.status,
                "notified": list(self.notified)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Lead":
        routed = data.get("routed") or {}
        plain = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k not in ("changes", "notified")}
        return cls(**plain, changes=tuple(data.get("changes") or ()), notified=tuple(data.get("notified") or ()),
                   staff=routed.get("staff", ""), path=routed.get("path", "nobody"), why=routed.get("why", ""))


def status_of(routed: Routed) -> str:
    if routed.path == "no_consent":
        return "no_consent"
    return "sent" if routed.staff else "nobody"


def changed_details(before: Customer, after: Customer) -> tuple[str, ...]:
    """Which contact details differ: what makes a registration update worth a lead."""
    return tuple(f for f in CONTACT_FIELDS if getattr(before, f) != getattr(after, f))


def addressees(lead: Lead, staff: Staff | None, extra: list[str]) -> list[str]:
    """Who is mailed, each address once (compared lower-cased): the chosen staff member, when
    e-mail is among their channels and the lead's event among their events; and the site's
    extra addressees (its own inbox). Without consent no salesperson is mailed; the site's
    inbox still gets a contact request (the customer wrote to the site and expects an answer,
    as "leave a message" always did), never a registration or a purchase."""
    out: list[str] = []
    if (lead.status == "sent" and staff is not None and staff.email and "email" in staff.alerts.channels
            and lead.event in staff.alerts.events):
        out.append(staff.email)
    if lead.status != "no_consent" or lead.kind == "contact":
        out += extra
    seen: set[str] = set()
    kept = []
    for address in out:
        if address and address.lower() not in seen and PLAIN_ADDRESS.fullmatch(address):
            seen.add(address.lower())
            kept.append(address)
    return kept


def alerts_console(lead: Lead, staff: Staff | None) -> bool:
    """The chosen staff member is a console rep who asked for console alerts of this event."""
    return (lead.status == "sent" and staff is not None and bool(staff.rep) and "console" in staff.alerts.channels
            and lead.event in staff.alerts.events)


def alerts_webhook(lead: Lead, staff: Staff | None) -> bool:
    return (lead.status == "sent" and staff is not None and "webhook" in staff.alerts.channels
            and lead.event in staff.alerts.events)


def one_line(value: str, limit: int = 120) -> str:
    """Customer text made safe for a subject: every control, line or paragraph separator a space."""
    cleaned = "".join(" " if (c.isspace() or not c.isprintable()) else c for c in value)
    return " ".join(cleaned.split())[:limit]


def subject(lead: Lead, site_name: str) -> str:
    """The mail's subject, from one-line values only."""
    who = one_line(lead.name, 80) or "a visitor"
    site = one_line(site_name, 80)
    about = f" about {one_line(lead.model, 64)}" if lead.model else ""
    if lead.kind == "purchase":
        return f"Purchase by {who} on {site}" + (f": order {one_line(lead.order_id, 64)}" if lead.order_id else "")
    if lead.kind == "registration":
        return f"{who[:1].upper()}{who[1:]} changed their details on {site}"
    return f"Message from {who} on {site}{about}"


def reply_to(lead: Lead) -> str:
    """The customer's address for Reply-To: only a plain one (else none; it is in the body)."""
    return lead.email if lead.email and PLAIN_ADDRESS.fullmatch(lead.email) else ""


# --- lead settings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadSettings:
    extra_to: tuple[str, ...] = ()  # the site's own addressees of every lead, besides offer.sales_email

    def as_json(self) -> dict[str, Any]:
        return {"extra_to": list(self.extra_to)}


def parse_lead_settings(data: object) -> LeadSettings | Errors:
    if not isinstance(data, dict):
        return [("", "must be a JSON object {extra_to}")]
    errors: Errors = []
    for key in data:
        if key != "extra_to":
            shown = key[:40] if isinstance(key, str) and is_text(key) and key.isprintable() else "?"
            errors.append((shown, "unknown field; known: extra_to"))
    value = data.get("extra_to", [])
    if not isinstance(value, list) or len(value) > MAX_EXTRA_TO:
        return errors + [("extra_to", f"must be a list of at most {MAX_EXTRA_TO} e-mail addresses")]
    out: list[str] = []
    for i, item in enumerate(value):
        address = _text(item, f"extra_to[{i}]", 254, errors)
        if address and not PLAIN_ADDRESS.fullmatch(address):
            errors.append((f"extra_to[{i}]", "must be an e-mail address such as sales@shop.example"))
        elif address and address.lower() not in out:
            out.append(address.lower())
    return errors or LeadSettings(tuple(out))


# --- "my customer is on the site and needs help" -----------------------------------------------

HELP_ALERT_EVERY_S = 3600  # one alert per customer an hour: a long struggle is one call to make
HELP_EVENT = "customer_needs_help"


def help_channels(staff: Staff | None) -> tuple[str, ...]:
    """The channels over which the customer's assigned salesperson asked to hear that their
    customer needs help on the site now: none when inactive or not asked for."""
    if staff is None or not staff.active or HELP_EVENT not in staff.alerts.events:
        return ()
    return tuple(c for c in staff.alerts.channels if c != "console" or staff.rep)


def help_subject(customer_name: str, site_name: str) -> str:
    return f"{one_line(customer_name or 'Your customer', 60)} needs help on {one_line(site_name, 60)} now"


CURSOR_MAX = 80


def parse_cursor(cursor: str) -> tuple[int, str] | None:
    """A list position "<ms>.<lead id>", as a page of leads ends (``Leads.list`` and
    ``recent``); None for anything else. ASCII digits only: "²".isdigit() holds, int() fails."""
    ms, _, lid = cursor.partition(".")
    if len(cursor) > CURSOR_MAX or not (ms.isascii() and ms.isdigit()) or not lid or not lid.isprintable():
        return None
    return int(ms), lid
