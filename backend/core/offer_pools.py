"""Availability per customer: help is offered only when a representative who may take this
visitor's request is free, or will be within the acceptable wait.

On a site with matching rule sets, each visitor's rule set has hard filters (language,
accreditation, schedule), so the reps who could answer differ from visitor to visitor. The
broker therefore counts slots per *pool*: the reps who pass one visitor's hard filters
(visitors with the same reps share a pool). A pool's wait is ``policy.estimate_wait`` over
its reps' free slots, less the offers and requests already out to visitors whose pool shares
a rep with it. Sharing is counted in full, so two overlapping pools never both spend one
rep's last slot: the count errs towards waiting, never towards an offer nobody can answer.

``pools`` (which reps qualify for whom) is decided in Python, where the rule set is chosen;
``plan`` is the reservation ``lua/broker.lua`` makes atomically, its twin held equal by
tests/test_broker_twin.py. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from backend.core.matching import RepFacts, RuleSet, SessionFacts, on_duty, reasons
from backend.core.policy import estimate_wait

# What makes a rep unable to take a visitor whatever the moment: the hard filters and a
# deactivated account. Presence, status and load change by the second and are counted in Redis.
LASTING = frozenset({"inactive", "on_schedule", "language", "accredited"})


def qualified(rule_set: RuleSet, session: SessionFacts, rep: RepFacts, now: datetime) -> bool:
    """Whether the rep passes this visitor's hard filters (available or not): the definition
    ``pools`` follows one kind of session at a time."""
    return not any(r.filter in LASTING for r in reasons(rule_set, session, rep, on_duty(rep, now)))


@dataclass(frozen=True)
class Pools:
    members: tuple[tuple[str, ...], ...] = ()  # each pool's rep ids, sorted
    of: dict[str, int] = field(default_factory=dict)  # visitor -> pool index

    def overlap(self) -> list[list[int]]:
        """For each pool, the pools sharing at least one rep with it (itself included when
        it has reps), in index order."""
        sets = [set(m) for m in self.members]
        return [[j for j, other in enumerate(sets) if mine & other] for mine in sets]

    def as_json(self) -> dict[str, Any]:
        """As broker.lua reads it (pool indexes from 1, as Lua counts)."""
        return {"members": [list(m) for m in self.members], "of": {v: p + 1 for v, p in self.of.items()},
                "overlap": [[j + 1 for j in row] for row in self.overlap()]}


def _primary(tag: str) -> str:
    return tag.split("-")[0].lower()


def _filtered_by(rule_set: RuleSet, session: SessionFacts) -> tuple[Any, ...]:
    """What of a session the hard filters read: sessions alike in it have the same pool."""
    return (rule_set.name, rule_set.filters,
            _primary(session.language) if "language" in rule_set.filters else "",
            session.product if "accredited" in rule_set.filters else "")


def pools(chosen: dict[str, tuple[RuleSet, SessionFacts]], reps: list[RepFacts], now: datetime) -> Pools:
    """Each visitor's pool: the reps who pass the hard filters of their rule set. Each kind of
    session is checked against the reps once (200 visitors are a few kinds, not 200)."""
    active = sorted((r for r in reps if r.active), key=lambda r: r.id)
    duty = {r.id: on_duty(r, now) for r in active}
    speaks = {r.id: {_primary(t) for t in r.profile.languages} for r in active}
    by_kind: dict[tuple[Any, ...], tuple[str, ...]] = {}
    index: dict[tuple[str, ...], int] = {}
    of: dict[str, int] = {}
    for vid, (rule_set, session) in sorted(chosen.items()):
        kind = _filtered_by(rule_set, session)
        if kind not in by_kind:  # qualified(), with what it reads of each rep worked out once
            _, filters, language, product = kind
            by_kind[kind] = tuple(
                r.id for r in active
                if ("on_schedule" not in filters or duty[r.id])
                and (not language or language in speaks[r.id])
                and (not product or r.accreditations.get(product, 0) >= 1))
        of[vid] = index.setdefault(by_kind[kind], len(index))
        # a visitor whose pool is empty is never offered help: nobody may answer them
    return Pools(tuple(sorted(index, key=index.__getitem__)), of)


@dataclass(frozen=True)
class Slot:
    """An available representative's chat slots (present, status available)."""

    capacity: int
    load: int


@dataclass(frozen=True)
class Planned:
    vid: str
    kind: str  # help | message
    wait: float  # the estimated wait, s (-1: none)


def plan(slots: dict[str, Slot], p: Pools, holding: list[str], candidates: list[str], aht_s: float,
         acceptable_s: float, leave_message: bool) -> list[Planned]:
    """The offers to make, in candidate order: help where the visitor's pool can answer
    within the acceptable wait, else "leave a message" where the site takes messages.
    ``holding`` lists the visitors who hold an offer or a waiting request now (one slot
    each); one whose pool is not known counts against every pool. A candidate without a
    pool is left for the next run."""
    overlap = p.overlap()
    capacity = [sum(slots[r].capacity for r in m if r in slots) for m in p.members]
    used = [sum(slots[r].load for r in m if r in slots) for m in p.members]

    def take(pool: int | None) -> None:
        for q in (range(len(used)) if pool is None else overlap[pool]):
            used[q] += 1

    for vid in holding:
        take(p.of.get(vid))
    out: list[Planned] = []
    for vid in candidates:
        pool = p.of.get(vid)
        if pool is None:
            continue
        wait = estimate_wait(capacity[pool], used[pool], aht_s)
        if wait is not None and wait <= acceptable_s:
            out.append(Planned(vid, "help", wait))
            take(pool)
        elif leave_message:
            out.append(Planned(vid, "message", -1 if wait is None else wait))
    return out
