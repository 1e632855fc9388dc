"""Applications to become a representative: what an admin records about one (the background
check, the decision and its note) and the rules for both, without I/O, so the console and
any later API validate alike."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from backend.core.rep_profile import EMPTY, Profile
from backend.core.validation import is_text

STATUSES = ("pending", "approved", "rejected")
CHECK_STATUSES = ("not_started", "pending", "passed", "failed")
CHECK_LABELS = {"not_started": "not started", "pending": "pending", "passed": "passed", "failed": "failed"}
DECISIONS = {"approve": "approved", "reject": "rejected"}
NOTE_MAX = 2000

Errors = list[tuple[str, str]]


@dataclass(frozen=True)
class BackgroundCheck:
    status: str = "not_started"
    date: str = ""  # YYYY-MM-DD, or "" when none was given
    note: str = ""


@dataclass(frozen=True)
class Application:
    id: str
    site: str
    name: str
    email: str
    status: str  # pending | approved | rejected
    created_ms: int
    profile: Profile = EMPTY
    check: BackgroundCheck = BackgroundCheck()
    note: str = ""  # the decision's note
    decided_ms: int | None = None


def _note(value: object, field: str, errors: Errors) -> str:
    if not is_text(value) or len(value) > NOTE_MAX:
        errors.append((field, f"must be text of at most {NOTE_MAX} characters"))
        return ""
    return value.strip()


def validate_check(status: object, date: object, note: object) -> BackgroundCheck | Errors:
    """A background check as the admin records it; the date may be blank, never in the future."""
    errors: Errors = []
    if status not in CHECK_STATUSES:
        errors.append(("check_status", f"must be one of {', '.join(CHECK_LABELS.values())}"))
    day = date.strip() if is_text(date) else None
    if day is None:
        errors.append(("check_date", "must be a date like 2026-01-31"))
    elif day:
        try:
            parsed = datetime.date.fromisoformat(day) if len(day) == 10 else None
        except ValueError:
            parsed = None
        if parsed is None:
            errors.append(("check_date", "must be a date like 2026-01-31"))
        elif parsed > datetime.date.today() + datetime.timedelta(days=1):  # a day's slack for time zones
            errors.append(("check_date", "cannot be in the future"))
    text = _note(note, "check_note", errors)
    if errors:
        return errors
    assert isinstance(status, str) and day is not None
    return BackgroundCheck(status, day, text)


def validate_decision(app: Application, decision: object, note: object) -> tuple[str, str] | Errors:
    """(new status, note): an application is decided once; a rejection says why; an applicant
    whose background check failed is not approved."""
    errors: Errors = []
    text = _note(note, "note", errors)
    if app.status != "pending":
        errors.append(("decision", f"this application was {app.status} already"))
    elif decision not in DECISIONS:
        errors.append(("decision", "choose approve or reject"))
    elif decision == "reject" and not text and not errors:
        errors.append(("note", "say why, for the applicant"))
    elif decision == "approve" and app.check.status == "failed":
        errors.append(("decision", "the background check failed; record another check to approve"))
    if errors:
        return errors
    assert isinstance(decision, str)
    return DECISIONS[decision], text
