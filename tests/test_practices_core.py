"""Which materials suit a conversation and how they rank in it (core/practices.py, pure):
the facets a use counts under, "chats like this one", tags that must name the context, a
material's record shrunk towards its record everywhere, and counts that read back safely
whatever a hash holds."""

from __future__ import annotations

import random
from decimal import Decimal

from hypothesis import given, settings, strategies as st

from backend.core import practices as core
from backend.core.materials import Material, Tags
from backend.core.practices import Context, Record
from tests.helpers import hostile_text

KAYAK = Context(product="Sea Kayak", category="Boats", path="/kayaks/touring", reasons=("form_errors", "field_dwell"),
                service_point="quote", language="fr-CH", rep="r1", values={"customer_name": "Zoë"})


def material(mid: str, kind: str = "reply", text: str = "", created_ms: int = 0, **tags: tuple[str, ...]) -> Material:
    return Material(mid, kind, mid.title(), text=text, url="/kayaks" if kind == "link" else "", tags=Tags(**tags),
                    created_ms=created_ms)


def test_a_use_counts_under_every_facet_of_its_context_and_chats_like_it_are_the_most_specific() -> None:
    assert core.facets(KAYAK) == ["*", "product=sea kayak", "category=boats", "sp=quote", "lang=fr", "rep=r1",
                                  "reason=form_errors", "reason=field_dwell"]
    assert core.similar(KAYAK) == "product=sea kayak"
    assert core.similar(Context(category="Boats", service_point="quote")) == "category=boats"
    assert core.similar(Context(service_point="quote")) == "sp=quote"
    assert core.similar(Context()) == "*" and core.facets(Context()) == ["*"]
    assert core.describe("product=sea kayak") == "chats about sea kayak"
    assert core.facet("product", "x" * 101) == "" and core.facet("product", "a\x00b") == ""


def test_a_material_suits_a_conversation_only_when_each_of_its_tag_lists_names_it() -> None:
    assert core.suits(Tags(), KAYAK)
    assert core.suits(Tags(products=("sea kayak",), languages=("fr",)), KAYAK)
    assert not core.suits(Tags(products=("canoe",)), KAYAK)
    assert core.suits(Tags(reasons=("form_errors", "checkout")), KAYAK)
    assert not core.suits(Tags(reasons=("cart_value",)), KAYAK)
    assert core.suits(Tags(url_patterns=("/kayaks*",)), KAYAK) and not core.suits(Tags(url_patterns=("/canoes*",)), KAYAK)
    assert not core.suits(Tags(languages=("de",)), KAYAK)
    assert not core.suits(Tags(products=("sea kayak",)), Context())  # unknown never matches a tag


def test_counts_read_back_per_material_and_never_more_sales_than_uses() -> None:
    raw = {"m1|uses": "10", "m1|sales": "4", "m1|rev|EUR": "32000", "m1|ratings": "2", "m1|stars": "9",
           "m2|uses": "1", "m2|sales": "3", "m2|stars": "99", "junk": "1", "m3|uses": "many", "m4|rev": "5"}
    found = core.records(raw)
    assert found["m1"] == Record(10, 4, 2, 9, {"EUR": 32000})
    assert found["m2"] == Record(1, 1, 0, 0, {})  # clamped: a half-applied update reads as possible
    assert set(found) == {"m1", "m2"}


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(hostile_text(), hostile_text(), max_size=20))
def test_any_hash_reads_back_without_raising(raw: dict[str, str]) -> None:
    for mid, rec in core.records(raw).items():
        o = core.outcomes(mid, rec)
        assert 0 <= o.sales <= o.uses


@settings(max_examples=200, deadline=None)
@given(st.builds(Context, product=hostile_text(), category=hostile_text(), path=hostile_text(),
                 service_point=hostile_text(), language=hostile_text(), rep=hostile_text()))
def test_any_context_gives_facets_that_are_printable_and_bounded(ctx: Context) -> None:
    for f in core.facets(ctx):
        assert f.isprintable() and len(f) <= 110
    core.suits(Tags(products=("a",), url_patterns=("/a*",), languages=("en",)), ctx)


def test_a_material_that_sells_everywhere_starts_high_in_a_context_it_has_not_met() -> None:
    strong = core.shrunk("strong", Record(), Record(100, 40))
    weak = core.shrunk("weak", Record(), Record(100, 2))
    fresh = core.shrunk("fresh", Record(), Record())
    assert core.ranking.estimate(strong) > core.ranking.estimate(fresh) > core.ranking.estimate(weak)
    o_all = core.outcomes("strong", Record(100, 40, revenue={"EUR": 1_280_000}))
    assert core.why(strong, o_all, "product=sea kayak", "EUR") == (
        "not used in chats about sea kayak yet; sold in 40 of 100 all chats; 320.00 EUR on average")
    here = core.shrunk("strong", Record(40, 14, revenue={"EUR": 448_000}), Record(100, 40))
    assert core.why(here, o_all, "product=sea kayak", "EUR").startswith("sold in 14 of 40 chats about sea kayak; 320.00 EUR")


def test_suggestions_fill_replies_and_follow_the_record_while_search_orders_by_estimate() -> None:
    library = [material("good", text="Hi {customer_name}, {product} ships today"), material("poor"),
               material("doc", kind="document")]
    here = {"good": Record(40, 14), "poor": Record(40, 1)}
    everywhere = {"good": Record(60, 20), "poor": Record(60, 2)}
    rng = random.Random(3)
    wins = {m.id: 0 for m in library}
    for _ in range(200):
        wins[core.rank(KAYAK, library, here, everywhere, "product=sea kayak", rng, 1)[0].material.id] += 1
    assert wins["good"] > 150 and wins["doc"] > 0  # the new document is still tried
    top = core.rank(KAYAK, library, here, everywhere, "product=sea kayak", None, 3)
    assert [s.material.id for s in top] == ["good", "doc", "poor"]
    assert top[0].text == "Hi Zoë, {product} ships today"  # a placeholder without a value stays to edit
    assert top[0].as_json()["why"] == "sold in 14 of 40 chats about sea kayak"


def test_ties_go_to_the_material_made_for_this_context_then_to_the_newest() -> None:
    library = [material("old", created_ms=1), material("new", created_ms=2),
               material("kayak", created_ms=0, products=("sea kayak",))]
    assert [s.material.id for s in core.rank(KAYAK, library, {}, {}, "*", None, 3)] == ["kayak", "new", "old"]


def test_search_matches_every_word_in_title_text_url_file_name_or_tags() -> None:
    m = material("sizes", text="Our size chart", products=("sea kayak",))
    assert core.matches(m, "SIZE kayak") and not core.matches(m, "size canoe") and core.matches(m, "")


def test_revenue_is_averaged_in_the_currency_it_sold_most_in() -> None:
    rec = Record(10, 3, revenue={"EUR": 30000, "CHF": 1000})
    o = core.outcomes("m", rec)
    assert (core.main_currency(rec), o.revenue) == ("EUR", Decimal("300.00"))


def test_of_two_materials_that_sell_as_often_the_one_whose_sales_are_worth_more_ranks_first() -> None:
    library = [material("wax"), material("kayak"), material("chf")]
    here = {"wax": Record(40, 10, revenue={"EUR": 10 * 2000}), "kayak": Record(40, 10, revenue={"EUR": 10 * 80000}),
            "chf": Record(40, 11, revenue={"CHF": 11 * 100})}
    top = core.rank(KAYAK, library, here, here, "*", None, 3)
    assert [s.material.id for s in top] == ["kayak", "chf", "wax"]  # another currency weighs 1
    w = core.ranking.value_weights([core.outcomes(m, here[m]) for m in ("wax", "kayak")])
    assert round(w["kayak"], 3) == round((8000 + 410 * 3) / 13 / 410, 3) and w["wax"] < 1 < w["kayak"]
    assert core.ranking.value_weights([core.outcomes("x", Record(5, 0))]) == {"x": 1.0}
