"""Dispatch: which of the ranked representatives see a chat request, and when it widens.

A request is dispatched in stages by its rule set's mode (``core.matching.Dispatch``):

- ``best``: stage 0 offers it to the top-ranked rep, each later stage to ``widen_by`` more,
  until every eligible rep has it;
- ``top_n``: stage 0 to the top ``n``, stage 1 to every eligible rep;
- ``all``: every eligible rep at once.

Each stage ranks again from the facts of the moment (``core.matching.rank``), so a rep who
went away drops out and one who came online joins. Who had the request keeps it while still
eligible (the targets only widen). The next stage is due ``escalate_after_s`` later; once
every eligible rep has it nothing is due, except for a request nobody eligible can take yet
or one that must be contacted (marked by a person, or by its rule set's dispatch): those are
ranked again every ``escalate_after_s`` until someone accepts.

``backend/store/lua/dispatch.lua`` decides the same way in Redis (with ``lua/lib/rank.lua``
for the ranking), held equal to this module by tests/test_dispatch_twin.py. ``spec`` is what
Python hands the script: the chosen rule set and the session facts ranking reads, in plain
JSON (what Lua cannot do, choosing the rule set and reading schedules, is done before).

Pure: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from backend.core.matching import RULES, Dispatch, Ranked, Ranking, RuleSet, SessionFacts

TOP = 3  # contributions shown to a rep to say why a request came to them
WHY_MAX = 50  # targets told why (dispatch.lua keeps the same number)


@dataclass(frozen=True)
class Step:
    targets: tuple[str, ...]  # who may see and accept the request now, best first
    final: bool  # every eligible rep has it
    escalate_at_ms: int | None  # when to widen (or rank again); None: never


def offered(ranked: list[str], d: Dispatch, stage: int) -> tuple[list[str], bool]:
    """The reps a stage offers the request to, best first, and whether that is all of them."""
    n = len(ranked)
    if d.mode == "all":
        count = n
    elif d.mode == "top_n":
        count = d.n if stage == 0 else n
    else:
        count = 1 + stage * d.widen_by
    count = min(count, n)
    return ranked[:count], count >= n


def step(ranked: list[str], d: Dispatch, stage: int, previous: tuple[str, ...], must_contact: bool,
         now_ms: int) -> Step:
    """Stage ``stage`` for a request whose eligible reps rank ``ranked`` (best first) and
    which ``previous`` reps had: the chosen ones plus those of ``previous`` still eligible."""
    chosen, final = offered(ranked, d, stage)
    keep = set(chosen) | set(previous)
    targets = tuple(r for r in ranked if r in keep)
    again = not final or must_contact or d.must_contact or not ranked
    return Step(targets, final, math.floor(now_ms + d.escalate_after_s * 1000) if again else None)


def top(r: Ranked, k: int = TOP) -> list[tuple[str, float]]:
    """A ranked rep's largest contributions (above 0), largest first, ties in ``RULES`` order."""
    parts = [c for c in r.contributions if c.contribution > 0]
    parts.sort(key=lambda c: (-c.contribution, RULES.index(c.rule)))
    return [(c.rule, c.contribution) for c in parts[:k]]


def why(ranking: Ranking, targets: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """For the first ``WHY_MAX`` targets (best first): their score and top contributions, as
    the console shows them. Past those (a request offered to every one of hundreds of reps)
    the console names the rule set without a score: writing hundreds of reasons into every
    request cost more than the ranking."""
    by_id = {r.rep: r for r in ranking.ranked}
    return {rid: {"score": by_id[rid].score, "top": [list(t) for t in top(by_id[rid])]}
            for rid in [t for t in targets if t in by_id][:WHY_MAX]}


def spec(rule_set: RuleSet, session: SessionFacts) -> dict[str, Any]:
    """The rule set and session facts as dispatch.lua reads them (plain JSON)."""
    d = rule_set.dispatch
    return {
        "name": rule_set.name,
        "filters": {f: True for f in rule_set.filters},
        "rules": [[name, r.weight, r.horizon_s, r.prior_rate, r.prior_chats]
                  for name, r in ((n, rule_set.rules.get(n)) for n in RULES) if r is not None],
        "dispatch": {"mode": d.mode, "n": d.n, "widen_by": d.widen_by, "escalate_after_s": d.escalate_after_s,
                     "must_contact": d.must_contact},
        "session": {"product": session.product, "language": session.language, "area": session.area,
                    "account_owner": session.account_owner},
    }


def dispatch_of(data: dict[str, Any]) -> Dispatch:
    d = data["dispatch"]
    return Dispatch(d["mode"], int(d["n"]), int(d["widen_by"]), float(d["escalate_after_s"]),
                    bool(d.get("must_contact", False)))
