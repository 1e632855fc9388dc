"""The assistance decision and rule-set validation, without Redis."""

from __future__ import annotations

import dataclasses

import pytest

from backend.core import scoring
from backend.core.scoring import DEFAULT_RULES, DWELL_SLACK_MS, RulesError, VisitorState, decide, validate_rules

T = 1_700_000_000_000
HOUR = 3_600_000


def fold(state: VisitorState, events: list[dict], flagged: set[str]) -> VisitorState:
    """Page views arrive at T, everything after the last of them an hour later: long enough
    that the server-side bound on claimed dwell never bites in these tests."""
    last_pv = max((i for i, ev in enumerate(events) if ev["t"] == "pv"), default=-1)
    state = scoring.fold(state, events[:last_pv + 1], flagged, T)
    if state.page_at is None:
        state = dataclasses.replace(state, page_at=T)
    return scoring.fold(state, events[last_pv + 1:], flagged, T + HOUR)


def test_claimed_dwell_is_bounded_by_the_servers_clock() -> None:
    """A crafted batch cannot claim an hour on a page the server saw open for 10 s."""
    pv = {"t": "pv", "url": "/", "visits": 0}
    s = scoring.fold(VisitorState(), [pv, {"t": "dwell", "ms": HOUR}, {"t": "field", "name": "a", "ms": HOUR}],
                     set(), T)
    assert s.page_ms == DWELL_SLACK_MS and s.field_max == DWELL_SLACK_MS
    s = scoring.fold(s, [{"t": "hb"}, {"t": "dwell", "ms": HOUR}], set(), T + 10_000)
    assert s.page_ms == 10_000 + DWELL_SLACK_MS  # all the server allows, not an hour
    assert s.heartbeats == 1
    s = scoring.fold(s, [{"t": "dwell", "ms": 2_000}], set(), T + 60_000)
    assert s.page_ms == 10_000 + DWELL_SLACK_MS + 2_000  # honest claims count in full

RULES = validate_rules(
    {
        "threshold": 0.5,
        "rules": {
            "page_dwell": {"weight": 0.2, "threshold": 60},
            "field_dwell": {"weight": 0.3, "threshold": 10},
            "form_errors": {"weight": 0.4, "threshold": 2},
            "service_point": {"weight": 0.3, "points": ["checkout"]},
            "cart_value": {"weight": 0.2, "threshold": 100},
            "flagged_customer": {"weight": 1.0},
        },
    }
)


def test_quiet_visitor_needs_no_help() -> None:
    state = fold(VisitorState(), [{"t": "pv", "url": "/", "visits": 0}, {"t": "dwell", "ms": 3000}], set())
    d = decide(RULES, state)
    assert not d.needs
    assert d.score == 0.01  # 3 s of 60 s at weight 0.2
    assert [r["rule"] for r in d.reasons] == ["page_dwell"]


def test_struggling_in_a_field_with_errors_needs_help_and_says_why() -> None:
    events = [
        {"t": "pv", "url": "/quote", "visits": 0},
        {"t": "field", "name": "postcode", "ms": 12_000},
        {"t": "err", "field": "postcode", "kind": "invalid", "msg": ""},
        {"t": "err", "field": "postcode", "kind": "submit", "msg": ""},
    ]
    d = decide(RULES, fold(VisitorState(), events, set()))
    assert d.needs
    assert d.score == 0.7
    fired = {r["rule"]: r for r in d.reasons}
    assert fired["field_dwell"]["value"] == 12 and fired["field_dwell"]["fired"]
    assert fired["form_errors"]["value"] == 2 and fired["form_errors"]["contribution"] == 0.4


def test_field_dwell_accumulates_per_field_not_across_fields() -> None:
    events = [{"t": "field", "name": n, "ms": 6000} for n in ("a", "b", "a")]
    state = fold(VisitorState(), events, set())
    assert state.field_max == 12_000


def test_page_view_resets_page_dwell_and_service_point() -> None:
    s = fold(VisitorState(), [{"t": "pv", "url": "/c", "visits": 0}, {"t": "svc", "point": "checkout"},
                              {"t": "dwell", "ms": 60_000}], set())
    assert decide(RULES, s).score == 0.5
    s = fold(s, [{"t": "pv", "url": "/home", "visits": 0}], set())
    assert s.page_ms == 0 and s.svc == ""
    assert decide(RULES, s).score == 0


def test_service_point_rule_only_counts_listed_points() -> None:
    s = fold(VisitorState(), [{"t": "svc", "point": "newsletter"}], set())
    assert decide(RULES, s).score == 0
    s = fold(s, [{"t": "svc", "point": "checkout"}], set())
    assert decide(RULES, s).score == 0.3


def test_flagged_customer_alone_reaches_threshold() -> None:
    s = fold(VisitorState(), [{"t": "id", "id": "", "email": "vip@example.com", "name": "V"}], {"vip@example.com"})
    d = decide(RULES, s)
    assert d.needs and d.reasons[0]["rule"] == "flagged_customer"


def test_cart_value_ramps_to_its_threshold() -> None:
    s = fold(VisitorState(), [{"t": "cart", "value": 50, "currency": "EUR"}], set())
    assert decide(RULES, s).score == 0.1
    s = fold(s, [{"t": "cart", "value": 500, "currency": "EUR"}], set())
    assert decide(RULES, s).score == 0.2


def test_defaults_are_valid() -> None:
    assert validate_rules(DEFAULT_RULES) == DEFAULT_RULES


def test_validation_lists_every_problem() -> None:
    with pytest.raises(RulesError) as info:
        validate_rules(
            {
                "threshold": -1,
                "rules": {
                    "page_dwell": {"weight": "high", "threshold": 0},
                    "mood": {"weight": 1},
                    "service_point": {"weight": 1, "points": "checkout", "colour": "red"},
                },
                "extra": 1,
            }
        )
    paths = {p for p, _ in info.value.errors}
    assert paths == {
        "extra",
        "threshold",
        "rules.page_dwell.weight",
        "rules.page_dwell.threshold",
        "rules.mood",
        "rules.service_point.points",
        "rules.service_point.colour",
    }
