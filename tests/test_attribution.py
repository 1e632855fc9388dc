"""Attribution and commission, pure: which help an order is owed to within the window, across
a customer's devices, and what its representative earns with per-category rates."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings, strategies as st

from backend.core.attribution import (
    DAY_MS, Line, SalesSettings, Touch, attribute, commission, read_sales_settings, validate_sales_settings,
)
from tests.helpers import deep, hostile_json, sendable

NOW = 1_750_000_000_000


def test_an_order_goes_to_the_latest_help_within_the_window_and_a_chat_credits_its_rep() -> None:
    phone = Touch("phone", "chatted", NOW - 3 * DAY_MS, rep="amelie", chat="c1")
    laptop = Touch("laptop", "offered", NOW - 1 * DAY_MS)
    found = attribute(NOW, [phone, laptop], window_days=7)
    assert found is not None and (found.kind, found.visitor, found.rep) == ("offered", "laptop", "")
    found = attribute(NOW, [phone], window_days=7)
    assert found is not None and (found.kind, found.rep, found.chat) == ("chatted", "amelie", "c1")
    assert attribute(NOW, [phone], window_days=2) is None  # three days ago: outside a two-day window
    assert attribute(NOW - 4 * DAY_MS, [phone], window_days=7) is None  # the order came before the help
    assert attribute(NOW, [], window_days=30) is None


def test_the_window_is_inclusive_to_the_millisecond_and_ties_go_to_the_furthest_episode() -> None:
    edge = Touch("v1", "accepted", NOW - 7 * DAY_MS)
    assert attribute(NOW, [edge], 7) is not None and attribute(NOW + 1, [edge], 7) is None
    same = [Touch("v1", "offered", NOW - 1000), Touch("v2", "chatted", NOW - 1000, rep="bob")]
    found = attribute(NOW, same, 7)
    assert found is not None and (found.kind, found.rep) == ("chatted", "bob")


def test_commission_uses_the_category_rate_where_set_and_the_default_elsewhere() -> None:
    rates = SalesSettings(commission_rate=Decimal("0.05"), category_rates={"kayaks": Decimal("0.10")})
    lines = [Line("Kayaks", Decimal("899.00")), Line("paddles", Decimal("2") * Decimal("45.50"))]
    assert commission(Decimal("990"), lines, rates, 2) == Decimal("94.45")  # 89.90 + 4.55
    assert commission(Decimal("100.00"), [], rates, 2) == Decimal("5.00")  # no items: the default on the value
    jpy = SalesSettings(commission_rate=Decimal("0.015"))
    assert commission(Decimal("999"), [], jpy, 0) == Decimal("15")  # no minor unit: 14.985 -> 15
    half = SalesSettings(commission_rate=Decimal("0.05"))
    assert commission(Decimal("0.10"), [], half, 2) == Decimal("0.01")  # 0.005 rounds half up


def test_sales_settings_merge_over_what_is_stored_and_list_every_problem() -> None:
    found = validate_sales_settings({"attribution_days": 14, "commission_rate": "0.05",
                                     "category_rates": {"  Sea  Kayaks ": 0.1}})
    assert isinstance(found, SalesSettings)
    assert found.as_json() == {"attribution_days": 14, "commission_rate": "0.05",
                               "category_rates": {"sea kayaks": "0.1"}}
    merged = validate_sales_settings({"commission_rate": 0}, found)
    assert isinstance(merged, SalesSettings) and merged.attribution_days == 14
    assert merged.rate("Sea kayaks") == Decimal("0.1") and merged.rate("tents") == Decimal("0")
    assert validate_sales_settings({"attribution_days": 31, "commission_rate": "5%", "category_rates": {"": 2},
                                    "bonus": 1}) == [
        ("bonus", "unknown field; allowed: attribution_days, commission_rate, category_rates"),
        ("attribution_days", "must be a whole number of days from 1 to 30"),
        ("commission_rate", "must be a rate from 0 to 1, such as 0.05"),
        ("category_rates[0]", "a category is a name of 1-64 characters"),
    ]
    assert read_sales_settings({"attribution_days": "soon"}) == SalesSettings()


@settings(max_examples=300, deadline=None)
@given(st.one_of(hostile_json(), st.dictionaries(
    st.sampled_from(["attribution_days", "commission_rate", "category_rates"]), hostile_json(), max_size=3)))
def test_hostile_settings_are_errors_never_exceptions(data: object) -> None:
    found = validate_sales_settings(data)
    if isinstance(found, list):
        assert found and all(sendable(p) and sendable(m) for p, m in found)
    else:
        assert 1 <= found.attribution_days <= 30 and Decimal(0) <= found.commission_rate <= Decimal(1)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    nested = deep(100_000)
    found = validate_sales_settings({"category_rates": {"kayaks": nested}, "commission_rate": nested})
    assert isinstance(found, list)
