"""Matching for a site: its rule sets stored (validated whole before a write, so a failed
write stores nothing) and the ranking of its representatives for one visitor, built from the
visitor's stored state and the reps' profiles, presence and chats (backend/core/matching.py
decides; this module only gathers the facts).

The visitor's language is the one their browser prefers (else the page's ``<html lang>``):
the person's, not the site's. Their area is the one ``Beckon.identify({area})`` gave. Reps'
accreditations are those current now (domain/accreditations.py; an expired one counts for
nothing at once); past results are theirs under the chosen rule set (domain/ratings.py);
the time since their last chat is from the last one they accepted or took over (stored by
lua/claim.lua and lua/transfer.lua). What is not known yet reads as unknown, never guessed:
the customer's account owner (records come later).

Per worker, what every decision would otherwise read again is kept while it holds: the parsed
rule sets by their stored text, the reps' profiles by the reps' version, who is off duty by
(version, minute).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

import redis.asyncio as aioredis

from backend.core import matching as core
from backend.core import offer_pools
from backend.core.matching import RepFacts, RuleSets, SessionFacts
from backend.core.offer_pools import Pools
from backend.core.validation import ValidationError, split_url
from backend.domain.ratings import results
from backend.domain.accreditations import Accreditations
from backend.domain.reps import Rep, Reps, Workload
from backend.domain.sites import Site
from backend.domain.visitors import Visitors
from backend.store import keys
from backend.store.keys import ProfileHash as P


CACHED_SITES = 1000  # sites whose parsed rule sets and off-duty reps a worker keeps


class MatchingError(ValidationError):
    """Rule sets failed validation."""


@dataclass(frozen=True)
class Match:
    """Why a visitor's request would go where it goes: the facts read, the rule set chosen, the
    ranking."""

    visitor: str
    session: SessionFacts
    ranking: core.Ranking

    def as_json(self) -> dict[str, Any]:
        return {"visitor": self.visitor, "session": vars(self.session), **self.ranking.as_json()}


def session_facts(site: Site, rule_sets: RuleSets, detail: dict[str, Any]) -> SessionFacts:
    """The session as matching sees it, from ``Visitors.detail``. The product and category
    come from the site's page map; a customer counts as identified when the site trusts the
    identity (signed, where the site requires signatures)."""
    parts = split_url(detail.get("url", ""))
    path = (parts.path if parts else "") or "/"
    page = core.page_of(rule_sets, path)
    prof: dict[str, str] = detail.get("profile") or {}
    pid, email = site.claimed(prof)
    customer = pid or email
    return SessionFacts(
        service_point=detail.get("service_point", ""), path=path,
        category=page.category if page else "", product=page.product if page else "",
        cart_value=float(detail.get("cart_value", 0.0)), customer=customer,
        language=detail.get("language", ""), area=prof.get(P.AREA, ""),
        flagged=bool(detail.get("flagged")), first_visit=int(detail.get("visits", 0)) == 0,
    )


def rep_facts(rep: Rep, work: Workload, now_ms: int, by_set: dict[str, core.Results] | None = None) -> RepFacts:
    """``by_set``: the rep's results per rule set name (only the chosen one is read)."""
    since = None if work.last_accepted_ms is None else max(0, now_ms - work.last_accepted_ms) / 1000
    return RepFacts(id=rep.id, name=rep.name, profile=rep.profile, active=rep.active, status=rep.status,
                    load=work.chats, since_last_chat_s=since, results=by_set or {})


class Matching:
    def __init__(self, redis: aioredis.Redis, reps: Reps, visitors: Visitors,
                 accreditations: Accreditations) -> None:
        self.redis = redis
        self.reps = reps
        self.visitors = visitors
        self.accreditations = accreditations
        # Per worker, what every routing decision would otherwise read and parse again: a
        # site's rule sets by their stored text, and who is off duty by (reps' version, minute)
        # (schedules name whole minutes, so the answer holds for the minute).
        self._parsed: dict[str, tuple[str, RuleSets]] = {}
        self._off_duty: dict[str, tuple[tuple[int, int], list[str]]] = {}
        self._rosters: dict[str, tuple[int, list[RepFacts]]] = {}

    async def roster(self, site: str) -> list[RepFacts]:
        """The reps' profiles and accounts as matching reads them (no load, presence or
        accreditations: those change by the second), kept while the reps' version stands."""
        version = await self.reps.version(site)
        cached = self._rosters.get(site)
        if cached and cached[0] == version:
            return cached[1]
        now_ms = int(time.time() * 1000)
        found = [rep_facts(r, Workload(0, None), now_ms) for r in await self.reps.list(site)]
        if len(self._rosters) >= CACHED_SITES:
            self._rosters.clear()
        self._rosters[site] = (version, found)
        return found

    async def rule_sets(self, site: str) -> RuleSets:
        raw = await self.redis.get(keys.matching(site)) or ""
        cached = self._parsed.get(site)
        if cached and cached[0] == raw:
            return cached[1]
        try:
            found = core.read_rule_sets(json.loads(raw) if raw else None)
        except ValueError:
            found = core.NONE
        if len(self._parsed) >= CACHED_SITES:
            self._parsed.clear()
        self._parsed[site] = (raw, found)
        return found

    async def set_rule_sets(self, site: str, data: object) -> RuleSets:
        """Stores the whole document, or nothing: MatchingError lists every problem."""
        found = core.validate_rule_sets(data)
        if isinstance(found, list):
            raise MatchingError(found)
        await self.redis.set(keys.matching(site), json.dumps(found.as_json()))
        return found

    async def chosen(self, site: Site, vid: str) -> tuple[core.RuleSet, SessionFacts] | None:
        """The rule set for a visitor's session, and the session as matching reads it; None
        when the site has no rule sets (everyone may answer, as before matching)."""
        rule_sets = await self.rule_sets(site.key)
        if not rule_sets.sets:
            return None
        detail = (await self.visitors.states(site.key, [vid])).get(vid)
        session = session_facts(site, rule_sets, detail) if detail else SessionFacts()
        return core.choose_rule_set(rule_sets, session), session

    async def off_duty(self, site: str) -> list[str]:
        """The reps outside their working hours now: the schedule check Lua cannot do."""
        now = datetime.now(timezone.utc)
        stamp = (await self.reps.version(site), int(now.timestamp() // 60))
        cached = self._off_duty.get(site)
        if cached and cached[0] == stamp:
            return cached[1]
        found = [r.id for r in await self.roster(site) if r.profile.schedule is not None
                 and not core.on_schedule(r.profile, now)]
        if len(self._off_duty) >= CACHED_SITES:
            self._off_duty.clear()
        self._off_duty[site] = (stamp, found)
        return found

    async def match(self, site: Site, vid: str) -> Match | None:
        """The ranking for a visitor now; None when the visit is unknown or expired."""
        detail = await self.visitors.detail(site.key, vid)
        if detail is None:
            return None
        rule_sets = await self.rule_sets(site.key)
        session = session_facts(site, rule_sets, detail)
        reps = await self.reps.list(site.key)
        work = await self.reps.workload(site.key, [r.id for r in reps])
        now = datetime.now(timezone.utc)
        now_ms = int(time.time() * 1000)
        chosen = core.choose_rule_set(rule_sets, session)
        done = await results(self.redis, site.key, chosen.name, [r.id for r in reps])
        facts = [rep_facts(r, work[r.id], now_ms, {chosen.name: done[r.id]}) for r in reps]
        held = await self.accreditations.held(site.key, [r.id for r in reps], now_ms)  # expired: not held
        facts = [replace(f, accreditations=held.get(f.id, {})) for f in facts]
        return Match(vid, session, core.rank(chosen, session, facts, now))

    async def pools(self, site: Site, vids: list[str]) -> Pools | None:
        """Which reps may answer each of these visitors (their rule set's hard filters), for
        the offer broker; None on a site without rule sets (anyone may answer anyone)."""
        rule_sets = await self.rule_sets(site.key)
        if not rule_sets.sets:
            return None
        states = await self.visitors.states(site.key, vids)
        now_ms = int(time.time() * 1000)
        facts = await self.roster(site.key)
        if any("accredited" in rs.filters for rs in rule_sets.sets):
            held = await self.accreditations.held(site.key, [f.id for f in facts], now_ms)
            facts = [replace(f, accreditations=held.get(f.id, {})) for f in facts]
        chosen = {}
        for vid, detail in states.items():
            session = session_facts(site, rule_sets, detail)
            chosen[vid] = (core.choose_rule_set(rule_sets, session), session)
        return offer_pools.pools(chosen, facts, datetime.now(timezone.utc))
