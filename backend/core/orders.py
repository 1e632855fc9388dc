"""Orders (sales a site records), their validation, and the signature of orders a shop's server
posts.

Money is ``Decimal`` from end to end: an amount is read from the text that was sent (a JSON
number parsed as a decimal, or a string such as ``"19.99"``) and is checked against its
currency's minor units, so ``0.1 + 0.2`` arriving as ``0.30000000000000004`` is refused rather
than silently rounded. Validation lists every problem as (path, message) and never raises, on
anything a JSON decoder can produce.

Signing follows Standard Webhooks (standardwebhooks.com), so a shop may use one of its
libraries: ``v1,`` + base64 of HMAC-SHA256 over ``"<id>.<timestamp>.<body>"``, the key being the
base64 after the secret's ``whsec_`` prefix.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal, DecimalException
from typing import Any

from backend.core.currencies import minor_units
from backend.core.validation import EMAIL_RE, is_text

SOURCES = ("page", "server")
ORDER_ID_RE = re.compile(r"[!-~]{1,64}")  # printable ASCII, no spaces: what shops number orders with
VISITOR_ID_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")  # as core/protocol.py:ID_RE
DECIMAL_TEXT_RE = re.compile(r"-?[0-9]{1,40}(\.[0-9]{1,40})?")
MAX_AMOUNT = Decimal(10) ** 12
MAX_ITEMS = 200
MAX_QTY = 1_000_000
EARLIEST_MS = 946_684_800_000  # 2000-01-01: an older "created" is a unit mistake (seconds for ms)
FUTURE_SLACK_MS = 86_400_000

Errors = list[tuple[str, str]]


@dataclass(frozen=True)
class Item:
    sku: str
    name: str
    qty: int
    price: Decimal
    category: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"sku": self.sku, "name": self.name, "qty": self.qty, "price": str(self.price),
                "category": self.category}


@dataclass(frozen=True)
class Order:
    """A sale. ``visitor_id``, ``customer_id`` and ``email`` are who the sender named;
    ``visitors`` the visitor ids it was joined to when recorded (the named visitor, or those
    the named customer identified as)."""

    order_id: str
    value: Decimal
    currency: str
    items: tuple[Item, ...] = ()
    visitor_id: str = ""
    customer_id: str = ""
    email: str = ""
    created_ms: int = 0
    source: str = "server"
    visitors: tuple[str, ...] = field(default=())

    def joined(self, visitors: list[str]) -> "Order":
        return replace(self, visitors=tuple(visitors))

    def as_json(self) -> dict[str, Any]:
        """Amounts as strings: JSON numbers are floats to most readers."""
        return {"order_id": self.order_id, "value": str(self.value), "currency": self.currency,
                "items": [i.as_json() for i in self.items], "visitor_id": self.visitor_id,
                "customer_id": self.customer_id, "email": self.email, "created": self.created_ms,
                "source": self.source, "visitors": list(self.visitors)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Order":
        """An order as ``as_json`` stored it (trusted: it was validated on the way in)."""
        return cls(order_id=data["order_id"], value=Decimal(data["value"]), currency=data["currency"],
                   items=tuple(Item(i["sku"], i["name"], int(i["qty"]), Decimal(i["price"]), i["category"])
                               for i in data["items"]),
                   visitor_id=data["visitor_id"], customer_id=data["customer_id"], email=data["email"],
                   created_ms=int(data["created"]), source=data["source"], visitors=tuple(data["visitors"]))


# --- validation -------------------------------------------------------------------------------


def _decimal(raw: Any) -> Decimal | None:
    """The amount a JSON value stands for, read from its text; None if it is no finite decimal."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, Decimal):  # parsed with parse_float=Decimal: the text as sent
        return raw if raw.is_finite() else None
    if isinstance(raw, int):
        return Decimal(raw) if abs(raw) < 10 ** 40 else None
    if isinstance(raw, float):  # repr is the shortest text that reads back as this float:
        return Decimal(repr(raw)) if math.isfinite(raw) else None  # what a browser's JSON wrote
    if isinstance(raw, str) and DECIMAL_TEXT_RE.fullmatch(raw):
        return Decimal(raw)
    return None


def money(raw: Any, exponent: int, currency: str, path: str, errors: Errors) -> Decimal | None:
    """A non-negative amount with at most ``exponent`` decimals, quantized to them."""
    amount = _decimal(raw)
    if amount is None:
        errors.append((path, 'must be a decimal number: a JSON number or a string such as "19.99"'))
        return None
    try:
        if amount < 0:
            errors.append((path, "must not be negative"))
            return None
        if amount >= MAX_AMOUNT:
            errors.append((path, f"must be less than {MAX_AMOUNT}"))
            return None
        unit = Decimal(1).scaleb(-exponent)
        exact = amount.quantize(unit)
        if exact != amount:
            errors.append((path, f"has more than {exponent} decimals ({currency} has {exponent})"
                          if currency else f"has more than {exponent} decimals"))
            return None
        return exact.copy_abs()  # "-0" is 0.00, not -0.00
    except DecimalException:  # an exponent no context can hold
        errors.append((path, "is not an amount that can be stored"))
        return None


def _text(data: dict[str, Any], key: str, path: str, limit: int, errors: Errors, required: bool = False) -> str:
    value = data.get(key)
    where = f"{path}{key}"
    if value is None or value == "":
        if required:
            errors.append((where, "is required"))
        return ""
    if not isinstance(value, str):
        errors.append((where, "must be a string"))
    elif not is_text(value):
        errors.append((where, "must be text (it holds a lone UTF-16 surrogate such as \\ud800)"))
    elif len(value) > limit:
        errors.append((where, f"must be at most {limit} characters"))
    else:
        return value.strip()
    return ""


def _currency(data: dict[str, Any], path: str, errors: Errors) -> tuple[str, int]:
    """The code, upper-cased, and its minor units (2 while unknown, to go on checking)."""
    raw = data.get("currency")
    code = raw.upper() if isinstance(raw, str) and re.fullmatch(r"[A-Za-z]{3}", raw) else ""
    exponent = minor_units(code) if code else None
    if exponent is None:
        errors.append((f"{path}currency", "must be an ISO 4217 currency code such as EUR, USD or JPY"))
        return "", 2
    return code, exponent


def _item(raw: Any, path: str, currency: str, exponent: int, errors: Errors) -> Item | None:
    if not isinstance(raw, dict):
        errors.append((path, "must be an object {sku, name, qty, price, category}"))
        return None
    before = len(errors)
    sku = _text(raw, "sku", f"{path}.", 64, errors)
    name = _text(raw, "name", f"{path}.", 200, errors)
    category = _text(raw, "category", f"{path}.", 100, errors)
    if not sku and not name and len(errors) == before:
        errors.append((path, "needs a sku or a name"))
    qty = raw.get("qty", 1)
    if not isinstance(qty, int) or isinstance(qty, bool) or not 1 <= qty <= MAX_QTY:
        errors.append((f"{path}.qty", f"must be a whole number from 1 to {MAX_QTY}"))
    price = money(raw.get("price"), exponent, currency, f"{path}.price", errors)
    if len(errors) > before or price is None:
        return None
    return Item(sku=sku, name=name, qty=qty, price=price, category=category)


def parse_order(data: Any, source: str, now_ms: int, path: str = "") -> tuple[Order | None, Errors]:
    """An order from decoded JSON, or every problem with it. A page (``source`` "page") names
    no visitor or customer: the collector knows the visitor, and anything else a page says
    about who bought could be anyone's claim. Fields not listed here are ignored."""
    errors: Errors = []
    prefix = f"{path}." if path else ""
    if not isinstance(data, dict):
        return None, [(path, "must be a JSON object")]
    order_id = data.get("order_id")
    if not isinstance(order_id, str) or not ORDER_ID_RE.fullmatch(order_id):
        errors.append((f"{prefix}order_id", "must be 1-64 printable ASCII characters without spaces"))
        order_id = ""
    currency, exponent = _currency(data, prefix, errors)
    value = money(data.get("value"), exponent, currency, f"{prefix}value", errors)
    raw_items = data.get("items", [])
    items: list[Item] = []
    if not isinstance(raw_items, list) or len(raw_items) > MAX_ITEMS:
        errors.append((f"{prefix}items", f"must be a list of at most {MAX_ITEMS} items"))
    else:
        for i, raw in enumerate(raw_items):
            item = _item(raw, f"{prefix}items[{i}]", currency, exponent, errors)
            if item is not None:
                items.append(item)
    visitor = customer = email = ""
    created = now_ms
    if source == "server":
        visitor = _text(data, "visitor_id", prefix, 64, errors)
        if visitor and not VISITOR_ID_RE.fullmatch(visitor):
            errors.append((f"{prefix}visitor_id", "must be the visitor id the snippet made: 8-64 letters, digits, "
                                                  "'-' or '_'"))
        customer = _text(data, "customer_id", prefix, 128, errors)
        email = _text(data, "email", prefix, 254, errors).lower()
        if email and not EMAIL_RE.match(email):
            errors.append((f"{prefix}email", "is not an e-mail address"))
        raw_created = data.get("created", now_ms)
        if (not isinstance(raw_created, int) or isinstance(raw_created, bool)
                or not EARLIEST_MS <= raw_created <= now_ms + FUTURE_SLACK_MS):
            errors.append((f"{prefix}created", "must be a time in milliseconds since 1970 (not seconds), "
                                               "from 2000 to tomorrow"))
        else:
            created = raw_created
    if errors or value is None:
        return None, errors
    return Order(order_id=order_id, value=value, currency=currency, items=tuple(items), visitor_id=visitor,
                 customer_id=customer, email=email, created_ms=created, source=source), []


# --- signed orders from a shop's server -------------------------------------------------------

TOLERANCE_S = 300  # a delivery signed more than this far from now, either way, is refused
SECRET_PREFIX = "whsec_"
MSG_ID_RE = re.compile(r"[!-~]{1,128}")
TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")


def signing_key(secret: str) -> bytes:
    """The HMAC key a secret stands for: the bytes its base64 encodes (Standard Webhooks)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return encoded.encode()


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """What the shop's server sends in ``webhook-signature`` for one delivery."""
    mac = hmac.new(signing_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signature_problem(secret: str, msg_id: str, timestamp: str, signatures: str, body: bytes,
                      now_s: float) -> str | None:
    """Why a delivery is not the shop's own, recent one; None when it is. ``signatures`` is the
    header as sent: several space-separated, one of which must match (a sender rotating its
    secret signs with both)."""
    if not secret:
        return "this site has no order-signing secret yet; read it from the order-secret API or the admin page"
    if not MSG_ID_RE.fullmatch(msg_id):
        return "webhook-id must be 1-128 printable ASCII characters without spaces"
    if not TIMESTAMP_RE.fullmatch(timestamp):
        return "webhook-timestamp must be the time of signing in whole seconds since 1970"
    age = now_s - int(timestamp)
    if age > TOLERANCE_S:
        return f"webhook-timestamp is more than {TOLERANCE_S // 60} minutes old: sign each delivery when sending it"
    if age < -TOLERANCE_S:
        return f"webhook-timestamp is more than {TOLERANCE_S // 60} minutes ahead: check the sending server's clock"
    want = signature(secret, msg_id, int(timestamp), body).encode()
    given = [s.encode("latin-1", "replace") for s in signatures.split(" ") if s.startswith("v1,")]
    if not given:
        return "webhook-signature must hold a v1 signature: v1,<base64 of the HMAC-SHA256>"
    matched = False
    for one in given:  # every one compared, in constant time each
        matched |= hmac.compare_digest(one, want)
    return None if matched else "webhook-signature does not match (wrong secret, or the body changed on the way)"
