"""Which help an order is owed to, and what the representative earns on it.

A visitor's *touch* is the latest help episode they had: HELP offered, then perhaps accepted,
then perhaps a chat with a representative. An order is attributed to the most recent touch of
its visitor, or of any visitor of the same identified customer (another device), that began
before the order and within the site's attribution window; its kind is how far that episode
went (``offered`` only, ``accepted``, ``chatted``), and a chat credits its representative.

Commission is a rate of the order's amount: per product category where the site set one,
else the site's default rate; for an order without items, the default rate on its value.
Money is ``Decimal`` throughout and rounded half-up to the currency's minor unit once, at the
end.

Pure: no I/O. ``validate_sales_settings`` lists every problem and never raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from backend.core.validation import finite_number, is_text

KINDS = ("offered", "accepted", "chatted")  # how far a help episode went, in order
DAY_MS = 86_400_000
WINDOW_DAYS_DEFAULT, WINDOW_DAYS_MIN, WINDOW_DAYS_MAX = 7, 1, 30
MAX_CATEGORIES, CATEGORY_MAX = 200, 64

Errors = list[tuple[str, str]]


@dataclass(frozen=True)
class Touch:
    """A visitor's latest help episode: when it began and how far it went."""

    visitor: str
    kind: str  # offered | accepted | chatted
    at_ms: int  # when HELP was offered (the episode's start)
    rep: str = ""  # the chat's representative, for "chatted"
    chat: str = ""


@dataclass(frozen=True)
class Attribution:
    kind: str  # offered | accepted | chatted
    visitor: str
    rep: str
    chat: str
    touch_ms: int


def attribute(order_ms: int, touches: list[Touch], window_days: int) -> Attribution | None:
    """The most recent touch that began before the order and within the window; None when
    the order owes nothing to help. Ties go to the furthest-reaching episode."""
    window_ms = window_days * DAY_MS
    eligible = [t for t in touches if t.kind in KINDS and t.at_ms <= order_ms and order_ms - t.at_ms <= window_ms]
    if not eligible:
        return None
    best = max(eligible, key=lambda t: (t.at_ms, KINDS.index(t.kind), t.visitor))
    return Attribution(best.kind, best.visitor, best.rep if best.kind == "chatted" else "", best.chat, best.at_ms)


# --- commission -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SalesSettings:
    attribution_days: int = WINDOW_DAYS_DEFAULT
    commission_rate: Decimal = Decimal("0")  # of the order's amount, 0-1
    category_rates: dict[str, Decimal] = field(default_factory=dict)  # category -> rate, 0-1

    def rate(self, category: str) -> Decimal:
        return self.category_rates.get(category.strip().lower(), self.commission_rate)

    def as_json(self) -> dict[str, Any]:
        return {"attribution_days": self.attribution_days, "commission_rate": str(self.commission_rate),
                "category_rates": {k: str(v) for k, v in sorted(self.category_rates.items())}}


@dataclass(frozen=True)
class Line:
    category: str
    amount: Decimal  # price x quantity


def commission(value: Decimal, lines: list[Line], settings: SalesSettings, minor_units: int) -> Decimal:
    """The representative's commission on an order, rounded half-up to the currency's minor unit."""
    if lines:
        raw = sum((line.amount * settings.rate(line.category) for line in lines), Decimal("0"))
    else:
        raw = value * settings.commission_rate
    return raw.quantize(Decimal(1).scaleb(-minor_units), rounding=ROUND_HALF_UP)


def _rate(value: object, path: str, errors: Errors) -> Decimal | None:
    """A rate from 0 to 1, given as a number or a decimal string ("0.05")."""
    rate: Decimal | None = None
    if is_text(value) and 0 < len(value) <= 20:  # type: ignore[arg-type]
        try:
            rate = Decimal(value)  # type: ignore[arg-type]
        except InvalidOperation:
            rate = None
    elif finite_number(value) and not isinstance(value, bool):
        rate = Decimal(str(value))
    if rate is None or not rate.is_finite() or not Decimal(0) <= rate <= Decimal(1):
        errors.append((path, "must be a rate from 0 to 1, such as 0.05"))
        return None
    return rate


def validate_sales_settings(data: object, base: SalesSettings | None = None) -> SalesSettings | Errors:
    """``data`` merged over ``base``: the fields given replace theirs; every problem listed."""
    base = base or SalesSettings()
    if not isinstance(data, dict):
        return [("", "must be a JSON object {attribution_days, commission_rate, category_rates}")]
    errors: Errors = []
    for i, key in enumerate(data):
        if key not in ("attribution_days", "commission_rate", "category_rates"):
            errors.append((key if is_text(key) and len(key) <= 64 and key.isprintable() else f"[{i}]",
                           "unknown field; allowed: attribution_days, commission_rate, category_rates"))
    days = data.get("attribution_days", base.attribution_days)
    if isinstance(days, bool) or not isinstance(days, int) or not WINDOW_DAYS_MIN <= days <= WINDOW_DAYS_MAX:
        errors.append(("attribution_days", f"must be a whole number of days from {WINDOW_DAYS_MIN} to "
                                           f"{WINDOW_DAYS_MAX}"))
    rate = _rate(data["commission_rate"], "commission_rate", errors) if "commission_rate" in data \
        else base.commission_rate
    categories = dict(base.category_rates)
    if "category_rates" in data:
        raw = data["category_rates"]
        if not isinstance(raw, dict) or len(raw) > MAX_CATEGORIES:
            errors.append(("category_rates", f"must be an object of at most {MAX_CATEGORIES} category: rate"))
        else:
            categories = {}
            for i, (name, value) in enumerate(raw.items()):
                clean = " ".join(name.split()).lower() if is_text(name) and len(name) <= CATEGORY_MAX * 4 else ""
                if not 0 < len(clean) <= CATEGORY_MAX or not clean.isprintable():
                    errors.append((f"category_rates[{i}]", f"a category is a name of 1-{CATEGORY_MAX} characters"))
                    continue
                found = _rate(value, f"category_rates.{clean}", errors)
                if found is not None:
                    categories[clean] = found
    if errors:
        return errors
    return SalesSettings(days, rate, categories)  # type: ignore[arg-type]


def read_sales_settings(raw: object) -> SalesSettings:
    """What is stored, read back; anything that no longer validates reads as the defaults."""
    found = validate_sales_settings(raw)
    return found if isinstance(found, SalesSettings) else SalesSettings()
