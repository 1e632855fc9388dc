"""Dispatch, the pure part (backend/core/dispatch.py): which ranked reps each stage offers a
request to, in each mode; targets only widen while their reps stay eligible; when the next
widening is due, and that a request nobody eligible can take, or that must be contacted,
keeps being ranked again until someone accepts."""

from __future__ import annotations

from hypothesis import given, strategies as st

from backend.core.dispatch import offered, step, top
from backend.core.matching import Contribution, Dispatch, Ranked

RANKED = ["amelie", "bob", "cleo", "dan"]
NOW = 1_000_000


def test_best_offers_the_top_rep_then_widens_by_n_then_everyone() -> None:
    d = Dispatch("best", widen_by=2, escalate_after_s=20)
    assert offered(RANKED, d, 0) == (["amelie"], False)
    assert offered(RANKED, d, 1) == (["amelie", "bob", "cleo"], False)
    assert offered(RANKED, d, 2) == (RANKED, True)
    assert step(RANKED, d, 0, (), False, NOW).escalate_at_ms == NOW + 20_000
    assert step(RANKED, d, 2, (), False, NOW).escalate_at_ms is None


def test_top_n_offers_n_then_everyone_and_all_offers_everyone_at_once() -> None:
    assert offered(RANKED, Dispatch("top_n", n=2), 0) == (["amelie", "bob"], False)
    assert offered(RANKED, Dispatch("top_n", n=2), 1) == (RANKED, True)
    assert offered(RANKED, Dispatch("top_n", n=9), 0) == (RANKED, True)
    assert offered(RANKED, Dispatch("all"), 0) == (RANKED, True)


def test_who_had_it_keeps_it_while_eligible_and_targets_stay_in_rank_order() -> None:
    d = Dispatch("best", widen_by=1)
    # amelie went away (no longer ranked): bob and cleo now; dan had it and stays
    got = step(["bob", "cleo", "dan"], d, 1, ("amelie", "dan"), False, NOW)
    assert got.targets == ("bob", "cleo", "dan")


def test_nobody_eligible_or_must_contact_keeps_being_ranked_again() -> None:
    d = Dispatch("all", escalate_after_s=30)
    assert step([], d, 0, (), False, NOW).escalate_at_ms == NOW + 30_000
    assert step(RANKED, d, 0, (), True, NOW).escalate_at_ms == NOW + 30_000
    assert step(RANKED, d, 0, (), False, NOW).escalate_at_ms is None


@given(n=st.integers(0, 8), stage=st.integers(0, 10), widen=st.integers(1, 3), mode=st.sampled_from(["best", "top_n",
                                                                                                      "all"]))
def test_later_stages_never_offer_to_fewer_and_the_last_offers_to_all(n, stage, widen, mode) -> None:
    ranked = [f"r{i}" for i in range(n)]
    d = Dispatch(mode, n=2, widen_by=widen)
    now, final = offered(ranked, d, stage)
    assert set(now) <= set(offered(ranked, d, stage + 1)[0])
    assert final == (now == ranked)
    assert offered(ranked, d, n + 1) == (ranked, True)


def test_top_shows_the_largest_contributions_above_zero() -> None:
    parts = tuple(Contribution(rule, 1, s, s) for rule, s in
                  (("skill", 0.4), ("language", 0.0), ("capacity", 0.4), ("fairness", 0.1), ("results", 0.5)))
    assert top(Ranked("a", "A", 1.4, parts)) == [("results", 0.5), ("skill", 0.4), ("capacity", 0.4)]


def test_a_request_offered_to_hundreds_tells_the_first_fifty_their_score_and_the_rest_the_rule_set() -> None:
    from backend.core import frames
    from backend.core.dispatch import WHY_MAX, why
    from backend.core.matching import Contribution, Ranked, Ranking, RuleSet
    from backend.core.models import Chat

    ranked = tuple(Ranked(f"r{i:03d}", "", 1 - i / 1000, (Contribution("capacity", 1, 1 - i / 1000, 1 - i / 1000),))
                   for i in range(120))
    targets = tuple(r.rep for r in ranked)
    told = why(Ranking(RuleSet("All"), ranked, ()), targets)
    assert list(told) == list(targets[:WHY_MAX]) and told["r000"] == {"score": 1.0, "top": [["capacity", 1.0]]}
    chat = Chat("c1", "v1", "waiting", 0, targets=targets, rule_set="All", why=told)
    assert frames.request(chat, None, "r001")["why"]["score"] == 0.999
    assert frames.request(chat, None, "r100")["why"] == {"rule_set": "All", "score": None, "top": []}
    assert frames.request(chat, None, "someone-else")["why"] is None
