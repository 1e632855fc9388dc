"""Accreditation tests: an admin writes a multiple-choice test per product line or skill (its
*subject*); a representative who passes it holds the accreditation at the test's level until
it expires; one who fails may try again after the test's retry wait.

The level is fixed by the admin per test (1-5), not derived from the score: a basic test may
grant level 2 and an expert test on the same subject level 5, and matching reads the level
(``core/matching.py``: the ``accreditation`` rule and the ``accredited`` filter). A question
counts as right only when exactly its correct choices are chosen; the score is the share of
questions right, in percent, and passing means reaching the pass mark.

Held accreditations are stored per rep as ``subject -> "level expires_ms granted_ms test"``
(``stored``/``parse``), so dispatch.lua can read the level and the expiry with one pattern:
``levels`` is the twin of what lua/dispatch.lua does, held equal by tests/test_dispatch_twin.py.
An accreditation whose expiry has come is not held, in matching at once.

Pure: no I/O. ``validate_test`` and ``validate_answers`` answer a clean value or every problem
as (path, message) and never raise, whatever they are given.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from backend.core.matching import MAX_LEVEL, NAME_MAX, norm
from backend.core.validation import finite_number, is_text

Errors = list[tuple[str, str]]

MIN_CHOICES, MAX_CHOICES = 2, 8
MAX_QUESTIONS = 100
MAX_TESTS = 200  # per site
TITLE_MAX = 120
PROMPT_MAX = 1000
CHOICE_MAX = 300
VALIDITY_DAYS_MAX = 3650
RETRY_HOURS_MAX = 24 * 90
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
DEFAULTS = {"validity_days": 365, "retry_wait_hours": 24, "level": 1}
FIELDS = ("subject", "title", "questions", "pass_mark", "validity_days", "retry_wait_hours", "level")
QUESTION_FIELDS = ("prompt", "choices", "correct", "multiple")


# --- tests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    prompt: str
    choices: tuple[str, ...]
    correct: tuple[int, ...]  # indices into choices, ascending
    multiple: bool = False  # checkboxes (choose every right one) rather than one radio button

    def as_json(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "choices": list(self.choices), "correct": list(self.correct),
                "multiple": self.multiple}


@dataclass(frozen=True)
class QuestionView:
    """A question as the rep taking the test sees it: no answers."""

    prompt: str
    choices: tuple[str, ...]
    multiple: bool

    def as_json(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "choices": list(self.choices), "multiple": self.multiple}


@dataclass(frozen=True)
class TestView:
    """A test as the rep sees it before and while taking it."""

    id: str
    subject: str
    title: str
    questions: tuple[QuestionView, ...]
    pass_mark: float
    validity_days: int
    retry_wait_hours: float
    level: int

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "subject": self.subject, "title": self.title, "pass_mark": self.pass_mark,
                "validity_days": self.validity_days, "retry_wait_hours": self.retry_wait_hours,
                "level": self.level, "questions": [q.as_json() for q in self.questions]}


@dataclass(frozen=True)
class Test:
    id: str
    subject: str  # a product line or skill, compared as matching compares them (norm)
    title: str
    questions: tuple[Question, ...]
    pass_mark: float  # percent of questions right, 1-100
    validity_days: int
    retry_wait_hours: float
    level: int  # granted on a pass, 1-5

    def as_json(self) -> dict[str, Any]:
        """The whole test, answers included: for the admin and for storage."""
        return {"id": self.id, "subject": self.subject, "title": self.title, "pass_mark": self.pass_mark,
                "validity_days": self.validity_days, "retry_wait_hours": self.retry_wait_hours,
                "level": self.level, "questions": [q.as_json() for q in self.questions]}

    def view(self) -> TestView:
        return TestView(self.id, self.subject, self.title,
                        tuple(QuestionView(q.prompt, q.choices, q.multiple) for q in self.questions),
                        self.pass_mark, self.validity_days, self.retry_wait_hours, self.level)


# --- validation ------------------------------------------------------------------------------
# Each check appends its problems and answers the clean value, or None after a problem; none
# recurses into what it is given or echoes a value back.


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _number(value: object, path: str, low: float, high: float, errors: Errors, whole: bool = False) -> Any:
    ok = finite_number(value) and low <= value <= high  # type: ignore[operator]
    if ok and whole and not float(value).is_integer():  # type: ignore[arg-type]
        ok = False
    if not ok:
        errors.append((path, f"must be a {'whole ' if whole else ''}number from {_fmt(low)} to {_fmt(high)}"))
        return None
    return int(value) if whole else (int(value) if float(value).is_integer() else value)  # type: ignore


def _text(value: object, path: str, most: int, errors: Errors, line: bool = True) -> str | None:
    """Text trimmed (and on one line, when ``line``), of 1 to ``most`` characters."""
    ok = is_text(value) and len(value) <= most * 4  # type: ignore[arg-type]
    clean = (" ".join(value.split()) if line else value.strip()) if ok else ""  # type: ignore[union-attr]
    if not 0 < len(clean) <= most or (line and not clean.isprintable()):
        errors.append((path, f"must be text of 1-{most} characters"))
        return None
    return clean


def _label(path: str, key: object, index: int) -> str:
    """A field the sender named, when it is safe to echo back; else its position."""
    if is_text(key) and 0 < len(key) <= 40 and key.isidentifier():  # type: ignore[union-attr]
        return f"{path}.{key}" if path else str(key)
    return f"{path}[{index}]"


def _subject(value: object, path: str, errors: Errors) -> str | None:
    subject = norm(value) if is_text(value) and len(value) <= NAME_MAX * 4 else ""  # type: ignore[arg-type]
    if not 0 < len(subject) <= NAME_MAX or not subject.isprintable():
        errors.append((path, f"must be a product line or skill name of 1-{NAME_MAX} characters"))
        return None
    return subject


def _question(value: object, path: str, errors: Errors) -> Question | None:
    if not isinstance(value, dict):
        errors.append((path, "must be an object with " + ", ".join(QUESTION_FIELDS)))
        return None
    before = len(errors)
    for i, key in enumerate(value):
        if key not in QUESTION_FIELDS:
            errors.append((_label(path, key, i), "unknown field; allowed: " + ", ".join(QUESTION_FIELDS)))
    prompt = _text(value.get("prompt"), f"{path}.prompt", PROMPT_MAX, errors, line=False)
    raw = value.get("choices")
    choices: list[str] = []
    if not isinstance(raw, list) or not MIN_CHOICES <= len(raw) <= MAX_CHOICES:
        errors.append((f"{path}.choices", f"must be a list of {MIN_CHOICES}-{MAX_CHOICES} choices"))
    else:
        for i, item in enumerate(raw):
            choice = _text(item, f"{path}.choices[{i}]", CHOICE_MAX, errors)
            if choice is not None and choice in choices:
                errors.append((f"{path}.choices[{i}]", "is the same as another choice"))
            elif choice is not None:
                choices.append(choice)
    multiple = value.get("multiple", None)
    if multiple is not None and not isinstance(multiple, bool):
        errors.append((f"{path}.multiple", "must be true or false"))
        multiple = None
    given = value.get("correct")
    listed = given if isinstance(given, list) else [given]
    limit = len(raw) if isinstance(raw, list) and MIN_CHOICES <= len(raw) <= MAX_CHOICES else MAX_CHOICES
    correct: set[int] = set()
    if not 0 < len(listed) <= MAX_CHOICES or not all(
            isinstance(c, int) and not isinstance(c, bool) and 0 <= c < limit for c in listed):
        errors.append((f"{path}.correct", "must be the index (from 0) of the right choice, or a list of the "
                       "right ones"))
    else:
        correct = set(listed)
    if correct and multiple is False and len(correct) > 1:
        errors.append((f"{path}.correct", "a question with one answer (multiple: false) has one right choice"))
    if len(errors) > before:
        return None
    assert prompt is not None
    return Question(prompt, tuple(choices), tuple(sorted(correct)),
                    bool(multiple) if multiple is not None else len(correct) > 1)


def validate_test(raw: object, test_id: str) -> Test | Errors:
    """A test as the admin wrote it (``FIELDS``), or every problem with its path
    (``questions[2].correct``). Never raises."""
    if not isinstance(raw, dict):
        return [("", "must be a JSON object with " + ", ".join(FIELDS))]
    errors: Errors = []
    for i, key in enumerate(raw):
        if key not in FIELDS and key != "id":  # the id comes from the URL; a GET's body may be sent back
            errors.append((_label("", key, i), "unknown field; allowed: " + ", ".join(FIELDS)))
    subject = _subject(raw.get("subject"), "subject", errors)
    title = _text(raw.get("title"), "title", TITLE_MAX, errors)
    pass_mark = _number(raw.get("pass_mark"), "pass_mark", 1, 100, errors)
    validity = _number(raw.get("validity_days", DEFAULTS["validity_days"]), "validity_days", 1,
                       VALIDITY_DAYS_MAX, errors, whole=True)
    wait = _number(raw.get("retry_wait_hours", DEFAULTS["retry_wait_hours"]), "retry_wait_hours", 0,
                   RETRY_HOURS_MAX, errors)
    level = _number(raw.get("level", DEFAULTS["level"]), "level", 1, MAX_LEVEL, errors, whole=True)
    items = raw.get("questions")
    questions: list[Question] = []
    if not isinstance(items, list) or not 0 < len(items) <= MAX_QUESTIONS:
        errors.append(("questions", f"must be a list of 1-{MAX_QUESTIONS} questions"))
    else:
        for i, item in enumerate(items):
            found = _question(item, f"questions[{i}]", errors)
            if found is not None:
                questions.append(found)
    if errors:
        return errors
    return Test(test_id, subject, title, tuple(questions), pass_mark, validity, wait, level)  # type: ignore


def read_test(raw: object, test_id: str) -> Test | None:
    """A stored test read back; None for one that no longer validates (never an exception)."""
    found = validate_test(raw, test_id)
    return found if isinstance(found, Test) else None


# --- the questions as text, for the console's form --------------------------------------------
# One question per block, blocks apart by a blank line: the prompt's lines first, then one
# line per choice, "* " before a right one and "- " before a wrong one.


def questions_as_text(questions: tuple[Question, ...]) -> str:
    blocks = []
    for q in questions:
        lines = [q.prompt] + [("* " if i in q.correct else "- ") + c for i, c in enumerate(q.choices)]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def questions_from_text(text: str) -> tuple[list[dict[str, Any]], Errors]:
    """The questions written as text (see above), as ``validate_test`` reads them, with the
    problems only the text can have (a choice before its prompt)."""
    errors: Errors = []
    out: list[dict[str, Any]] = []
    blocks = [b for b in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").replace("\r", "\n")) if b.strip()]
    for n, block in enumerate(blocks[:MAX_QUESTIONS + 1]):
        prompt: list[str] = []
        choices: list[str] = []
        correct: list[int] = []
        for line in block.strip().split("\n"):
            line = line.strip()
            if line[:1] in ("*", "-"):
                if not prompt:
                    errors.append((f"questions[{n}]", f"question {n + 1}: write the question before its choices"))
                    break
                if line[0] == "*":
                    correct.append(len(choices))
                choices.append(line[1:].strip())
            elif choices:
                errors.append((f"questions[{n}]", f"question {n + 1}: a line that is not a choice after the "
                               "choices (start choices with * or -, and leave a blank line between questions)"))
                break
            else:
                prompt.append(line)
        out.append({"prompt": "\n".join(prompt), "choices": choices, "correct": correct,
                    "multiple": len(correct) > 1})
    return out, errors


# --- taking a test -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Grade:
    right: int
    total: int
    score: float  # percent, one decimal
    passed: bool
    level: int  # granted; 0 when failed


def validate_answers(test: Test, raw: object) -> tuple[tuple[int, ...], ...] | Errors:
    """One answer per question, in order: a choice's index, or a list of them (a multiple
    question's). Unanswered questions are errors, so a slip costs no attempt. Never raises."""
    if not isinstance(raw, list) or len(raw) != len(test.questions):
        return [("answers", f"must be a list of {len(test.questions)} answers, one per question")]
    errors: Errors = []
    out: list[tuple[int, ...]] = []
    for i, (q, answer) in enumerate(zip(test.questions, raw)):
        path = f"answers[{i}]"
        chosen = answer if isinstance(answer, list) else [answer]
        if not chosen:
            errors.append((path, f"question {i + 1} has no answer"))
            continue
        if len(chosen) > len(q.choices) or not all(
                isinstance(c, int) and not isinstance(c, bool) and 0 <= c < len(q.choices) for c in chosen):
            errors.append((path, f"must be the index (0-{len(q.choices) - 1}) of a choice"
                           + (", or a list of them" if q.multiple else "")))
            continue
        if len(set(chosen)) > 1 and not q.multiple:
            errors.append((path, f"question {i + 1} takes one answer"))
            continue
        out.append(tuple(sorted(set(chosen))))
    return errors if errors else tuple(out)


def grade(test: Test, answers: tuple[tuple[int, ...], ...]) -> Grade:
    """A question is right when exactly its right choices were chosen."""
    right = sum(1 for q, a in zip(test.questions, answers) if tuple(q.correct) == tuple(a))
    total = len(test.questions)
    passed = right * 100 >= test.pass_mark * total  # no rounding decides a pass
    return Grade(right, total, math.floor(right * 1000 / total) / 10, passed, test.level if passed else 0)


@dataclass(frozen=True)
class Attempt:
    test: str
    at_ms: int
    score: float
    passed: bool
    retry_at_ms: int  # from when the test may be taken again (== at_ms after a pass)

    def as_json(self) -> dict[str, Any]:
        return {"test": self.test, "at": self.at_ms, "score": self.score, "passed": self.passed,
                "retry_at": self.retry_at_ms}


def attempt(test: Test, result: Grade, now_ms: int) -> Attempt:
    """The attempt to record: after a fail, no retry before the test's wait is over."""
    wait = 0 if result.passed else math.ceil(test.retry_wait_hours * HOUR_MS)
    return Attempt(test.id, now_ms, result.score, result.passed, now_ms + wait)


def read_attempt(raw: object, test_id: str) -> Attempt | None:
    if not isinstance(raw, dict):
        return None
    at, retry, score = raw.get("at"), raw.get("retry_at"), raw.get("score")
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in (at, retry)) or not finite_number(score):
        return None
    return Attempt(test_id, at, float(score), raw.get("passed") is True, retry)  # type: ignore[arg-type]


def may_take(now_ms: int, last: Attempt | None) -> int | None:
    """None when the rep may take the test now; else the time (ms) a retry is allowed."""
    if last is None or now_ms >= last.retry_at_ms:
        return None
    return last.retry_at_ms


# --- held accreditations -------------------------------------------------------------------


@dataclass(frozen=True)
class Accreditation:
    subject: str
    level: int
    expires_ms: int
    granted_ms: int = 0
    test: str = ""  # the test passed; "" when an admin granted it

    def as_json(self, now_ms: int) -> dict[str, Any]:
        return {"subject": self.subject, "level": self.level, "expires": self.expires_ms,
                "granted": self.granted_ms, "test": self.test or None, "current": current(self, now_ms)}


_HEAD = re.compile(r"([0-9][0-9]?) ([0-9]+)")  # lua/dispatch.lua: '^(%d%d?) (%d+)'


def stored(a: Accreditation) -> str:
    """The stored value: level and expiry first, as dispatch.lua reads them."""
    return f"{a.level} {a.expires_ms} {a.granted_ms} {a.test}".rstrip()


def parse(subject: str, raw: str) -> Accreditation | None:
    m = _HEAD.match(raw)
    if not m:
        return None
    rest = raw[m.end():].split()
    granted_ms = int(rest[0]) if rest and rest[0].isascii() and rest[0].isdigit() and len(rest[0]) <= 15 else 0
    return Accreditation(subject, int(m.group(1)), int(m.group(2)), granted_ms, rest[1] if len(rest) > 1 else "")


def current(a: Accreditation | None, now_ms: int) -> bool:
    """Held at ``now_ms``: at a level matching reads, not yet expired."""
    return a is not None and 1 <= a.level <= MAX_LEVEL and now_ms < a.expires_ms


def levels(entries: dict[str, str], now_ms: int) -> dict[str, int]:
    """Subject -> level of a rep's stored accreditations that are current: what matching reads
    (the twin of the loop in lua/dispatch.lua)."""
    out: dict[str, int] = {}
    for subject, raw in entries.items():
        a = parse(subject, raw)
        if a is not None and current(a, now_ms):
            out[subject] = a.level
    return out


def granted(test: Test, result: Grade, now_ms: int) -> Accreditation | None:
    if not result.passed:
        return None
    return Accreditation(test.subject, test.level, now_ms + test.validity_days * DAY_MS, now_ms, test.id)


def after_pass(held: Accreditation | None, new: Accreditation, now_ms: int) -> Accreditation:
    """What a rep holds after passing: a pass never lowers a level held now (an expert who
    takes the basic test keeps expert); at the same or a higher level it renews."""
    if current(held, now_ms) and held is not None and held.level > new.level:
        return held
    return new


def validate_grant(raw: object, now_ms: int) -> Accreditation | Errors:
    """An admin's grant {subject, level, valid_days}."""
    if not isinstance(raw, dict):
        return [("", "must be a JSON object with subject, level, valid_days")]
    errors: Errors = []
    for i, key in enumerate(raw):
        if key not in ("subject", "level", "valid_days"):
            errors.append((_label("", key, i), "unknown field; allowed: subject, level, valid_days"))
    subject = _subject(raw.get("subject"), "subject", errors)
    level = _number(raw.get("level"), "level", 1, MAX_LEVEL, errors, whole=True)
    days = _number(raw.get("valid_days", DEFAULTS["validity_days"]), "valid_days", 1, VALIDITY_DAYS_MAX, errors,
                   whole=True)
    if errors:
        return errors
    return Accreditation(subject, level, now_ms + days * DAY_MS, now_ms, "")  # type: ignore[arg-type]
