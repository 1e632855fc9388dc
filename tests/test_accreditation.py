"""Accreditation tests, the pure part (backend/core/accreditation.py): any input validates to
a test or to every error with its path, never an exception; a question is right only when
exactly its right choices are chosen; passing means reaching the pass mark and grants the
test's level; a fail closes the test until the retry wait is over; an accreditation is held
until it expires, and a pass never lowers a level held now."""

from __future__ import annotations

from hypothesis import example, given, settings, strategies as st

from backend.core.accreditation import (
    DAY_MS, HOUR_MS, Accreditation, Test as AccreditationTest, after_pass, attempt, current, grade, granted, levels,
    may_take, parse, questions_as_text, questions_from_text, stored, validate_answers, validate_grant,
    validate_test,
)
from tests.helpers import deep, hostile_json, sendable

NOW = 1_750_000_000_000
KAYAKS = {
    "subject": "  Sea   Kayaks ", "title": "Sea kayaks: the basics", "pass_mark": 60, "validity_days": 30,
    "retry_wait_hours": 12, "level": 3,
    "questions": [
        {"prompt": "Which kayak tracks best in open water?", "choices": ["A sit-on-top", "A sea kayak with a skeg"],
         "correct": 1},
        {"prompt": "What belongs in a safety kit?", "choices": ["Pump", "Paddle float", "Umbrella"],
         "correct": [0, 1]},
        {"prompt": "A spray deck keeps water out.", "choices": ["True", "False"], "correct": 0},
    ],
}


def make_test(raw: object = KAYAKS) -> AccreditationTest:
    found = validate_test(raw, "t-1")
    assert isinstance(found, AccreditationTest), found
    return found


def test_a_valid_test_reads_back_from_its_json_and_its_view_hides_the_answers() -> None:
    test = make_test()
    assert test.subject == "sea kayaks"  # compared as matching compares products
    assert test.questions[1].multiple and not test.questions[0].multiple
    assert make_test(test.as_json()) == test
    view = test.view().as_json()
    assert "correct" not in str(view) and view["questions"][1] == {
        "prompt": "What belongs in a safety kit?", "choices": ["Pump", "Paddle float", "Umbrella"], "multiple": True}


def test_every_error_is_listed_with_its_path() -> None:
    errors = validate_test({"subject": "", "title": "x" * 500, "pass_mark": 0, "validity_days": 1.5, "level": 6,
                            "colour": "red", "questions": [
                                {"prompt": "Q", "choices": ["a"], "correct": 0},
                                {"prompt": "Q", "choices": ["a", "a"], "correct": 5},
                                {"prompt": "Q", "choices": ["a", "b"], "correct": [0, 1], "multiple": False}]}, "t")
    assert isinstance(errors, list)
    assert [p for p, _ in errors] == [
        "colour", "subject", "title", "pass_mark", "validity_days", "level", "questions[0].choices",
        "questions[1].choices[1]", "questions[1].correct", "questions[2].correct"]


def test_the_score_counts_questions_exactly_right_and_the_pass_mark_decides() -> None:
    test = make_test()
    assert grade(test, ((1,), (0, 1), (0,))).score == 100.0
    partly = grade(test, ((1,), (0,), (0,)))  # half of a multiple question is wrong
    assert (partly.right, partly.score, partly.passed, partly.level) == (2, 66.6, True, 3)
    failed = grade(test, ((0,), (0,), (0,)))
    assert (failed.right, failed.passed, failed.level) == (1, False, 0)
    exact = make_test({**KAYAKS, "pass_mark": 66.67})
    assert not grade(exact, ((1,), (0,), (0,))).passed  # 2 of 3 is below 66.67%: no rounding helps


def test_answers_that_do_not_fit_are_errors_and_unanswered_questions_are_named() -> None:
    test = make_test()
    assert validate_answers(test, [1, [1, 0], 0]) == ((1,), (0, 1), (0,))
    assert validate_answers(test, [[1], [0, 1], [0]]) == ((1,), (0, 1), (0,))
    assert validate_answers(test, [1, 0]) == [("answers", "must be a list of 3 answers, one per question")]
    errors = validate_answers(test, [[0, 1], [], "0"])
    assert errors == [("answers[0]", "question 1 takes one answer"), ("answers[1]", "question 2 has no answer"),
                      ("answers[2]", "must be the index (0-1) of a choice")]
    assert isinstance(validate_answers(test, [True, 7, [10**400]]), list)
    assert isinstance(validate_answers(test, {"answers": []}), list)


def test_a_fail_closes_the_test_until_the_retry_wait_is_over_and_a_pass_does_not() -> None:
    test = make_test()
    failed = attempt(test, grade(test, ((0,), (0,), (1,))), NOW)
    assert may_take(NOW + 12 * HOUR_MS - 1, failed) == NOW + 12 * HOUR_MS
    assert may_take(NOW + 12 * HOUR_MS, failed) is None
    passed = attempt(test, grade(test, ((1,), (0, 1), (0,))), NOW)
    assert may_take(NOW + 1, passed) is None and may_take(NOW, None) is None


def test_an_accreditation_is_held_until_it_expires_and_reads_back_as_stored() -> None:
    test = make_test()
    held = granted(test, grade(test, ((1,), (0, 1), (0,))), NOW)
    assert held == Accreditation("sea kayaks", 3, NOW + 30 * DAY_MS, NOW, "t-1")
    assert parse("sea kayaks", stored(held)) == held
    assert current(held, NOW + 30 * DAY_MS - 1) and not current(held, NOW + 30 * DAY_MS)
    entries = {"sea kayaks": stored(held), "tents": f"5 {NOW - 1}", "bikes": "junk", "paddles": f"9 {NOW + 1}"}
    assert levels(entries, NOW) == {"sea kayaks": 3}  # expired, unreadable and out-of-range levels are not held
    assert granted(test, grade(test, ((0,), (0,), (1,))), NOW) is None


def test_a_pass_never_lowers_a_level_held_now_but_renews_an_equal_one() -> None:
    expert = Accreditation("kayaks", 5, NOW + DAY_MS, NOW - DAY_MS, "expert")
    basic = Accreditation("kayaks", 2, NOW + 30 * DAY_MS, NOW, "basic")
    assert after_pass(expert, basic, NOW) == expert
    assert after_pass(expert, basic, NOW + DAY_MS) == basic  # the expert level expired
    renewed = Accreditation("kayaks", 5, NOW + 60 * DAY_MS, NOW, "expert")
    assert after_pass(expert, renewed, NOW) == renewed


def test_an_admin_grant_is_validated() -> None:
    assert validate_grant({"subject": "Kayaks", "level": 4, "valid_days": 10}, NOW) == \
        Accreditation("kayaks", 4, NOW + 10 * DAY_MS, NOW, "")
    assert [p for p, _ in validate_grant({"subject": 3, "level": 0, "x": 1}, NOW)] == ["x", "subject", "level"]


def test_the_questions_as_text_round_trip_and_say_what_is_wrong() -> None:
    test = make_test()
    questions, errors = questions_from_text(questions_as_text(test.questions))
    assert errors == [] and make_test({**KAYAKS, "questions": questions}) == test
    _, errors = questions_from_text("* a choice first\n- b\n\nQ?\n* a\n- b\nnot a choice")
    assert errors == [("questions[0]", "question 1: write the question before its choices"),
                      ("questions[1]", "question 2: a line that is not a choice after the choices (start choices "
                                       "with * or -, and leave a blank line between questions)")]


# --- hostile input ---------------------------------------------------------------------------

hostile = hostile_json(max_list=4)
question = st.fixed_dictionaries({}, optional={
    "prompt": st.one_of(st.just("Why?"), hostile), "choices": st.one_of(st.just(["a", "b", "c"]), hostile),
    "correct": st.one_of(st.sampled_from([0, [0, 2], []]), hostile), "multiple": hostile})
near = st.fixed_dictionaries({}, optional={
    "subject": st.one_of(st.just("kayaks"), hostile), "title": st.one_of(st.just("T"), hostile),
    "pass_mark": st.one_of(st.just(50), hostile), "validity_days": hostile, "retry_wait_hours": hostile,
    "level": st.one_of(st.just(2), hostile), "questions": st.lists(st.one_of(question, hostile), max_size=3)})


@settings(max_examples=400)
@given(st.one_of(near, hostile))
@example({"subject": "k\ud800", "title": "T", "pass_mark": 10**400, "questions": [
    {"prompt": "\udc00", "choices": ["a", 1e308], "correct": [True]}]})
@example({"pass_mark": 50, "subject": "kayaks", "title": "T",  # a valid one, which the draws seldom make
          "questions": [{"prompt": "Why?", "multiple": None, "correct": 0, "choices": ["a", "b", "c"]}]})
def test_any_input_gives_a_test_or_a_list_of_errors_never_an_exception(data: object) -> None:
    result = validate_test(data, "t-1")
    if isinstance(result, AccreditationTest):  # valid: reads back the same (make_test's id is t-1)
        assert make_test(result.as_json()) == result
        return
    assert result and all(isinstance(p, str) and isinstance(m, str) and m for p, m in result)
    assert all(sendable(p) and sendable(m) for p, m in result)


@settings(max_examples=200)
@given(hostile)
def test_any_answers_give_answers_or_errors_never_an_exception(data: object) -> None:
    found = validate_answers(make_test(), data)
    assert isinstance(found, (tuple, list))
    if isinstance(found, list):
        assert all(sendable(p) and sendable(m) for p, m in found)


def test_deep_nesting_anywhere_is_an_error_not_a_crash() -> None:
    nested = deep(100_000)
    errors = validate_test({"subject": nested, "title": nested, "pass_mark": nested,
                            "questions": [nested, {"prompt": nested, "choices": nested, "correct": nested}]}, "t")
    assert [p for p, _ in errors] == ["subject", "title", "pass_mark", "questions[0]", "questions[1].prompt",
                                      "questions[1].choices", "questions[1].correct"]
    assert isinstance(validate_test(nested, "t"), list)
    assert isinstance(validate_answers(make_test(), [nested, nested, nested]), list)
