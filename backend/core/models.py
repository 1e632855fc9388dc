"""The shapes the domain hands around: typed, immutable, with no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Offer:
    """An offer a visitor holds: HELP (``help``) or "leave a message" (``message``)."""

    id: str
    kind: str
    variant: str
    short: bool
    deadline_ms: int


@dataclass(frozen=True)
class OfferMade:
    visitor: str
    offer: Offer


@dataclass(frozen=True)
class Scored:
    """What one batch of events did to a visitor: the score, its reasons, and what the page
    needs back (a pending offer; whether a live connection is worth opening)."""

    score: float
    needs: bool
    newly: bool  # just started needing help: the broker should look at once
    watch: bool
    offer: Offer | None
    reasons: list[dict[str, Any]]
    token: str | None = None  # the visitor's token, for a page that holds it or is the first
    chat: str | None = None  # the visitor's open chat request, whose representative watches them


@dataclass(frozen=True)
class Slots:
    """Chat slots of a site's available representatives and what takes them."""

    capacity: int
    chats: int
    offers: int
    pending: int

    @property
    def in_use(self) -> int:
        return self.chats + self.offers + self.pending


@dataclass(frozen=True)
class Callback:
    phone: str
    when: str


@dataclass(frozen=True)
class Chat:
    """A chat request and then the chat: waiting -> active -> ended."""

    id: str
    visitor: str
    status: str
    created: int
    score: float = 0.0
    reasons: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    rep: str = ""
    rep_name: str = ""
    targets: tuple[str, ...] | None = None  # None: every representative; (): nobody yet
    must_contact: bool = False
    accepted: int = 0
    ended: int = 0
    ended_by: str = ""
    callback: Callback | None = None
    rule_set: str = ""  # the matching rule set that dispatched it ("": not ranked)
    why: dict[str, dict[str, Any]] = field(default_factory=dict)  # rep id -> {score, top}
    resolved: bool = False  # the rep marked it resolved (core/results.py)

    def visible_to(self, rid: str) -> bool:
        return self.targets is None or rid in self.targets


@dataclass(frozen=True)
class Parties:
    """Just who is in a chat: what every message needs, read in one command."""

    id: str
    visitor: str
    rep: str
    status: str
