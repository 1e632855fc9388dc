"""The profile's form fields in the console: form strings to the API's shape (so the domain
validates both the same way), a profile back to form strings, and each validation error's
path to the form field it is shown beside."""

from __future__ import annotations

import re

from backend.core.rep_profile import WEEKDAYS, Profile, skills_from_text, split_list
from backend.web.console.web import Form

Errors = dict[str, list[str]]

DAY_NAMES = dict(zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")))
HOURS = [f"hours_{day}" for day in WEEKDAYS]
# the form's text fields of each part, for re-showing what was typed
ADMIN_TEXT = ["capacity", "skills", "languages", "products", "areas"]
SCHEDULE_TEXT = ["timezone", *HOURS, "days_off"]
ALERTS_TEXT = ["email_after_s"]


def _whole(text: str) -> int | str:
    """A whole number when the text is one (ASCII digits only: int("²") raises)."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 7 else text


def admin_part(form: Form) -> dict[str, object]:
    """The fields only an admin sets: capacity, skills, languages, products, areas (each only
    when the form has it, so a form of a few fields changes only those)."""
    data: dict[str, object] = {}
    if "capacity" in form:
        data["capacity"] = _whole(form.get("capacity"))
    if "skills" in form:
        data["skills"] = skills_from_text(form.get("skills"))
    for name in ("languages", "products", "areas"):
        if name in form:
            data[name] = split_list(form.get(name))
    if "area" in form and "areas" not in form:  # the old single-area field
        data["area"] = form.get("area")
    return data


def own_part(form: Form) -> dict[str, object]:
    """What a rep sets for themselves: the schedule (when the form has the time zone field;
    all of it blank means no schedule) and alerts (when the form has its marker field, since
    unticked boxes are not sent)."""
    data: dict[str, object] = {}
    if "timezone" in form:
        zone = form.get("timezone").strip()
        hours = {day: split_list(form.get(f"hours_{day}")) for day in WEEKDAYS}
        days_off = [d for d in re.split(r"[,\s]+", form.get("days_off")) if d]
        data["schedule"] = {"timezone": zone, "hours": hours, "days_off": days_off} \
            if zone or days_off or any(hours.values()) else None
    if "alerts" in form:
        after = form.get("email_after_s").strip()
        data["alerts"] = {"channels": [c for c in ("console", "email") if f"alert_{c}" in form],
                          "email_after_s": _whole(after) if after else None}
    return data


def values(profile: Profile) -> dict[str, object]:
    """The form's strings (and ticks) for a stored profile."""
    schedule = profile.schedule
    out: dict[str, object] = {
        "capacity": str(profile.capacity),
        "skills": ", ".join(f"{name}:{level}" for name, level in profile.skills.items()),
        "languages": ", ".join(profile.languages), "products": ", ".join(profile.products),
        "areas": ", ".join(profile.areas), "timezone": schedule.timezone if schedule else "",
        "days_off": ", ".join(d.isoformat() for d in sorted(schedule.days_off)) if schedule else "",
        "email_after_s": "" if profile.alerts.email_after_s is None else str(profile.alerts.email_after_s),
        "alert_console": "console" in profile.alerts.channels, "alert_email": "email" in profile.alerts.channels,
    }
    for day, spans in zip(WEEKDAYS, schedule.hours if schedule else ((),) * 7):
        out[f"hours_{day}"] = ", ".join(s.as_text() for s in spans)
    return out


def typed(form: Form) -> dict[str, object]:
    """What was typed, to show again beside its errors."""
    out: dict[str, object] = {name: form.get(name) for name in ADMIN_TEXT + SCHEDULE_TEXT + ALERTS_TEXT}
    out["alert_console"], out["alert_email"] = "alert_console" in form, "alert_email" in form
    return out


def field_of(path: str) -> str:
    """The form field an error's path belongs to: schedule.hours.mon[0] -> hours_mon."""
    parts = re.split(r"[.\[]", path)
    if parts[0] == "schedule":
        sub = parts[1] if len(parts) > 1 else "timezone"
        return f"hours_{parts[2]}" if sub == "hours" and len(parts) > 2 and parts[2] in WEEKDAYS else \
            {"days_off": "days_off", "hours": "hours_mon"}.get(sub, "timezone")
    if parts[0] == "alerts":
        return "email_after_s" if len(parts) > 1 and parts[1] == "email_after_s" else "alerts"
    return {"area": "areas"}.get(parts[0], parts[0])


PLAIN = {"schedule.timezone", "alerts.email_after_s", "schedule", "alerts", "alerts.channels"}


def collect(errors: list[tuple[str, str]]) -> Errors:
    """(path, message) pairs grouped by form field; a message about one entry names it."""
    out: Errors = {}
    for path, message in errors:
        field = field_of(path)
        shown = message if path == field or path in PLAIN or not path else f"{path}: {message}"
        out.setdefault(field, []).append(shown)
    return out
