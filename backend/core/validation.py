"""The one shape of a validation failure: every problem found, as (field path, message)."""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import SplitResult, urlsplit


class ValidationError(ValueError):
    """Raised by validators that check a whole input, so the user sees every problem at once."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{p}: {m}" for p, m in errors))
        self.errors = errors


# An address we could answer: one @, no spaces, sane lengths. Deliverability is the mail
# server's business. (\Z, not $: "$" also matches before a trailing newline.)
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\Z")

# Half of a UTF-16 pair on its own: JSON's "\ud800" decodes to one, and it is not text, so
# Redis' Lua JSON decoder, the UTF-8 encoder and the mail encoder all raise on it.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
NOT_TEXT = "must be text (it holds a lone UTF-16 surrogate such as \\ud800)"


def is_text(value: Any) -> bool:
    """A string that can be stored, encoded and sent: no lone surrogates."""
    return isinstance(value, str) and not LONE_SURROGATE.search(value)


def finite_number(value: Any) -> bool:
    """An int or float that is not a bool, NaN or infinite, and fits a float: comparing an
    int of hundreds of digits with a float raises OverflowError."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -1e300 < value < 1e300
    return isinstance(value, float) and math.isfinite(value)


def split_url(url: str) -> SplitResult | None:
    """``urlsplit`` that answers None instead of raising on what it cannot read, such as
    ``http://[::1/x`` or ``http://[shop.example]/``."""
    try:
        return urlsplit(url)
    except ValueError:
        return None


def bounded_list(value: object, path: str, limit: int, errors: list[tuple[str, str]],
                 what: str) -> list[object] | None:
    """``value`` when it is a list of at most ``limit`` items; else its problem (a list of
    ``what``) appended to ``errors`` and None."""
    if not isinstance(value, list):
        errors.append((path, f"must be a list of {what}"))
        return None
    if len(value) > limit:
        errors.append((path, f"must hold at most {limit} {what}"))
        return None
    return value
