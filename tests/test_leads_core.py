"""Who gets a lead (core/leads.py, pure): consent first, then the customer's assigned
salesperson, then the first territory row that names the area and the product, then a rotation
among the product line's staff in working hours, else nobody; and contact requests and
territory tables read from anything without raising."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given, settings, strategies as st

from backend.core import leads as core
from backend.core.leads import Facts, Territory
from backend.core.rep_profile import Schedule, Span
from backend.core.records import Staff
from tests.helpers import hostile_json

MONDAY_10 = datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)
MONDAY_22 = datetime(2026, 11, 30, 22, 0, tzinfo=timezone.utc)
OFFICE = Schedule("UTC", tuple((Span(9 * 60, 17 * 60),) if d < 5 else () for d in range(7)))
STAFF = {
    "ann": Staff("ann", "Ann", "ann@shop.example", areas=("SW1",), products=("kayaks",), schedule=OFFICE),
    "bob": Staff("bob", "Bob", "bob@shop.example", areas=("SW",), products=(), schedule=OFFICE),
    "cy": Staff("cy", "Cy", "cy@shop.example", products=("kayaks",), schedule=OFFICE),
    "dee": Staff("dee", "Dee", "dee@shop.example", products=("tents",)),
    "old": Staff("old", "Old", "old@shop.example", products=("kayaks",), active=False),
}
KAYAK = Facts(area="SW1A1AA", model="sea-1", line="kayaks", consent=True)


def test_no_consent_means_nobody_is_contacted_even_the_assigned_salesperson() -> None:
    routed = core.route(Facts(area="SW1A1AA", assigned="ann", consent=False), STAFF, [], 0, MONDAY_10)
    assert (routed.staff, routed.path) == ("", "no_consent")


def test_the_assigned_salesperson_gets_it_in_or_out_of_hours_unless_inactive() -> None:
    assert core.route(Facts(assigned="dee", consent=True), STAFF, [], 0, MONDAY_22).staff == "dee"
    routed = core.route(Facts(assigned="old", area="SW1A1AA", line="kayaks", consent=True), STAFF, [], 0, MONDAY_10)
    assert (routed.staff, routed.path) == ("ann", "territory")


def test_the_first_territory_row_that_names_area_and_product_wins() -> None:
    table = [Territory(("SW1",), ("tents",), "dee"), Territory(("SW",), ("kayaks", "canoes"), "bob"),
             Territory(("SW1",), (), "ann")]
    routed = core.route(KAYAK, STAFF, table, 0, MONDAY_10)
    assert (routed.staff, routed.path, routed.why) == ("bob", "territory", "area SW and sea-1 (territory row 2)")
    assert core.route(Facts(area="SW1X", line="tents", consent=True), STAFF, table, 0, MONDAY_10).staff == "dee"
    # without a table: the staff records, in the order of their ids (ann's SW1 before bob's SW)
    routed = core.route(KAYAK, STAFF, [], 0, MONDAY_10)
    assert (routed.staff, routed.why) == ("ann", "area SW1 and sea-1 (their staff record)")
    assert core.route(Facts(area="SW9", line="tents", consent=True), STAFF, [], 0, MONDAY_10).staff == "bob"


def test_otherwise_a_rotation_among_the_lines_staff_in_working_hours_else_nobody() -> None:
    far = Facts(area="EH1", line="kayaks", consent=True)
    turns = [core.route(far, STAFF, [], turn, MONDAY_10).staff for turn in range(4)]
    assert turns == ["ann", "cy", "ann", "cy"]  # not old (inactive), not dee (tents)
    assert core.route(far, STAFF, [], 0, MONDAY_10).path == "rotation"
    routed = core.route(far, STAFF, [], 0, MONDAY_22)  # out of hours, and no area match
    assert (routed.staff, routed.path) == ("", "nobody")
    assert core.route(Facts(area="EH1", line="tents", consent=True), STAFF, [], 0, MONDAY_22).staff == "dee"


def test_consent_is_the_forms_answer_when_it_asked_else_the_customers_record() -> None:
    from backend.core.records import Consent, Customer

    yes = Customer(email="a@b.example", consent=Consent(sales=True))
    assert core.consented(None, yes) and not core.consented(False, yes) and core.consented(True, None)
    assert not core.consented(None, None) and not core.consented(None, Customer(email="a@b.example"))


def test_a_contact_request_lists_every_problem() -> None:
    assert core.parse_request({"email": "nope", "phone": "call me", "consent": "yes", "password": "x"}) == [
        ("password", "unknown field; known: " + ", ".join(core.FORM_FIELDS)),
        ("email", "is not an e-mail address"), ("phone", "may hold digits, spaces, +, - and brackets"),
        ("consent", "must be true or false")]
    assert core.parse_request({"name": "Ada"}) == [
        ("email", "give an e-mail address or a phone number, so that someone can reply")]
    got = core.parse_request({"name": " Ada\u00a0 Lovelace ", "email": "ADA@X.example", "postcode": "sw1a 1aa",
                              "comment": "Line one\nline two", "model": "SEA-1", "consent": True})
    assert not isinstance(got, list)
    assert (got.name, got.email, got.postcode, got.comment, got.model) == (
        "Ada Lovelace", "ada@x.example", "SW1A1AA", "Line one\nline two", "sea-1")
    assert core.parse_request({"email": "a@b.example", "customer_id": "c1"})[0][0] == "customer_id"
    assert core.parse_request({"email": "a@b.example", "customer_id": "c1"}, server=True).customer_id == "c1"
    assert core.parse_request({"email": "a@b.example\r\nBcc: x@y.example"})[0] == (
        "email", "is not an e-mail address")  # no header can be smuggled in: one line, and refused
    assert core.parse_request({"email": "a@b.example", "name": "A\x00"}) == [
        ("name", "must not hold control characters")]


@settings(max_examples=300, deadline=None)
@given(hostile_json())
def test_any_request_or_table_reads_without_raising(data: object) -> None:
    for found in (core.parse_request(data), core.parse_request(data, server=True), core.parse_territories(data)):
        assert isinstance(found, (list, core.Request))


def test_a_territory_table_is_read_in_order_with_every_problem_listed() -> None:
    assert core.parse_territories([{"areas": ["sw1 "], "products": ["Kayaks"], "staff": "ann"}]) == [
        Territory(("SW1",), ("kayaks",), "ann")]
    assert core.parse_territories([{"areas": [], "staff": ""}, "x"]) == [
        ("[0].areas", "name at least one area code or postcode prefix"), ("[0].staff", "is required: a staff id"),
        ("[1]", "must be an object {areas, products, staff}")]


@settings(max_examples=300)
@given(cursor=st.text(max_size=100) | st.builds(lambda ms, lid: f"{ms}.{lid}", st.integers(0, 10**15), st.text(max_size=30)))
def test_a_cursor_is_a_pages_end_or_none_never_an_error(cursor: str) -> None:
    """Whatever a caller sends as ?cursor=: a position the list can start after, or None (a 400)."""
    found = core.parse_cursor(cursor)
    if found is not None:
        ms, lid = found
        head, _, tail = cursor.partition(".")
        assert (int(head), tail) == (ms, lid)
        assert lid.isprintable() and len(cursor) <= core.CURSOR_MAX
    assert core.parse_cursor("\u00b2.a") is None and core.parse_cursor("1700000000000.ld_x") == (1700000000000, "ld_x")
