"""The one strict JSON decoder for everything a client sends (request bodies, socket frames,
the rule-set editor).

``json.loads`` alone lets through what breaks code further on: bytes in CESU-8 or UTF-16
(it guesses the encoding), lone surrogates such as ``"\\ud800"`` (Redis' Lua decoder, the
UTF-8 encoder and the mail encoder all raise on them), ``NaN`` and ``Infinity``, integers of
hundreds of digits (``OverflowError`` once compared with a float) and nesting deep enough for
a ``RecursionError``. Here each is refused with a message saying what was wrong.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal, DecimalException
from typing import Any

from backend.core.validation import LONE_SURROGATE

MAX_DEPTH = 20  # nothing Beckon reads nests deeper than 4
MAX_INT_DIGITS = 20  # a millisecond timestamp has 13; beyond 20 it is no count of anything
MAX_DECIMAL_CHARS = 40

# A \u escape of a surrogate in the JSON text: only then can a parsed string hold a lone one
# (a text decoded as strict UTF-8 has none of its own).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE = "holds a lone UTF-16 surrogate (such as \\ud800), which is not text"


class JSONInputError(ValueError):
    """The input is not JSON Beckon accepts; the message says why, for the sender."""


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise JSONInputError(f"a number has more than {MAX_INT_DIGITS} digits")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONInputError(f"the number {text[:30]}{'...' if len(text) > 30 else ''} is too large")
    return value


def _decimal(text: str) -> Decimal:
    """For money: the number as written, never through a float."""
    if len(text) > MAX_DECIMAL_CHARS:
        raise JSONInputError(f"a number is longer than {MAX_DECIMAL_CHARS} characters")
    try:
        value = Decimal(text)
    except DecimalException:  # an exponent past what Decimal holds
        raise JSONInputError(f"the number {text} is too large") from None
    if not value.is_finite() or abs(value.adjusted()) > 1000:
        raise JSONInputError(f"the number {text} is too large or too small")
    return value


def _constant(name: str) -> Any:
    raise JSONInputError(f"{name} is not a JSON number")


_decoder = json.JSONDecoder(parse_int=_int, parse_float=_float, parse_constant=_constant)
_decimal_decoder = json.JSONDecoder(parse_int=_int, parse_float=_decimal, parse_constant=_constant)


def _check(data: Any, strings: bool) -> None:
    """Nesting depth, and (when the text had surrogate escapes) lone surrogates in keys and
    strings. Iterative, so a deep input cannot exhaust the stack here either."""
    stack: list[tuple[Any, int]] = [([data], 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise JSONInputError(f"nested deeper than {MAX_DEPTH} levels")
        items = node.items() if isinstance(node, dict) else ((None, v) for v in node)
        for key, value in items:
            if strings and key is not None and LONE_SURROGATE.search(key):
                raise JSONInputError(f"a key {_LONE}")
            if isinstance(value, (dict, list)):
                stack.append((value, depth + 1))
            elif strings and isinstance(value, str) and LONE_SURROGATE.search(value):
                raise JSONInputError(f"a string {_LONE}")


def loads(body: bytes | str, decimals: bool = False) -> Any:
    """Decode ``body`` (bytes: strict UTF-8, an optional byte-order mark) or raise
    JSONInputError. With ``decimals``, numbers with a fraction or exponent are ``Decimal``."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        raw = bytes(body)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = f"byte 0x{raw[exc.start]:02x} at offset {exc.start}"
            raise JSONInputError(f"it is not valid UTF-8 ({bad})") from None
        if text.startswith("\ufeff"):
            text = text[1:]
    else:
        text = body
        found = LONE_SURROGATE.search(text)
        if found:
            raise JSONInputError(f"it is not valid Unicode (a lone surrogate at offset {found.start()})")
    try:
        data = (_decimal_decoder if decimals else _decoder).decode(text)
    except JSONInputError:
        raise
    except RecursionError:
        raise JSONInputError(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise JSONInputError(str(exc)) from None
    _check(data, bool(_SURROGATE_ESCAPE.search(text)))
    return data
