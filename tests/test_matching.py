"""Matching rule sets and the ranking, the pure part (backend/core/matching.py): any input
validates to rule sets or a list of errors with their paths, never an exception; the first
rule set whose condition holds is chosen; a rep filtered out is never ranked; each rule
scores 0..1 and a rep's score is the sum of weight x rule score; past results are smoothed
so that few chats do not outrank many."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import example, given, settings, strategies as st

from backend.core.matching import (DEFAULT, RULES, Condition, RepFacts, Results, RuleSet, RuleSets, SessionFacts,
                                   Rule, choose_rule_set, page_of, rank, read_rule_sets, smoothed_rate,
                                   validate_rule_sets)
from backend.core.rep_profile import Profile, validate_profile
from tests.helpers import deep, hostile_json, sendable

NOW = datetime(2025, 6, 2, 10, 30, tzinfo=timezone.utc)  # a Monday, 12:30 in Paris
KAYAKS = {
    "pages": [{"pattern": "/kayaks*", "category": "boats", "product": "Kayaks"}],
    "rule_sets": [
        {"name": "French kayaks", "when": {"products": ["kayaks"], "languages": ["fr"]},
         "filters": {"language": True, "on_schedule": True},
         "rules": {"skill": {"weight": 0.4}, "language": {"weight": 0.2}, "capacity": {"weight": 0.2},
                   "fairness": {"weight": 0.1, "horizon_s": 600}, "results": {"weight": 0.1}},
         "dispatch": {"mode": "best", "widen_by": 2, "escalate_after_s": 20}},
        {"name": "Big carts", "when": {"cart_min": 500}, "rules": {"skill": {"weight": 1}},
         "dispatch": {"mode": "top_n", "n": 2}},
        {"name": "Everyone else", "rules": {"capacity": {"weight": 1}}},
    ],
}


def rule_sets(raw: object = KAYAKS) -> RuleSets:
    found = validate_rule_sets(raw)
    assert isinstance(found, RuleSets), found
    return found


def profile(**fields: object) -> Profile:
    found = validate_profile(fields)
    assert isinstance(found, Profile), found
    return found


# --- validation ----------------------------------------------------------------------------

def test_a_valid_document_round_trips_through_its_json() -> None:
    sets = rule_sets()
    assert sets.sets[0].name == "French kayaks" and sets.pages[0].product == "kayaks"
    assert rule_sets(sets.as_json()) == sets
    assert sets.as_json()["rule_sets"][1]["dispatch"] == {"mode": "top_n", "n": 2, "escalate_after_s": 30}


def test_every_error_is_listed_with_its_path() -> None:
    errors = validate_rule_sets({
        "pages": [{"pattern": "kayaks"}],
        "rule_sets": [
            {"name": "Default", "when": {"cart_min": 10, "cart_max": 5, "languages": ["french!"], "colour": "red"},
             "filters": {"language": "yes"}, "rules": {"skill": {"weight": -1}, "luck": {"weight": 1},
                                                      "results": {"weight": 1, "prior_rate": 2}},
             "dispatch": {"mode": "all", "n": 3}},
            {"name": "A", "dispatch": {"mode": "best", "widen_by": 0.5, "escalate_after_s": 10**400}},
            {"name": "a"}, "not a rule set"]})
    assert isinstance(errors, list)
    assert [path for path, _ in errors] == [
        "pages[0].pattern", "pages[0]",
        "rule_sets[0].name", "rule_sets[0].when.colour", "rule_sets[0].when.languages[0]",
        "rule_sets[0].when.cart_max", "rule_sets[0].filters.language", "rule_sets[0].rules.luck",
        "rule_sets[0].rules.skill.weight", "rule_sets[0].rules.results.prior_rate", "rule_sets[0].dispatch.n",
        "rule_sets[1].dispatch.widen_by", "rule_sets[1].dispatch.escalate_after_s",
        "rule_sets[2].name", "rule_sets[3]"]


def test_nothing_stored_or_damaged_reads_as_no_rule_sets_and_the_default_applies() -> None:
    assert read_rule_sets(None).sets == () and read_rule_sets({"rule_sets": 5}).sets == ()
    assert choose_rule_set(read_rule_sets(None), SessionFacts()) is DEFAULT


hostile = hostile_json(max_list=3)
names = st.sampled_from(["name", "when", "filters", "rules", "dispatch", "pages", "rule_sets", "pattern", "product",
                         *RULES, "weight", "mode", "n", "languages", "cart_min", "url_patterns"])
# near-valid documents, with hostile values in valid places, so the inner checks are reached
near = st.fixed_dictionaries({}, optional={
    "pages": st.lists(st.dictionaries(st.sampled_from(["pattern", "category", "product"]),
                                      st.one_of(st.just("/kayaks*"), hostile), max_size=3), max_size=3),
    "rule_sets": st.lists(st.fixed_dictionaries({"name": st.one_of(st.just("A"), hostile)}, optional={
        "when": st.dictionaries(names, hostile, max_size=3),
        "filters": st.dictionaries(st.sampled_from(["language", "accredited", "on_schedule"]), hostile),
        "rules": st.dictionaries(st.sampled_from(RULES), st.dictionaries(names, hostile, max_size=3), max_size=3),
        "dispatch": st.dictionaries(names, st.one_of(st.sampled_from(["best", "top_n", "all"]), hostile))}),
        max_size=3)})



@settings(max_examples=400)
@given(st.one_of(near, hostile, st.dictionaries(names, hostile, max_size=4)))
@example({"rule_sets": [{"name": "A\ud800", "rules": {"fairness": {"weight": 10**400, "horizon_s": 1e308}}}]})
def test_any_input_gives_rule_sets_or_a_list_of_errors_never_an_exception(data: object) -> None:
    result = validate_rule_sets(data)
    if isinstance(result, RuleSets):
        assert rule_sets(result.as_json()) == result  # what is stored reads back the same
        return
    assert result and all(isinstance(p, str) and isinstance(m, str) and m for p, m in result)
    assert all(sendable(p) and sendable(m) for p, m in result)  # nothing hostile is echoed back


def test_deep_nesting_anywhere_is_an_error_not_a_crash() -> None:
    nested = deep(100_000)
    errors = validate_rule_sets({"rule_sets": [{"name": nested, "when": {"languages": nested, "cart_min": nested},
                                                "rules": {"skill": nested}, "dispatch": nested}, nested],
                                 "pages": [nested]})
    assert [path for path, _ in errors] == [
        "pages[0]", "rule_sets[0].name", "rule_sets[0].when.languages[0]", "rule_sets[0].when.cart_min",
        "rule_sets[0].rules.skill", "rule_sets[0].dispatch", "rule_sets[1]"]
    assert isinstance(validate_rule_sets(nested), list)


# --- choosing ----------------------------------------------------------------------------------

def test_the_first_rule_set_whose_condition_holds_is_chosen() -> None:
    sets = rule_sets()
    page = page_of(sets, "/kayaks/sea-touring")
    assert page is not None and page.product == "kayaks"
    french_on_kayaks = SessionFacts(path="/kayaks/sea-touring", product="kayaks", language="fr-CA", cart_value=900)
    assert choose_rule_set(sets, french_on_kayaks).name == "French kayaks"  # though "Big carts" holds too
    assert choose_rule_set(sets, SessionFacts(product="kayaks", language="en", cart_value=900)).name == "Big carts"
    assert choose_rule_set(sets, SessionFacts(language="en")).name == "Everyone else"
    without_catch_all = RuleSets(sets.pages, sets.sets[:2])
    assert choose_rule_set(without_catch_all, SessionFacts()) is DEFAULT


@given(st.lists(st.booleans(), min_size=1, max_size=6), st.booleans())
def test_the_chosen_set_is_the_first_that_holds(flags: list[bool], flagged: bool) -> None:
    sets = RuleSets(sets=tuple(RuleSet(f"set {i}", Condition(flagged=flag)) for i, flag in enumerate(flags)))
    chosen = choose_rule_set(sets, SessionFacts(flagged=flagged))
    holding = [i for i, flag in enumerate(flags) if flag == flagged]
    assert chosen.name == (f"set {holding[0]}" if holding else "default")


def test_each_condition_field_can_rule_a_set_out() -> None:
    session = SessionFacts(service_point="checkout", path="/kayaks/x", category="boats", product="kayaks",
                           cart_value=100, language="fr", area="75011", customer="c-1", flagged=True,
                           first_visit=False)
    holding = {"service_points": ["checkout"], "url_patterns": ["/kayaks/*"], "categories": ["boats"],
               "products": ["kayaks"], "cart_min": 100, "cart_max": 101, "languages": ["fr-FR"], "areas": ["75"],
               "identified": True, "flagged": True, "first_visit": False}
    failing = {"service_points": ["cart"], "url_patterns": ["/paddles*"], "categories": ["shoes"],
               "products": ["paddles"], "cart_min": 101, "cart_max": 100, "languages": ["de"], "areas": ["69"],
               "identified": False, "flagged": False, "first_visit": True}
    whole = rule_sets({"rule_sets": [{"name": "all", "when": holding}]})
    assert choose_rule_set(whole, session).name == "all"
    for name, value in failing.items():
        when = {**holding, name: value} if not name.startswith("cart") else {name: value}
        one = rule_sets({"rule_sets": [{"name": "one", "when": when}]})
        assert choose_rule_set(one, session) is DEFAULT, name


# --- ranking -----------------------------------------------------------------------------------

AMELIE = RepFacts("rep-a", "Amélie", profile(skills={"kayaks": 5}, languages=["fr", "en"], capacity=2))
BOB = RepFacts("rep-b", "Bob", profile(skills={"kayaks": 4}, languages=["en"], capacity=2))


def test_the_french_kayak_visitor_is_ranked_and_explained() -> None:
    session = SessionFacts(path="/kayaks/sea", product="kayaks", language="fr")
    chosen = choose_rule_set(rule_sets(), session)
    ranking = rank(chosen, session, [BOB, AMELIE], NOW)
    assert [r.rep for r in ranking.ranked] == ["rep-a"]
    (amelie,) = ranking.ranked
    assert {c.rule: (c.score, c.contribution) for c in amelie.contributions} == {
        "skill": (1.0, 0.4), "language": (1.0, 0.2), "capacity": (1.0, 0.2), "fairness": (1.0, 0.1),
        "results": (0.5, 0.05)}
    assert amelie.score == 0.95
    assert [(f.rep, [r.filter for r in f.reasons]) for f in ranking.filtered] == [("rep-b", ["language"])]
    assert ranking.filtered[0].reasons[0].message == "does not speak fr"


def test_without_configuration_every_free_rep_on_duty_is_eligible_the_freest_first() -> None:
    busy = RepFacts("rep-c", "Cleo", profile(capacity=2), load=1, since_last_chat_s=60)
    away = RepFacts("rep-d", "Dan", profile(), status="away")
    full = RepFacts("rep-e", "Eve", profile(capacity=1), load=1)
    off_duty = RepFacts("rep-f", "Fay", profile(schedule={"timezone": "Europe/Paris", "hours": {"mon": ["14:00-18:00"]}}))
    ranking = rank(DEFAULT, SessionFacts(language="fr"), [busy, away, full, off_duty, AMELIE, BOB], NOW)
    assert [(r.rep, r.score) for r in ranking.ranked] == [("rep-a", 1.0), ("rep-b", 1.0), ("rep-c", 0.3)]
    assert {f.rep: [r.filter for r in f.reasons] for f in ranking.filtered} == {
        "rep-d": ["away"], "rep-e": ["full"], "rep-f": ["on_schedule"]}


def test_the_accreditation_filter_is_off_unless_a_rule_set_turns_it_on() -> None:
    session = SessionFacts(product="kayaks")
    plain = rule_sets({"rule_sets": [{"name": "a"}]}).sets[0]
    strict = rule_sets({"rule_sets": [{"name": "a", "filters": {"accredited": True},
                                       "rules": {"accreditation": {"weight": 1}}}]}).sets[0]
    accredited = RepFacts("rep-x", accreditations={"kayaks": 4})
    assert len(rank(plain, session, [AMELIE, accredited], NOW).ranked) == 2
    ranking = rank(strict, session, [AMELIE, accredited], NOW)
    assert [(r.rep, r.score) for r in ranking.ranked] == [("rep-x", 0.8)]
    assert ranking.filtered[0].reasons[0].message == "not accredited for kayaks"


def test_smoothing_ranks_many_chats_above_a_lucky_few() -> None:
    results = Rule(1.0)  # the default prior: 10 chats at 0.5
    assert smoothed_rate(Results(200, 180), 0.5, 10) > smoothed_rate(Results(2, 2), 0.5, 10)
    low_prior = Rule(1.0, prior_rate=0.2, prior_chats=20)  # a site where one chat in five succeeds
    assert smoothed_rate(Results(100, 30), 0.2, 20) > smoothed_rate(Results(1, 1), 0.2, 20)
    for rule, (veteran, lucky) in ((results, (Results(200, 180), Results(2, 2))),
                                   (low_prior, (Results(100, 30), Results(1, 1)))):
        rs = RuleSet("past", rules={"results": rule})
        reps = [RepFacts("lucky", results={"past": lucky}), RepFacts("veteran", results={"past": veteran})]
        assert [r.rep for r in rank(rs, SessionFacts(), reps, NOW).ranked] == ["veteran", "lucky"]


@given(st.integers(0, 10_000), st.integers(0, 10_000), st.floats(0, 1), st.floats(1, 10_000))
def test_a_smoothed_rate_lies_between_the_prior_and_the_rep_s_own_rate(chats: int, wins: int, prior: float,
                                                                       strength: float) -> None:
    wins = min(wins, chats)
    rate = smoothed_rate(Results(chats, wins), prior, strength)
    own = wins / chats if chats else prior
    assert min(own, prior) - 1e-12 <= rate <= max(own, prior) + 1e-12


weights = st.floats(0, 100, allow_nan=False)
rep_facts = st.builds(
    lambda i, skills, langs, cap, load, since, status, acc, chats, wins: RepFacts(
        f"rep-{i:03d}", profile=profile(skills=skills, languages=langs, capacity=cap, areas=["75", "SW1"]),
        load=min(load, cap + 1), since_last_chat_s=since, status=status, accreditations=acc,
        results={"s": Results(chats, min(wins, chats))}),
    st.integers(0, 999), st.dictionaries(st.sampled_from(["kayaks", "paddles"]), st.integers(1, 5)),
    st.lists(st.sampled_from(["fr", "en", "de", "pt-BR"]), max_size=3, unique=True), st.integers(1, 5),
    st.integers(0, 6), st.one_of(st.none(), st.floats(0, 10_000)),
    st.sampled_from(["available", "available", "away", "offline"]),
    st.dictionaries(st.sampled_from(["kayaks", "paddles"]), st.integers(1, 5)),
    st.integers(0, 300), st.integers(0, 300))
rule_set_strategy = st.builds(
    lambda ws, filters, horizon: RuleSet("s", filters=tuple(filters), rules={
        name: Rule(w, horizon_s=horizon) for name, w in ws.items()}),
    st.dictionaries(st.sampled_from(RULES), weights), st.sets(st.sampled_from(["language", "accredited"])),
    st.floats(1, 10_000))
sessions = st.builds(SessionFacts, product=st.sampled_from(["", "kayaks", "paddles"]),
                     language=st.sampled_from(["", "fr", "en-GB", "de"]), area=st.sampled_from(["", "75011", "SW1A"]),
                     account_owner=st.sampled_from(["", "rep-001", "rep-002"]))


@settings(max_examples=300)
@given(rule_set_strategy, sessions, st.lists(rep_facts, max_size=8, unique_by=lambda r: r.id))
def test_every_rep_is_ranked_or_filtered_with_scores_that_add_up(rule_set: RuleSet, session: SessionFacts,
                                                                  reps: list[RepFacts]) -> None:
    ranking = rank(rule_set, session, reps, NOW)
    ranked, filtered = {r.rep for r in ranking.ranked}, {f.rep for f in ranking.filtered}
    assert ranked | filtered == {r.id for r in reps} and not ranked & filtered
    by_id = {r.id: r for r in reps}
    for f in ranking.filtered:
        assert f.reasons
    for r in ranking.ranked:
        rep = by_id[r.rep]
        assert rep.status == "available" and rep.load < rep.profile.capacity
        if "language" in rule_set.filters and session.language:  # filtered for language: never ranked
            assert any(t.split("-")[0] == session.language.split("-")[0] for t in rep.profile.languages)
        assert [c.rule for c in r.contributions] == [n for n in RULES if n in rule_set.rules]
        for c in r.contributions:
            assert 0 <= c.score <= 1 and c.weight == rule_set.rules[c.rule].weight
        assert abs(r.score - sum(c.weight * c.score for c in r.contributions)) <= 1e-6 * (1 + len(r.contributions)
                                                                                        * 100)
    scores = [r.score for r in ranking.ranked]
    assert scores == sorted(scores, reverse=True)


def test_a_rule_set_may_say_its_requests_must_be_contacted() -> None:
    """Must be contacted: allowed with every mode; with "all" it brings the re-ranking period
    (escalate_after_s), which "all" alone refuses."""
    def dispatch(d: dict):
        return validate_rule_sets({"rule_sets": [{"name": "VIP", "dispatch": d}]})

    found = dispatch({"mode": "all", "must_contact": True, "escalate_after_s": 15})
    assert isinstance(found, RuleSets) and found.sets[0].dispatch.must_contact
    assert found.sets[0].as_json()["dispatch"] == {"mode": "all", "escalate_after_s": 15, "must_contact": True}
    assert dispatch({"mode": "all", "escalate_after_s": 15}) == [
        ("rule_sets[0].dispatch.escalate_after_s", "does not apply to mode all")]
    assert dispatch({"mode": "best", "must_contact": "yes"}) == [
        ("rule_sets[0].dispatch.must_contact", "must be true or false")]
    plain = dispatch({"mode": "best"})
    assert isinstance(plain, RuleSets) and "must_contact" not in plain.sets[0].as_json()["dispatch"]
