"""Pure decisions about offers: estimated wait, learned timeouts, per-site offer settings.

``estimate_wait`` and ``page_present`` have Lua twins in ``store/lua/lib/``; property tests
hold each pair equal.
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit
from dataclasses import asdict, dataclass, field, fields
from typing import Any
from backend.core.validation import EMAIL_RE, NOT_TEXT, ValidationError, finite_number, is_text

VARIANTS = ("button", "panel", "audio", "video")
DEFAULT_AHT_S = 180.0  # the handle time of a chat until real chats teach us better
# Handle times are learned robustly: one chat ended 7 ms after the rep joined once made the
# "average" 0.007 s, and 31 offers went out for 5 slots.
AHT_FLOOR_S = 30.0  # no estimate assumes chats shorter than this (twin: lua/lib/slots.lua)
HANDLE_MIN_S = 10.0  # a chat ended sooner was not handled (the customer left, a mis-click)
HANDLE_MAX_S = 4 * 3600.0  # one open longer was forgotten, not handled
HANDLE_SAMPLES_MIN = 5  # plausible chats needed before they replace the default


def handle_time_s(samples_ms: list[float]) -> float:
    """The handle time waits are estimated with: the median of recent chat durations that are
    plausible (HANDLE_MIN_S to HANDLE_MAX_S), at least AHT_FLOOR_S; DEFAULT_AHT_S until there
    are HANDLE_SAMPLES_MIN of them. A median, so a few odd chats do not move it."""
    plausible = sorted(s / 1000 for s in samples_ms if HANDLE_MIN_S <= s / 1000 <= HANDLE_MAX_S)
    if len(plausible) < HANDLE_SAMPLES_MIN:
        return DEFAULT_AHT_S
    mid = len(plausible) // 2
    median = plausible[mid] if len(plausible) % 2 else (plausible[mid - 1] + plausible[mid]) / 2
    return max(AHT_FLOOR_S, median)


def estimate_wait(capacity: int, in_use: int, aht_s: float) -> float | None:
    """Seconds until a newly offered customer would reach a representative.

    ``capacity`` is the number of chat slots of available representatives and ``in_use``
    the slots taken by chats, pending requests and outstanding offers. With a free slot the
    wait is 0. Otherwise the customer is at queue position ``p = in_use - capacity`` and,
    with ``capacity`` chats each lasting ``aht_s`` on average, a slot frees every
    ``aht_s / capacity`` seconds, so the wait is ``(p + 1) * aht_s / capacity``. Nobody on
    duty: None (infinite). ``aht_s`` counts as at least AHT_FLOOR_S, whoever passes it: the
    broker offers while this is within the acceptable wait, so this bounds the offers out.
    """
    if capacity <= 0:
        return None
    if in_use < capacity:
        return 0.0
    return (in_use - capacity + 1) * max(aht_s, AHT_FLOOR_S) / capacity


# A page is there while a web worker holds its live connection (confirmed every
# PAGE_CONFIRM_S, so stale after SOCKET_WINDOW_MS), or while its batches keep coming (the
# heartbeat, every ``heartbeat_s`` while visible: two missed beats and it is gone). After its
# goodbye (pagehide) the next page of the same visit has a grace (Settings.page_grace_s).
PAGE_CONFIRM_S = 5.0
SOCKET_WINDOW_MS = 15_000


def live_window_ms(heartbeat_s: int) -> int:
    return 2 * heartbeat_s * 1000 + 5_000


def page_present(now: int, last: int | None, left: int | None, socket_seen: int | None,
                 live_ms: int, grace_ms: int, socket_ms: int = SOCKET_WINDOW_MS) -> bool:
    """Is a page of the visitor still open? Twin of ``store/lua/lib/present.lua``: offers go
    only to such visitors, and a waiting chat request ends when its page is gone."""
    if socket_seen is not None and socket_seen >= now - socket_ms:
        return True
    if left is not None:
        return left >= now - grace_ms
    return last is not None and last >= now - live_ms


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def learned_seconds(
    samples_ms: list[float], default_s: float, low_s: float, high_s: float, min_samples: int = 10, q: float = 90
) -> float:
    """The q-th percentile of recent samples, clamped; the default until enough exist.

    Used for the offer's response time (how long customers take to respond to an offer
    they will respond to) and, where a site opts in, the acceptable wait.
    """
    if len(samples_ms) < min_samples:
        return default_s
    return min(high_s, max(low_s, percentile(samples_ms, q) / 1000))


class SettingsError(ValidationError):
    """Offer settings failed validation."""


@dataclass(frozen=True)
class OfferSettings:
    variant: str = "button"
    acceptable_wait_s: float = 60.0
    learn_acceptable_wait: bool = False
    response_timeout_s: float = 30.0  # until learned
    timeout_min_s: float = 10.0
    timeout_max_s: float = 120.0
    cooldown_s: float = 600.0
    min_cart_value: float = 0.0
    require_access_code: bool = False
    access_codes: list[str] = field(default_factory=list)
    short_for_first_visit: bool = True
    leave_message: bool = False  # needs sales_email: off until there is somewhere to send messages
    sales_email: str = ""
    headline: str = "Can we help?"
    message: str = "A real person is here to answer your questions."
    audio_url: str = ""
    video_url: str = ""
    captions_url: str = ""
    # A request that must be contacted and is still waiting this long: the site's admins are alerted.
    must_contact_alert_s: float = 120.0
    # Of the visitors who come to need help, this share (0-0.5) is never offered it: the
    # holdout that reports compare against (core/counters.py:arm). A new site's comes from
    # Settings.holdout_default.
    holdout_share: float = 0.10

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def leave_message_works(self) -> bool:
        """"Leave a message" needs somewhere to send the message."""
        return self.leave_message and bool(self.sales_email)

    def warnings(self) -> list[tuple[str, str]]:
        """Settings stored before a rule existed that no longer hold, said where the owner
        edits them."""
        if self.leave_message and not self.sales_email:
            return [("sales_email", "'Leave a message' is on but no sales e-mail is set, so no customer is "
                                    "offered it. Set a sales e-mail, or turn it off.")]
        return []


_LIMITS: dict[str, tuple[float, float]] = {
    "acceptable_wait_s": (0, 3600),
    "response_timeout_s": (3, 600),
    "timeout_min_s": (3, 600),
    "timeout_max_s": (3, 3600),
    "cooldown_s": (0, 86400 * 7),
    "min_cart_value": (0, 1e9),
    "must_contact_alert_s": (10, 86400),
    "holdout_share": (0, 0.5),
}
_TEXT_LIMITS = {"headline": 80, "message": 300, "audio_url": 500, "video_url": 500, "captions_url": 500,
                "sales_email": 254}


def media_url_ok(url: str) -> bool:
    """https, or a path on the host page's own origin. Not http (mixed content), not
    protocol-relative ``//evil.example`` nor ``/\\evil.example`` (browsers read both as another
    host), nothing with spaces or control characters."""
    if any(c.isspace() or ord(c) < 32 or c == "\\" for c in url):
        return False
    if url.startswith("/"):
        return not url.startswith("//")
    if not url.startswith("https://"):
        return False
    try:
        return bool(urlsplit(url).hostname)
    except ValueError:
        return False


def validate_settings(data: Any, base: OfferSettings | None = None) -> OfferSettings:
    """Merge ``data`` over ``base`` (default: defaults); list every problem."""
    base = base or OfferSettings()
    if not isinstance(data, dict):
        raise SettingsError([("", "the settings must be a JSON object")])
    known = {f.name for f in fields(OfferSettings)}
    errors: list[tuple[str, str]] = []
    merged = base.as_json()
    for key, value in data.items():
        if key not in known:
            errors.append((key, "unknown setting"))
            continue
        default = merged[key]
        if key in _LIMITS:
            low, high = _LIMITS[key]
            if not finite_number(value) or not low <= value <= high:
                errors.append((key, f"must be a number from {low:g} to {high:g}"))
                continue
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                errors.append((key, "must be true or false"))
                continue
        elif key == "variant":
            if value not in VARIANTS:
                errors.append((key, f"must be one of {', '.join(VARIANTS)}"))
                continue
        elif key == "access_codes":
            if not isinstance(value, list) or len(value) > 1000 or not all(
                is_text(c) and 3 <= len(c) <= 64 for c in value
            ):
                errors.append((key, "must be a list of up to 1000 codes of 3-64 characters"))
                continue
        elif key in _TEXT_LIMITS:
            if not isinstance(value, str) or len(value) > _TEXT_LIMITS[key]:
                errors.append((key, f"must be text of at most {_TEXT_LIMITS[key]} characters"))
                continue
            if not is_text(value):
                errors.append((key, NOT_TEXT))
                continue
            if key.endswith("_url") and value and not media_url_ok(value):
                errors.append((key, "must be an https:// URL, or a path on the site itself such as /media/hello.mp3"))
                continue
            if key == "sales_email" and value and not EMAIL_RE.match(value):  # no line breaks in a To: header
                errors.append((key, "must be an e-mail address"))
                continue
        merged[key] = value
    if merged["timeout_min_s"] > merged["timeout_max_s"]:
        errors.append(("timeout_min_s", "must not be above timeout_max_s"))
    if merged["leave_message"] and not merged["sales_email"]:
        errors.append(("sales_email", "is needed for 'leave a message'; without it no customer is offered it"))
    if errors:
        raise SettingsError(errors)
    return OfferSettings(**merged)
