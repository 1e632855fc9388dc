"""A chat's result: the customer's rating, the rep's "resolved" mark, and what each does to
the rep's results under the rule set that routed the chat (what matching's ``results`` rule
reads: ``core.matching.Results``).

Until sales are recorded, a chat counts as a success when the customer rates it 4-5 or the
rep marks it resolved, whichever comes first, and at most once. A chat counts in its rep's
results (``chats`` + 1) when it ends, and only if a rule set routed it; a success counts only
for an ended chat, so successes never run ahead of chats (a rep may mark a chat resolved
while it is still going; it counts at the end).

The customer rates once, within ``WINDOW_S`` of the end; the rep marks resolved once, while
the chat goes on or within ``WINDOW_S`` of its end.

``backend/store/lua/outcome.lua`` (rate, resolve) and ``end_chat.lua`` (the end) decide the
same way in Redis, with ``lua/lib/results.lua``; tests/test_results_twin.py holds them equal.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.core.validation import is_text

STARS_MIN, STARS_MAX = 1, 5
GOOD = 4  # a rating from here up counts as a success
COMMENT_MAX = 500
WINDOW_S = 3600  # how long after the end a chat may be rated (or marked resolved)

REFUSALS = {
    "gone": "this chat no longer exists",
    "not-ended": "a chat can be rated once it has ended",
    "no-rep": "nobody answered this request, so there is nothing to rate",
    "rated": "this chat has already been rated; thank you",
    "late": "this chat ended too long ago to be rated",
    "not-yours": "this chat is not yours",
    "resolved": "this chat is already marked resolved",
    "too-late": "this chat ended too long ago to be marked resolved",
}


@dataclass(frozen=True)
class Stored:
    """What the chat's hash holds that these decisions read."""

    status: str = ""  # "": no such chat; waiting | active | ended
    visitor: str = ""
    rep: str = ""
    rule_set: str = ""  # "": no rule set routed it
    ended_ms: int = 0
    rating: int = 0  # 0: not rated
    resolved: bool = False
    counted: bool = False  # its success was counted already


@dataclass(frozen=True)
class Decision:
    error: str = ""  # a code of REFUSALS; "": done
    chat: bool = False  # count one more chat in the rep's results
    success: bool = False  # count one more success in the rep's results


def rating_problem(stars: object, comment: object) -> str:
    """Why a rating cannot be taken as sent; "" when it can. Never raises."""
    if isinstance(stars, bool) or not isinstance(stars, int) or not STARS_MIN <= stars <= STARS_MAX:
        return f"the rating must be a whole number of stars from {STARS_MIN} to {STARS_MAX}"
    if comment is not None and not isinstance(comment, str):
        return "the comment must be text"
    if isinstance(comment, str) and (len(comment) > COMMENT_MAX or not is_text(comment)):
        return f"the comment must be text of at most {COMMENT_MAX} characters"
    return ""


def clean_comment(comment: object) -> str:
    """The comment as stored: trimmed, control characters (but new lines) dropped."""
    if not isinstance(comment, str):
        return ""
    return "".join(c for c in comment if c.isprintable() or c == "\n").strip()


def success_due(s: Stored, rating: int, resolved: bool) -> bool:
    """After a change, whether the chat counts as a success now (once, and only ended)."""
    return s.status == "ended" and s.rep != "" and s.rule_set != "" and not s.counted and \
        (rating >= GOOD or resolved)


def rate(s: Stored, visitor: str, stars: int, now_ms: int, window_ms: int) -> Decision:
    """The customer rates the chat (``stars`` already checked by ``rating_problem``)."""
    if s.status == "" or s.visitor != visitor:
        return Decision("gone")
    if s.status != "ended":
        return Decision("not-ended")
    if s.rep == "":
        return Decision("no-rep")
    if s.rating:
        return Decision("rated")
    if now_ms - s.ended_ms > window_ms:
        return Decision("late")
    return Decision(success=success_due(s, stars, s.resolved))


def resolve(s: Stored, rep: str, now_ms: int, window_ms: int) -> Decision:
    """The chat's rep marks it resolved."""
    if s.status == "":
        return Decision("gone")
    if s.rep != rep:
        return Decision("not-yours")
    if s.resolved:
        return Decision("resolved")
    if s.status == "ended" and now_ms - s.ended_ms > window_ms:
        return Decision("too-late")
    return Decision(success=success_due(s, s.rating, True))


def end(s: Stored) -> Decision:
    """The chat ends: one more chat for its rep, and the success of a chat marked resolved
    while it went on. (Refusals of the end itself are end_chat.lua's.)"""
    if s.status != "active" or s.rule_set == "":
        return Decision()
    return Decision(chat=True, success=success_due(Stored(**{**vars(s), "status": "ended"}), s.rating, s.resolved))
