"""Validation of the v1 event protocol (snippet/PROTOCOL.md).

Plain functions over parsed JSON: fast enough for the hot path, and every rejection names
the field that was wrong so a site owner debugging an integration sees why.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any, Callable

from backend.core.orders import parse_order
from backend.core.validation import NOT_TEXT, finite_number, is_text, split_url
from backend.core.rep_profile import language_tag

# \Z, not $: "$" also matches before a trailing newline, and "abcdefgh\n" is no id.
ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}\Z")


def new_id(nbytes: int = 9) -> str:
    """A random id for URLs, file names and command lines (site keys, representatives, materials
    ...): token_urlsafe's, drawn again until it neither starts nor ends with "-" or "_". A key
    starting with "-" reads as an option to ``beckon rep create --site KEY``, and a file name
    made from an id drops a trailing dash."""
    while True:
        found = secrets.token_urlsafe(nbytes)
        if found[0].isalnum() and found[-1].isalnum():
            return found


TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")  # a visitor token (store/lua/ingest.lua makes them)
CURRENCY_RE = re.compile(r"^[A-Za-z]{3}\Z")
MAX_MS = 3_600_000
ERROR_KINDS = frozenset({"invalid", "aria", "marked", "submit"})


class ProtocolError(ValueError):
    """``errors``: every problem, when an event has several (an order's fields)."""

    def __init__(self, message: str, field: str = "", status: int = 400,
                 errors: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
        self.errors = errors or []

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message}
        if self.field:
            body["field"] = self.field
        if self.errors:
            body["errors"] = [{"field": path, "message": message} for path, message in self.errors]
        return body


@dataclass(frozen=True)
class Batch:
    site: str
    vid: str
    pid: str
    consent: bool
    events: list[dict[str, Any]]
    tok: str = ""  # the visitor's token, once the page was given one


def _str(ev: dict[str, Any], key: str, path: str, limit: int, required: bool = True) -> str:
    value = ev.get(key)
    if value is None:
        if required:
            raise ProtocolError(f"'{key}' is required", f"{path}.{key}")
        return ""
    if not isinstance(value, str):
        raise ProtocolError(f"'{key}' must be a string", f"{path}.{key}")
    if not is_text(value):
        raise ProtocolError(f"'{key}' {NOT_TEXT}", f"{path}.{key}")
    if len(value) > limit:
        raise ProtocolError(f"'{key}' is longer than {limit} characters", f"{path}.{key}")
    return value


def _int(ev: dict[str, Any], key: str, path: str, low: int, high: int, required: bool = True) -> int:
    value = ev.get(key)
    if value is None and not required:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ProtocolError(f"'{key}' must be a whole number from {low} to {high}", f"{path}.{key}")
    return value


def _url(ev: dict[str, Any], key: str, path: str, required: bool) -> str:
    """A page address the server can take apart later (service points match its path)."""
    url = _str(ev, key, path, 2048, required)
    if required and not url:
        raise ProtocolError(f"'{key}' must not be empty", f"{path}.{key}")
    if url and split_url(url) is None:
        raise ProtocolError(f"'{key}' is not a URL that can be read (check the brackets of its host)",
                            f"{path}.{key}")
    return url


def _pv(ev: dict[str, Any], path: str) -> dict[str, Any]:
    return {
        "t": "pv",
        "url": _url(ev, "url", path, True),
        "title": _str(ev, "title", path, 300, False),
        "ref": _url(ev, "ref", path, False),
        "visits": _int(ev, "visits", path, 0, 100_000, False),
        # The visitor's language (the browser's preference, else the page's): a tag that cannot
        # be read is unknown, not an error (the browser or host page wrote it, not the snippet).
        "lang": language_tag(_str(ev, "lang", path, 35, False)) or "",
    }


def _hb(ev: dict[str, Any], path: str) -> dict[str, Any]:
    return {"t": "hb"}


def _bye(ev: dict[str, Any], path: str) -> dict[str, Any]:
    return {"t": "bye"}


def _dwell(ev: dict[str, Any], path: str) -> dict[str, Any]:
    return {"t": "dwell", "ms": _int(ev, "ms", path, 0, MAX_MS)}


def _field(ev: dict[str, Any], path: str) -> dict[str, Any]:
    name = _str(ev, "name", path, 100)
    if not name:
        raise ProtocolError("'name' must not be empty", f"{path}.name")
    return {"t": "field", "name": name, "ms": _int(ev, "ms", path, 0, MAX_MS)}


def _err(ev: dict[str, Any], path: str) -> dict[str, Any]:
    kind = ev.get("kind")
    if not isinstance(kind, str) or kind not in ERROR_KINDS:  # a list or an object cannot be looked up
        raise ProtocolError(f"'kind' must be one of {', '.join(sorted(ERROR_KINDS))}", f"{path}.kind")
    return {
        "t": "err",
        "field": _str(ev, "field", path, 100, False),
        "kind": kind,
        "msg": _str(ev, "msg", path, 200, False),
    }


def _svc(ev: dict[str, Any], path: str) -> dict[str, Any]:
    point = _str(ev, "point", path, 64)
    if not point:
        raise ProtocolError("'point' must not be empty", f"{path}.point")
    return {"t": "svc", "point": point}


def _cart(ev: dict[str, Any], path: str) -> dict[str, Any]:
    value = ev.get("value")
    if not finite_number(value) or not 0 <= value <= 1e9:
        raise ProtocolError("'value' must be a number from 0 to 1000000000", f"{path}.value")
    currency = ev.get("currency", "")
    if not isinstance(currency, str) or not CURRENCY_RE.match(currency):
        raise ProtocolError("'currency' must be a three-letter code such as EUR", f"{path}.currency")
    return {"t": "cart", "value": value, "currency": currency.upper()}


def _id(ev: dict[str, Any], path: str) -> dict[str, Any]:
    out = {
        "t": "id",
        "id": _str(ev, "id", path, 128, False),
        "email": _str(ev, "email", path, 254, False).strip().lower(),
        "name": _str(ev, "name", path, 128, False),
        "sig": _str(ev, "sig", path, 128, False),
        "area": " ".join(_str(ev, "area", path, 32, False).split()).upper(),  # postcode, area code, region
    }
    if not (out["id"] or out["email"] or out["name"]):
        raise ProtocolError("an 'id' event needs at least one of id, email, name", path)
    if out["email"] and "@" not in out["email"]:
        raise ProtocolError("'email' is not an e-mail address", f"{path}.email")
    return out


def _code(ev: dict[str, Any], path: str) -> dict[str, Any]:
    code = _str(ev, "code", path, 64)
    if not code:
        raise ProtocolError("'code' must not be empty", f"{path}.code")
    return {"t": "code", "code": code}


def _buy(ev: dict[str, Any], path: str) -> dict[str, Any]:
    """Beckon.purchase(): the order as core/orders.py reads it; the collector adds the
    visitor and the time."""
    order, errors = parse_order({k: v for k, v in ev.items() if k not in ("t", "ts")}, "page", 0, path)
    if order is None:
        where, message = errors[0]
        raise ProtocolError(f"'{where.removeprefix(path + '.')}' {message}", where, errors=errors)
    return {"t": "buy", "order": order}


VALIDATORS: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
    "pv": _pv,
    "hb": _hb,
    "bye": _bye,
    "dwell": _dwell,
    "field": _field,
    "err": _err,
    "svc": _svc,
    "cart": _cart,
    "id": _id,
    "code": _code,
    "buy": _buy,
}


def parse_batch(data: Any, max_events: int) -> Batch:
    """Validate a decoded JSON body; raise ProtocolError on the first problem."""
    if not isinstance(data, dict):
        raise ProtocolError("the body must be a JSON object")
    if data.get("v", 1) != 1:
        raise ProtocolError("unsupported protocol version; this collector speaks v1", "v")
    ids = []
    for key in ("site", "vid", "pid"):
        value = data.get(key)
        if not isinstance(value, str) or not ID_RE.match(value):
            raise ProtocolError(f"'{key}' must be 8-64 letters, digits, '-' or '_'", key)
        ids.append(value)
    consent = data.get("consent", False)
    if not isinstance(consent, bool):
        raise ProtocolError("'consent' must be true or false", "consent")
    tok = data.get("tok", "")
    if not isinstance(tok, str) or not TOKEN_RE.fullmatch(tok) and tok != "":
        raise ProtocolError("'tok' must be the token an earlier answer gave", "tok")
    events = data.get("events")
    if not isinstance(events, list):
        raise ProtocolError("'events' must be a list", "events")
    if not events:
        raise ProtocolError("'events' is empty", "events")
    if len(events) > max_events:
        raise ProtocolError(f"too many events: at most {max_events} per batch", "events")
    clean = []
    for i, ev in enumerate(events):
        path = f"events[{i}]"
        if not isinstance(ev, dict):
            raise ProtocolError("an event must be an object", path)
        t = ev.get("t")
        validator = VALIDATORS.get(t) if isinstance(t, str) else None  # a list cannot be looked up
        if validator is None:
            shown = repr(t[:20]) if isinstance(t, str) else "(not a string)"
            raise ProtocolError(f"unknown event type {shown}; known: {', '.join(VALIDATORS)}", f"{path}.t")
        clean.append(validator(ev, path))
    return Batch(site=ids[0], vid=ids[1], pid=ids[2], consent=consent, events=clean, tok=tok)
