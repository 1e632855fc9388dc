"""The representative's profile as matching will read it (backend/core/rep_profile.py): any
input gives a profile or every error with its field, never an exception; and whether a rep is
on schedule follows their own wall clock, through daylight-saving changes and days off."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, example, given, settings, strategies as st

from backend.core.rep_profile import (
    CHANNELS, EMPTY, FIELDS, WEEKDAYS, Profile, on_schedule, read_profile, validate_profile,
)
from tests.helpers import deep, sendable

PARIS = ZoneInfo("Europe/Paris")


# --- validation -------------------------------------------------------------------------------

surrogates = st.sampled_from(["\ud800", "billing\udfff", "\udc00en"])
hostile_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-10 ** 400, 10 ** 400), st.floats(allow_nan=True), st.text(max_size=30),
    surrogates, st.sampled_from(["09:00-17:00", "25:61-99:99", "en", "Europe/Paris", "../../etc/passwd", "2025-02-30",
                                 "console", "email", "x" * 5000, "\x00", "pt_BR", "24:00-00:00"]),
)
hostile = st.recursive(hostile_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=6), st.dictionaries(st.one_of(st.text(max_size=10), surrogates,
                                                           st.sampled_from(WEEKDAYS + ("timezone", "hours"))),
                                                 inner, max_size=6)), max_leaves=25)
field_names = st.one_of(st.sampled_from(FIELDS), st.text(max_size=8), surrogates)



@settings(max_examples=400)
@given(st.one_of(st.dictionaries(field_names, hostile, max_size=8), hostile))
@example({"skills": {"billing": 10 ** 400}, "capacity": 10 ** 400, "alerts": {"email_after_s": 1e308}})
@example({"languages": ["\ud800"], "areas": ["North \ud800"], "products": [None], "area": "x" * 10 ** 5})
def test_any_input_gives_a_profile_or_a_list_of_errors_never_an_exception(data: object) -> None:
    result = validate_profile(data)
    if isinstance(result, Profile):
        assert isinstance(data, dict) and set(data) <= set(FIELDS)
        return
    assert result and all(isinstance(p, str) and isinstance(m, str) and m for p, m in result)
    assert all(sendable(p) and sendable(m) for p, m in result)  # nothing hostile is echoed back


def test_deep_nesting_anywhere_is_an_error_not_a_crash() -> None:
    nested = deep(100_000)
    for name in FIELDS:
        assert isinstance(validate_profile({name: nested}), list)
    errors = validate_profile({"schedule": {"timezone": "UTC", "hours": {"mon": nested}, "days_off": nested},
                               "alerts": {"channels": nested}, "skills": {"x": nested}})
    assert [path for path, _ in errors] == ["skills.x", "schedule.hours.mon[0]", "schedule.days_off[0]",
                                            "alerts.channels[0]"]


@given(st.dictionaries(st.sampled_from(["skills", "languages", "products", "areas", "schedule", "alerts",
                                        "capacity"]),
                       st.one_of(st.integers(-5, 0), st.just("nonsense"), st.just([{"x": 1}])), min_size=1))
def test_every_wrong_field_is_named_at_once(data: dict) -> None:
    errors = validate_profile(data)
    assert isinstance(errors, list)
    named = {path.split(".")[0].split("[")[0] for path, _ in errors}
    assert named == set(data)


def test_a_profile_reads_normalised() -> None:
    profile = validate_profile({
        "skills": {" Billing  Disputes ": 5, "kayaks": 2}, "languages": ["FR", "pt_br", "en", "fr"],
        "products": ["Sea  Kayaks"], "areas": [" sw1 ", "île-de-france"],
        "schedule": {"timezone": "Europe/Paris",
                     "hours": {"mon": ["13:00-17:30", "09:00-12:00"], "fri": ["22:00-02:00"]},
                     "days_off": ["2025-12-25"]},
        "alerts": {"channels": ["email", "console"], "email_after_s": 120}, "capacity": 4})
    assert isinstance(profile, Profile)
    assert profile.as_json() == {
        "capacity": 4, "skills": {"billing disputes": 5, "kayaks": 2}, "languages": ["fr", "pt-BR", "en"],
        "products": ["sea kayaks"], "areas": ["SW1", "ÎLE-DE-FRANCE"],
        "schedule": {"timezone": "Europe/Paris", "days_off": ["2025-12-25"],
                     "hours": {"mon": ["09:00-12:00", "13:00-17:30"], "tue": [], "wed": [], "thu": [],
                               "fri": ["22:00-02:00"], "sat": [], "sun": []}},
        "alerts": {"channels": ["console", "email"], "email_after_s": 120}}


def test_the_old_forms_still_read() -> None:
    """Before profiles, skills were a list of names and the area one string."""
    assert validate_profile({"skills": ["billing", "French"], "area": "EU"}) == Profile(
        skills={"billing": 3, "french": 3}, areas=("EU",))
    assert read_profile({"skills": ["billing"], "area": "north"}) == Profile(skills={"billing": 3}, areas=("NORTH",))
    assert read_profile({}) == EMPTY
    # a damaged stored field reads as empty; the others still read
    assert read_profile({"skills": {"billing": 9}, "languages": ["en"]}) == Profile(languages=("en",))


def test_errors_name_their_field() -> None:
    errors = validate_profile({
        "skills": {"billing": 6}, "languages": ["english"],
        "schedule": {"timezone": "Mars/Olympus", "hours": {"mon": ["9-5"], "funday": []}, "days_off": ["2025-02-30"]},
        "alerts": {"channels": ["pager"], "email_after_s": 60}})
    assert errors == [
        ("skills.billing", "proficiency must be a whole number from 1 to 5"),
        ("languages[0]", "must be a language tag such as en, fr or pt-BR"),
        ("schedule.timezone", "must be a time zone such as Europe/Paris or America/New_York"),
        ("schedule.hours.mon[0]", "must be a time range such as 09:00-17:30"),
        ("schedule.hours[1]", "must be a weekday: mon, tue, wed, thu, fri, sat, sun"),
        ("schedule.days_off[0]", "must be a date such as 2025-12-25"),
        ("alerts.channels[0]", "must be one of console, email"),
        ("alerts.email_after_s", "needs the email channel"),
    ]


def span_text(t: tuple[int, int, int, int]) -> str:
    return f"{t[0]:02d}:{t[1]:02d}-{t[2]:02d}:{t[3]:02d}"


spans = st.tuples(st.integers(0, 23), st.sampled_from([0, 15, 30, 45]), st.integers(0, 24),
                  st.sampled_from([0, 30])).filter(lambda t: (t[2] < 24 or t[3] == 0) and t[:2] != (t[2], t[3]))
valid = st.fixed_dictionaries({}, optional={
    "capacity": st.integers(1, 20),
    "skills": st.dictionaries(st.from_regex(r"[a-z]{1,10}( [a-z]{1,5})?", fullmatch=True), st.integers(1, 5),
                              max_size=5),
    "languages": st.lists(st.sampled_from(["en", "fr", "pt-BR", "zh-Hant-TW", "de-CH", "es-419"]), unique=True),
    "products": st.lists(st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True), max_size=4, unique=True).map(sorted),
    "areas": st.lists(st.from_regex(r"[A-Z0-9]{1,6}", fullmatch=True), max_size=4, unique=True).map(sorted),
    "schedule": st.one_of(st.none(), st.fixed_dictionaries({
        "timezone": st.sampled_from(["Europe/Paris", "America/New_York", "Asia/Kolkata", "UTC", "Australia/Lord_Howe"]),
        "hours": st.fixed_dictionaries({day: st.lists(spans.map(span_text), max_size=3, unique=True)
                                        for day in WEEKDAYS}),
        "days_off": st.lists(st.dates(date(2020, 1, 1), date(2035, 12, 31)), max_size=5, unique=True)
        .map(lambda ds: [d.isoformat() for d in sorted(ds)])})),
    "alerts": st.fixed_dictionaries({"channels": st.lists(st.sampled_from(CHANNELS), unique=True)
                                     .map(lambda cs: [c for c in CHANNELS if c in cs])})
    .flatmap(lambda a: st.just({**a, "email_after_s": None}) if "email" not in a["channels"] else
             st.integers(10, 86400).map(lambda n: {**a, "email_after_s": n})),
})


@given(valid)
def test_a_valid_profile_survives_being_stored_and_read(data: dict) -> None:
    profile = validate_profile(data)
    assert isinstance(profile, Profile), profile
    stored = json.loads(json.dumps(profile.as_json()))
    assert read_profile(stored) == profile == validate_profile(stored)


def test_an_update_changes_only_the_fields_it_gives() -> None:
    base = validate_profile({"skills": {"billing": 4},
                             "schedule": {"timezone": "UTC", "hours": {"mon": ["09:00-17:00"]}}})
    assert isinstance(base, Profile)
    changed = validate_profile({"languages": ["de"]}, base)
    assert isinstance(changed, Profile)
    assert (changed.skills, changed.schedule, changed.languages) == (base.skills, base.schedule, ("de",))
    assert validate_profile({"schedule": None}, base).schedule is None  # type: ignore[union-attr]


# --- on schedule ------------------------------------------------------------------------------

def weekly(zone: str, span: str, days_off: list[str] | None = None) -> Profile:
    profile = validate_profile({"schedule": {"timezone": zone, "hours": {day: [span] for day in WEEKDAYS},
                                             "days_off": days_off or []}})
    assert isinstance(profile, Profile), profile
    return profile


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_the_same_utc_time_is_on_or_off_schedule_across_a_daylight_saving_change() -> None:
    """09:00-17:00 in Paris: 07:30 UTC is 08:30 in winter, 09:30 in summer."""
    rep = weekly("Europe/Paris", "09:00-17:00")
    assert not on_schedule(rep, utc(2024, 3, 30, 7, 30))  # Saturday, CET
    assert on_schedule(rep, utc(2024, 3, 31, 7, 30))  # Sunday, the clocks went forward at 02:00
    assert on_schedule(rep, utc(2024, 10, 27, 8, 30))  # back to CET: 09:30
    assert not on_schedule(rep, utc(2024, 10, 26, 6, 30))  # CEST: 08:30
    assert not on_schedule(rep, utc(2024, 3, 31, 15, 0))  # 17:00 CEST: the end is not included


@pytest.mark.parametrize("night, minutes", [(date(2024, 3, 31), 120), (date(2024, 10, 27), 240),
                                            (date(2024, 6, 9), 180)])
def test_a_night_shift_lasts_what_the_clocks_say(night: date, minutes: int) -> None:
    """01:00-04:00 in Paris is two real hours on the night the clocks go forward, four on the
    night they go back."""
    rep = weekly("Europe/Paris", "01:00-04:00")
    start = datetime.combine(night, time(), PARIS).astimezone(timezone.utc) - timedelta(hours=2)
    assert sum(on_schedule(rep, start + timedelta(minutes=m)) for m in range(24 * 60)) == minutes


paris_dates = st.one_of(st.dates(date(2020, 1, 1), date(2035, 12, 31)),
                        st.sampled_from([date(2024, 3, 30), date(2024, 3, 31), date(2024, 4, 1),
                                         date(2024, 10, 26), date(2024, 10, 27), date(2024, 10, 28)]))


@settings(max_examples=300)
@given(paris_dates, st.integers(0, 1439), st.integers(0, 1), spans, st.sets(st.integers(-1, 1), max_size=3))
def test_on_schedule_follows_the_local_wall_clock_and_days_off(day: date, minute: int, fold: int,
                                                               span: tuple, off: set[int]) -> None:
    wall = datetime.combine(day, time(minute // 60, minute % 60), PARIS).replace(fold=fold)
    instant = wall.astimezone(timezone.utc)
    assume(instant.astimezone(PARIS).replace(tzinfo=None) == wall.replace(tzinfo=None))  # not in a spring gap
    start, end = span[0] * 60 + span[1], span[2] * 60 + span[3]
    days_off = {day + timedelta(days=d) for d in off}
    rep = weekly("Europe/Paris", span_text(span), [d.isoformat() for d in days_off])
    if start < end:
        expected = day not in days_off and start <= minute < end
    else:  # past midnight: the shift belongs to the day it starts on
        before = day - timedelta(days=1)
        expected = (day not in days_off and minute >= start) or (before not in days_off and minute < end)
    assert on_schedule(rep, instant) is expected


@given(st.datetimes(datetime(2000, 1, 1), datetime(2040, 1, 1), timezones=st.timezones()),
       st.sampled_from(["Europe/Paris", "Pacific/Chatham", "America/St_Johns", "UTC"]))
def test_around_the_clock_means_always_but_on_days_off(when: datetime, zone: str) -> None:
    local_day = when.astimezone(ZoneInfo(zone)).date()
    assert on_schedule(weekly(zone, "00:00-24:00"), when)
    assert not on_schedule(weekly(zone, "00:00-24:00", [local_day.isoformat()]), when)


def test_no_schedule_is_always_on_and_a_naive_time_is_refused() -> None:
    assert on_schedule(EMPTY, utc(2024, 1, 1, 3, 0))
    with pytest.raises(ValueError):
        on_schedule(weekly("UTC", "09:00-17:00"), datetime(2024, 1, 1, 10, 0))
