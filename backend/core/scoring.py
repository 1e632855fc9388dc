"""The assistance-need decision: rule sets, their validation, and the pure-Python twin of
``store/lua/ingest.lua``.

The Lua script is what runs in production (one atomic round trip per batch); this module is
the readable reference the tests hold it to, and what benchmarks and unit tests use without
Redis. Both fold events into visitor state in the same order and score rules in the same
order, so their floating-point results are identical.
"""

from __future__ import annotations

import copy
import fnmatch
import math
from dataclasses import dataclass, field
from typing import Any
from backend.core.validation import ValidationError, finite_number, is_text

# Order matters: the Lua twin sums contributions in this same order.
RULE_NAMES: tuple[str, ...] = (
    "page_dwell",
    "field_dwell",
    "form_errors",
    "return_visits",
    "service_point",
    "cart_value",
    "flagged_customer",
)
NUMERIC_RULES = {"page_dwell", "field_dwell", "form_errors", "return_visits", "cart_value"}

DEFAULT_RULES: dict[str, Any] = {
    "threshold": 0.6,
    "rules": {
        "page_dwell": {"weight": 0.3, "threshold": 90},
        "field_dwell": {"weight": 0.3, "threshold": 20},
        "form_errors": {"weight": 0.4, "threshold": 2},
        "return_visits": {"weight": 0.2, "threshold": 3},
        "service_point": {"weight": 0.3, "points": [], "url_patterns": {"checkout": "/checkout*"}},
        "cart_value": {"weight": 0.3, "threshold": 200},
        "flagged_customer": {"weight": 1.0},
    },
}

RULE_HELP = {
    "page_dwell": "visible seconds on the current page",
    "field_dwell": "longest time in seconds spent in one form field",
    "form_errors": "form errors in this visit",
    "return_visits": "earlier views of the same page",
    "service_point": "at a service point such as checkout (points: which ones; empty: any)",
    "cart_value": "cart value",
    "flagged_customer": "an identified customer the site flagged for assistance",
}

# How the console names each rule, and the unit of its value ("s": seconds, shown as a duration).
RULE_LABELS: dict[str, tuple[str, str]] = {
    "page_dwell": ("Time on page", "s"),
    "field_dwell": ("Time in one field", "s"),
    "form_errors": ("Form errors", ""),
    "return_visits": ("Return visits", ""),
    "service_point": ("At a service point", ""),
    "cart_value": ("Cart value", ""),
    "flagged_customer": ("Flagged customer", ""),
}


class RulesError(ValidationError):
    """A rule set failed validation."""


def _number(value: Any) -> bool:
    return finite_number(value)


def validate_rules(data: Any) -> dict[str, Any]:
    """Return a normalised copy of ``data`` or raise RulesError listing every problem."""
    errors: list[tuple[str, str]] = []
    if not isinstance(data, dict):
        raise RulesError([("", "the rule set must be a JSON object")])
    for key in data:
        if key not in ("threshold", "rules"):
            errors.append((key, "unknown key; expected 'threshold' and 'rules'"))
    threshold = data.get("threshold", DEFAULT_RULES["threshold"])
    if not _number(threshold) or not 0 < threshold <= 100:
        errors.append(("threshold", "must be a number above 0 and at most 100"))
    rules = data.get("rules", {})
    out_rules: dict[str, dict[str, Any]] = {}
    if not isinstance(rules, dict):
        errors.append(("rules", "must be an object keyed by rule name"))
        rules = {}
    for name, rule in rules.items():
        path = f"rules.{name}"
        if name not in RULE_NAMES:
            errors.append((path, f"unknown rule; known rules: {', '.join(RULE_NAMES)}"))
            continue
        if not isinstance(rule, dict):
            errors.append((path, "must be an object"))
            continue
        allowed = {"weight", "threshold"} if name in NUMERIC_RULES else {"weight"}
        if name == "service_point":
            allowed |= {"points", "url_patterns"}
        for key in rule:
            if key not in allowed:
                errors.append((f"{path}.{key}", f"unknown key; allowed: {', '.join(sorted(allowed))}"))
        weight = rule.get("weight")
        if not _number(weight) or not 0 <= weight <= 100:
            errors.append((f"{path}.weight", "must be a number from 0 to 100"))
        clean: dict[str, Any] = {"weight": weight}
        if name in NUMERIC_RULES:
            t = rule.get("threshold")
            if not _number(t) or not 0 < t <= 1e9:
                errors.append((f"{path}.threshold", "must be a number above 0"))
            clean["threshold"] = t
        if name == "service_point":
            points = rule.get("points", [])
            if not isinstance(points, list) or len(points) > 50 or not all(
                is_text(p) and 0 < len(p) <= 64 for p in points
            ):
                errors.append((f"{path}.points", "must be a list of at most 50 names of 1-64 characters"))
            patterns = rule.get("url_patterns", {})
            if not isinstance(patterns, dict) or len(patterns) > 50 or not all(
                is_text(k) and 0 < len(k) <= 64 and is_text(v) and 0 < len(v) <= 200
                for k, v in patterns.items()
            ):
                errors.append(
                    (f"{path}.url_patterns", "must map point names to URL path patterns like '/checkout*'")
                )
            clean["points"] = points
            clean["url_patterns"] = patterns
        out_rules[name] = clean
    if errors:
        raise RulesError(errors)
    return {"threshold": threshold, "rules": out_rules}


def service_points_for(rules: dict[str, Any], path: str) -> list[str]:
    """Service points a page path matches by the site's URL patterns (done in Python, not Lua,
    because glob matching belongs next to the request parsing)."""
    patterns = rules.get("rules", {}).get("service_point", {}).get("url_patterns", {})
    return [name for name, pattern in patterns.items() if fnmatch.fnmatchcase(path, pattern)]


# ---------------------------------------------------------------------------------------
# The pure twin of the Lua fold and score.

TRAIL_MAX = 50
ERRORS_MAX = 50
FIELDS_MAX = 100
# Dwell and field times may exceed the server-measured time on the page by this much: the
# batch that carries them leaves the browser up to a second after the page view, and
# network delays differ between the two.
DWELL_SLACK_MS = 5_000


@dataclass
class VisitorState:
    page_n: int = 0
    page_ms: int = 0
    page_dwell: dict[int, int] = field(default_factory=dict)
    fields: dict[str, int] = field(default_factory=dict)
    field_max: int = 0
    errors: int = 0
    visits: int = 0
    svc: str = ""
    cart: float = 0.0
    identified: bool = False
    flagged: bool = False
    page_at: int | None = None  # server ms the current page view arrived
    heartbeats: int = 0  # on the current page, counted by the server


def bounded_ms(claimed: int, now_ms: int, page_at: int, spent: int) -> int:
    """What the browser claims, capped by the server's clock: time since the page view
    arrived, plus the slack, less what this page already counted."""
    return min(claimed, max(0, now_ms - page_at + DWELL_SLACK_MS - spent))


def fold(state: VisitorState, events: list[dict[str, Any]], flagged_ids: set[str], now_ms: int) -> VisitorState:
    """Apply a batch of validated events, received at ``now_ms``, to a copy of ``state``."""
    s = copy.deepcopy(state)
    if s.page_at is None:
        s.page_at = now_ms
    for ev in events:
        t = ev["t"]
        if t == "pv":
            s.page_n += 1
            s.page_ms = 0
            s.page_at = now_ms
            s.heartbeats = 0
            s.svc = ""
            s.page_dwell[s.page_n] = 0
            s.page_dwell.pop(s.page_n - TRAIL_MAX, None)
            s.visits = max(s.visits, ev.get("visits", 0))
        elif t == "hb":
            s.heartbeats += 1
        elif t == "dwell":
            ms = bounded_ms(ev["ms"], now_ms, s.page_at, s.page_ms)
            s.page_ms += ms
            if s.page_n > 0 and ms > 0:
                s.page_dwell[s.page_n] = s.page_dwell.get(s.page_n, 0) + ms
        elif t == "field":
            name = ev["name"]
            if name in s.fields or len(s.fields) < FIELDS_MAX:
                s.fields[name] = s.fields.get(name, 0) + bounded_ms(ev["ms"], now_ms, s.page_at, 0)
                s.field_max = max(s.field_max, s.fields[name])
        elif t == "err":
            s.errors += 1
        elif t == "svc":
            s.svc = ev["point"]
        elif t == "cart":
            s.cart = float(ev["value"])
        elif t == "id":
            s.identified = True
            keys = {ev.get("id", ""), ev.get("email", "")} - {""}  # email arrives lower-cased
            if ev.get("trusted", True) is not False and keys & flagged_ids:
                s.flagged = True
    return s


def _round6(x: float) -> float:
    return math.floor(x * 1e6 + 0.5) / 1e6


@dataclass(frozen=True)
class Decision:
    score: float
    needs: bool
    reasons: list[dict[str, Any]]


def rule_values(state: VisitorState) -> dict[str, float]:
    return {
        "page_dwell": state.page_ms / 1000,
        "field_dwell": state.field_max / 1000,
        "form_errors": float(state.errors),
        "return_visits": float(state.visits),
        "cart_value": state.cart,
    }


def decide(rules: dict[str, Any], state: VisitorState) -> Decision:
    """Score = sum of weight x rule score (0..1); numeric rules ramp linearly to their
    threshold, so a visitor close to several thresholds can add up to needing help."""
    values = rule_values(state)
    total = 0.0
    reasons: list[dict[str, Any]] = []
    for name in RULE_NAMES:
        rule = rules["rules"].get(name)
        if rule is None:
            continue
        value: Any
        if name in NUMERIC_RULES:
            value = values[name]
            rs = min(1.0, value / rule["threshold"]) if value > 0 else 0.0
        elif name == "service_point":
            value = state.svc
            points = rule.get("points") or []
            rs = 1.0 if state.svc != "" and (not points or state.svc in points) else 0.0
        else:  # flagged_customer
            value = state.flagged
            rs = 1.0 if state.flagged else 0.0
        if rs <= 0:
            continue
        contribution = rule["weight"] * rs
        total += contribution
        reason = {
            "rule": name,
            "value": _round6(value) if isinstance(value, float) else value,
            "score": _round6(rs),
            "contribution": _round6(contribution),
            "fired": rs >= 1.0,
        }
        if "threshold" in rule:
            reason["threshold"] = rule["threshold"]
        reasons.append(reason)
    score = _round6(total)
    return Decision(score=score, needs=score >= rules["threshold"], reasons=reasons)
