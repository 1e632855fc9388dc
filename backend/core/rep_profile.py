"""A representative's profile: what matching reads to choose the right rep for a customer
(skills, languages, product lines, areas, weekly schedule, alert preferences, capacity).

Pure, so the API, the console, the CLI and the matching rules share one reading of it:
``validate_profile`` answers a ``Profile`` or every problem at once as (field path, message);
``read_profile`` reads what is stored leniently (an older or damaged field reads as empty,
never as an error); ``on_schedule`` says whether a rep is on duty at an instant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Callable
from zoneinfo import ZoneInfo

from backend.core.validation import NOT_TEXT, bounded_list, is_text

Errors = list[tuple[str, str]]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order
CHANNELS = ("console", "email")  # more come with records and notifications
DEFAULT_LEVEL = 3  # a skill given as a bare name (the old list form)
LEVELS = (1, 5)
CAPACITY = (1, 20)
EMAIL_AFTER_S = (10, 86400)
NAME_MAX = 64
MAX_SKILLS, MAX_LANGUAGES, MAX_PRODUCTS, MAX_AREAS = 50, 20, 50, 100
MAX_SPANS, MAX_DAYS_OFF = 6, 366
DAY_MINUTES = 1440

# BCP 47, the parts matching needs: a primary language, an optional script and region
# ("en", "fr", "pt-BR", "zh-Hant-TW"). "_" is read as "-" (as in pt_BR).
LANGUAGE_RE = re.compile(r"([A-Za-z]{2,3})(?:[-_]([A-Za-z]{4}))?(?:[-_]([A-Za-z]{2}|[0-9]{3}))?\Z")
SPAN_RE = re.compile(r"([0-9]{2}):([0-9]{2}) ?- ?([0-9]{2}):([0-9]{2})\Z")
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
ZONE_RE = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*\Z")


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class Span:
    """Working hours within a day, in minutes after local midnight. An end at or before the
    start runs past midnight into the next day (22:00-06:00)."""

    start: int  # 0..1439
    end: int  # 1..1440 (24:00)

    @property
    def overnight(self) -> bool:
        return self.end < self.start

    def as_text(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


@dataclass(frozen=True)
class Schedule:
    timezone: str  # IANA name, loadable by zoneinfo
    hours: tuple[tuple[Span, ...], ...] = ((),) * 7  # Monday first
    days_off: frozenset[date] = frozenset()  # local dates; a shift starting on one is off

    def as_json(self) -> dict[str, Any]:
        return {"timezone": self.timezone,
                "hours": {day: [s.as_text() for s in spans] for day, spans in zip(WEEKDAYS, self.hours)},
                "days_off": [d.isoformat() for d in sorted(self.days_off)]}


@dataclass(frozen=True)
class Alerts:
    channels: tuple[str, ...] = ("console",)
    email_after_s: int | None = None  # "e-mail me when a request waits more than N s"

    def as_json(self) -> dict[str, Any]:
        return {"channels": list(self.channels), "email_after_s": self.email_after_s}


@dataclass(frozen=True)
class Profile:
    capacity: int = 3
    skills: dict[str, int] = field(default_factory=dict)  # name -> proficiency 1-5
    languages: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()  # postcode prefixes, area codes, region names
    schedule: Schedule | None = None  # None: no hours set, on duty whenever available
    alerts: Alerts = Alerts()

    def as_json(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "skills": dict(self.skills), "languages": list(self.languages),
                "products": list(self.products), "areas": list(self.areas),
                "schedule": self.schedule.as_json() if self.schedule else None, "alerts": self.alerts.as_json()}


EMPTY = Profile()


# --- validation ------------------------------------------------------------------------------
# Each check appends its problems to ``errors`` and answers the clean value, or None when
# there was a problem. None of them recurse into the input, so no nesting can exhaust them.


def _whole(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _label(path: str, key: object, index: int) -> str:
    """A path naming a key the sender chose, when it is safe to echo back; else its position."""
    if is_text(key) and 0 < len(key) <= NAME_MAX and key.isprintable():  # type: ignore[union-attr]
        return f"{path}.{key}"
    return f"{path}[{index}]"


def _name(value: object, path: str, errors: Errors, upper: bool = False) -> str | None:
    """A short name, whitespace collapsed, lower-cased (upper-cased for areas)."""
    if isinstance(value, str) and not is_text(value):
        errors.append((path, NOT_TEXT))
        return None
    if not isinstance(value, str) or len(value) > NAME_MAX * 4:
        errors.append((path, f"must be a name of 1-{NAME_MAX} characters"))
        return None
    name = " ".join(value.split())
    name = name.upper() if upper else name.lower()
    if not 0 < len(name) <= NAME_MAX or not name.isprintable():
        errors.append((path, f"must be a name of 1-{NAME_MAX} characters"))
        return None
    return name


def _list(value: object, path: str, errors: Errors, limit: int, what: str) -> list[object] | None:
    return bounded_list(value, path, limit, errors, what)


def _names(value: object, path: str, errors: Errors, limit: int, what: str, upper: bool = False
           ) -> tuple[str, ...] | None:
    items = _list(value, path, errors, limit, what)
    if items is None:
        return None
    before = len(errors)
    names = [_name(item, f"{path}[{i}]", errors, upper) for i, item in enumerate(items)]
    return tuple(sorted({n for n in names if n})) if len(errors) == before else None


def _capacity(value: object, errors: Errors) -> int | None:
    if not _whole(value, *CAPACITY):
        errors.append(("capacity", f"must be a whole number from {CAPACITY[0]} to {CAPACITY[1]}"))
        return None
    return value  # type: ignore[return-value]


def _skills(value: object, errors: Errors) -> dict[str, int] | None:
    """{name: proficiency 1-5}; the old list of names reads as proficiency 3 each."""
    if isinstance(value, list):
        before = len(errors)
        for i, item in enumerate(value[:MAX_SKILLS + 1]):
            if not isinstance(item, str):
                errors.append((f"skills[{i}]", "must be a skill name"))
        if len(errors) > before:
            return None
        value = dict.fromkeys(value, DEFAULT_LEVEL)
    if not isinstance(value, dict):
        errors.append(("skills", "must be an object of skill: proficiency 1-5 (or a list of skill names)"))
        return None
    if len(value) > MAX_SKILLS:
        errors.append(("skills", f"must hold at most {MAX_SKILLS} skills"))
        return None
    before, out = len(errors), {}
    for i, (key, level) in enumerate(value.items()):
        path = _label("skills", key, i)
        name = _name(key, path, errors)
        if not _whole(level, *LEVELS):
            errors.append((path, f"proficiency must be a whole number from {LEVELS[0]} to {LEVELS[1]}"))
        elif name is not None and out.get(name, level) != level:
            errors.append((path, "this skill is listed twice, with different proficiencies"))
        elif name is not None:
            out[name] = level
    return dict(sorted(out.items())) if len(errors) == before else None


def language_tag(value: object) -> str | None:
    """The normalised BCP 47 tag ("pt_br" -> "pt-BR"), or None when it is not one."""
    match = LANGUAGE_RE.match(value) if isinstance(value, str) and len(value) <= 16 else None
    if match is None:
        return None
    lang, script, region = match.groups()
    return "-".join(p for p in (lang.lower(), script and script.title(), region and region.upper()) if p)


def _languages(value: object, errors: Errors) -> tuple[str, ...] | None:
    items = _list(value, "languages", errors, MAX_LANGUAGES, "language tags")
    if items is None:
        return None
    before, out = len(errors), []
    for i, item in enumerate(items):
        tag = language_tag(item)
        if tag is None:
            errors.append((f"languages[{i}]", "must be a language tag such as en, fr or pt-BR"))
        elif tag not in out:
            out.append(tag)  # in the order given: the first is the rep's best
    return tuple(out) if len(errors) == before else None


def _products(value: object, errors: Errors) -> tuple[str, ...] | None:
    return _names(value, "products", errors, MAX_PRODUCTS, "product lines")


def _areas(value: object, errors: Errors) -> tuple[str, ...] | None:
    return _names(value, "areas", errors, MAX_AREAS, "areas", upper=True)


def _area(value: object, errors: Errors) -> tuple[str, ...] | None:
    """The old single ``area`` string: one area, or none when blank."""
    if not isinstance(value, str):
        errors.append(("area", "must be text (the old single area; areas takes a list)"))
        return None
    if not value.strip():
        return ()
    found: Errors = []
    areas = _areas([value], found)
    errors.extend(("area", message) for _, message in found)
    return areas


def timezone_ok(name: object) -> bool:
    if not (is_text(name) and 0 < len(name) <= 64 and ZONE_RE.match(name)):  # type: ignore[arg-type]
        return False
    try:
        ZoneInfo(name)  # type: ignore[arg-type]
    except (KeyError, ValueError, OSError, UnicodeError):  # ZoneInfoNotFoundError is a KeyError
        return False
    return True


def _span(value: object, path: str, errors: Errors) -> Span | None:
    match = SPAN_RE.match(value) if isinstance(value, str) and len(value) <= 20 else None
    if match is None:
        errors.append((path, "must be a time range such as 09:00-17:30"))
        return None
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        errors.append((path, "times run from 00:00 to 24:00"))
        return None
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        errors.append((path, "starts and ends at the same time; for the whole day write 00:00-24:00"))
        return None
    return Span(start, end)


def _hours(value: object, errors: Errors) -> tuple[tuple[Span, ...], ...] | None:
    if not isinstance(value, dict):
        errors.append(("schedule.hours", "must be an object of weekday (mon-sun): list of time ranges"))
        return None
    before = len(errors)
    days: list[tuple[Span, ...]] = [()] * 7
    for i, (day, spans) in enumerate(value.items()):
        if day not in WEEKDAYS:
            errors.append((f"schedule.hours[{i}]", "must be a weekday: " + ", ".join(WEEKDAYS)))
            continue
        path = f"schedule.hours.{day}"
        items = _list(spans, path, errors, MAX_SPANS, "time ranges")
        if items is not None:
            found = [_span(s, f"{path}[{j}]", errors) for j, s in enumerate(items)]
            days[WEEKDAYS.index(day)] = tuple(sorted((s for s in found if s), key=lambda s: s.start))
    return tuple(days) if len(errors) == before else None


def _days_off(value: object, errors: Errors) -> frozenset[date] | None:
    items = _list(value, "schedule.days_off", errors, MAX_DAYS_OFF, "dates")
    if items is None:
        return None
    before, out = len(errors), set()
    for i, item in enumerate(items):
        try:
            if not (isinstance(item, str) and DATE_RE.match(item)):
                raise ValueError
            out.add(date.fromisoformat(item))
        except ValueError:
            errors.append((f"schedule.days_off[{i}]", "must be a date such as 2025-12-25"))
    return frozenset(out) if len(errors) == before else None


def _schedule(value: object, errors: Errors) -> Schedule | None:
    """Returns None for both "no schedule" and a problem; the caller tells them apart."""
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.append(("schedule", "must be an object {timezone, hours, days_off} or null"))
        return None
    before = len(errors)
    for i, key in enumerate(value):
        if key not in ("timezone", "hours", "days_off"):
            errors.append((f"schedule[{i}]", "unknown field; allowed: days_off, hours, timezone"))
    zone = value.get("timezone")
    if not timezone_ok(zone):
        errors.append(("schedule.timezone", "must be a time zone such as Europe/Paris or America/New_York"))
    hours = _hours(value["hours"], errors) if "hours" in value else ((),) * 7
    off = _days_off(value["days_off"], errors) if "days_off" in value else frozenset()
    if len(errors) > before or hours is None or off is None:
        return None
    return Schedule(zone, hours, off)  # type: ignore[arg-type]


def validate_schedule(value: object, errors: Errors) -> Schedule | None:
    """A weekly schedule on its own, for whoever else keeps working hours (core/records.py's
    staff): one reading of hours everywhere. None for null as for a problem (see ``errors``)."""
    return _schedule(value, errors)


def _alerts(value: object, errors: Errors) -> Alerts | None:
    if not isinstance(value, dict):
        errors.append(("alerts", "must be an object {channels, email_after_s}"))
        return None
    before = len(errors)
    for i, key in enumerate(value):
        if key not in ("channels", "email_after_s"):
            errors.append((f"alerts[{i}]", "unknown field; allowed: channels, email_after_s"))
    channels: list[str] = []
    items = _list(value.get("channels", ["console"]), "alerts.channels", errors, len(CHANNELS) * 2, "channels")
    for i, item in enumerate(items or []):
        if item not in CHANNELS:
            errors.append((f"alerts.channels[{i}]", "must be one of " + ", ".join(CHANNELS)))
        elif item not in channels:
            channels.append(item)
    after = value.get("email_after_s")
    if after is not None and not _whole(after, *EMAIL_AFTER_S):
        errors.append(("alerts.email_after_s", f"must be a whole number of seconds from {EMAIL_AFTER_S[0]} "
                                               f"to {EMAIL_AFTER_S[1]}, or null"))
    elif after is not None and "email" not in channels and items is not None:
        errors.append(("alerts.email_after_s", "needs the email channel"))
    if len(errors) > before:
        return None
    return Alerts(tuple(c for c in CHANNELS if c in channels), after)  # type: ignore[arg-type]


CHECKS: dict[str, Callable[[object, Errors], Any]] = {
    "capacity": _capacity, "skills": _skills, "languages": _languages, "products": _products,
    "areas": _areas, "area": _area, "schedule": _schedule, "alerts": _alerts,
}
FIELDS = tuple(CHECKS)  # "area" is the old single area, read into ``areas``
TARGET = {"area": "areas"}


def validate_profile(data: object, base: Profile = EMPTY) -> Profile | Errors:
    """``base`` with the fields ``data`` gives, or the list of every problem found.
    Absent fields keep ``base``'s value; ``"schedule": null`` removes the schedule."""
    if not isinstance(data, dict):
        return [("", "must be a JSON object")]
    errors: Errors = []
    for i, key in enumerate(data):
        if key not in CHECKS:
            errors.append((_label("", key, i).lstrip("."), "unknown field; allowed: " + ", ".join(FIELDS)))
    if "area" in data and "areas" in data:
        errors.append(("area", "give areas (a list), not also the old single area"))
    changes: dict[str, Any] = {}
    for name, check in CHECKS.items():
        if name in data:
            before = len(errors)
            value = check(data[name], errors)
            if len(errors) == before:
                changes[TARGET.get(name, name)] = value
    if errors:
        return errors
    return replace(base, **changes)


def read_profile(stored: dict[str, object]) -> Profile:
    """A profile from its stored fields (decoded JSON): each field that does not validate on
    its own (written by an older version, or damaged) reads as empty, so reading never fails."""
    clean: dict[str, Any] = {}
    for name, value in stored.items():
        check = CHECKS.get(name)
        errors: Errors = []
        result = check(value, errors) if check else None
        if check and not errors:
            clean[TARGET.get(name, name)] = result
    return Profile(**clean)


# --- what the console's forms and the CLI write ----------------------------------------------

def split_list(text: str) -> list[str]:
    """Comma- or line-separated entries, blanks dropped."""
    return [part.strip() for part in re.split(r"[,\n]", text) if part.strip()]


def skills_from_text(text: str) -> dict[str, object]:
    """ "billing:4, french" -> {"billing": 4, "french": 3}; an unreadable level is passed on as
    written, so validation names it."""
    out: dict[str, object] = {}
    for part in split_list(text):
        name, sep, level = part.rpartition(":") if ":" in part else (part, "", "")
        level = level.strip()
        readable = level.isascii() and level.isdigit() and len(level) < 4
        out[name.strip()] = (int(level) if readable else level) if sep else DEFAULT_LEVEL
    return out


# --- on duty? ----------------------------------------------------------------------------------

def on_schedule(profile: Profile, when: datetime) -> bool:
    """Whether ``when`` (time-zone aware) falls in the rep's working hours, read on the wall
    clock of the rep's time zone, so a 09:00 start stays 09:00 across daylight-saving changes.
    A range past midnight belongs to the day it starts on: a day off cancels the shifts that
    start on it. A rep without a schedule is always on schedule."""
    schedule = profile.schedule
    if schedule is None:
        return True
    if when.tzinfo is None:
        raise ValueError("when must be time-zone aware")
    local = when.astimezone(ZoneInfo(schedule.timezone))
    minute, today = local.hour * 60 + local.minute, local.date()
    yesterday = today - timedelta(days=1)
    if today not in schedule.days_off:
        for span in schedule.hours[today.weekday()]:
            if span.start <= minute < (DAY_MINUTES if span.overnight else span.end):
                return True
    if yesterday not in schedule.days_off:
        for span in schedule.hours[yesterday.weekday()]:
            if span.overnight and minute < span.end:
                return True
    return False
