"""Routing: which representatives see a chat request, and how that widens (core/dispatch.py
decides; lua/dispatch.lua ranks and writes the targets atomically, one call per decision).

A site without matching rule sets keeps the old way: every rep sees every request. With rule
sets, a new request is offered to nobody until ``route`` ranked the site's reps by the rule
set chosen for the visitor's session; then the offer ticker widens it when its escalation
time passes (``escalate``), a targeted rep going away or offline widens it at once
(``rep_left``), and a rep coming online is considered at once (``rep_arrived``). Each change
of targets refreshes the consoles' queues. ``look_after`` mends what a failure left (a request
offered to nobody) and alerts the admins when a must-contact request waits too long.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone

from backend.core import dispatch
from backend.core.matching import Dispatch
from backend.core.rep_profile import on_schedule
from backend.core.models import Chat
from backend.domain.chat import Chats
from backend.domain.jobs import Jobs
from backend.domain.matching import Matching
from backend.domain.reps import PRESENCE_TIMEOUT_S
from backend.domain.sites import Sites
from backend.store import Client, keys
from backend.store.scripts import Dispatched, Refused, Scripts

log = logging.getLogger("beckon.routing")

ESCALATIONS_PER_TICK = 100  # requests widened per site and tick at most
# A request still offered to nobody this long after it was made: its route failed (Redis
# went away between making it and ranking it); the ticker routes it again.
REROUTE_AFTER_MS = 2_000
ADMINS_ALERTED_MAX = 20


def now_ms() -> int:
    return int(time.time() * 1000)


class Routing:
    def __init__(self, redis: Client, scripts: Scripts, sites: Sites, matching: Matching, chats: Chats,
                 jobs: Jobs | None = None, console_url: str = "") -> None:
        self.redis = redis
        self.scripts = scripts
        self.sites = sites
        self.matching = matching
        self.chats = chats
        self.jobs = jobs  # alerts to the site's admins
        self.console_url = console_url

    async def initial_targets(self, site: str) -> str:
        """Whom a new request is offered to before ``route``: everyone on a site without rule
        sets, nobody on one with them (so no rep outside the ranking can take it meanwhile)."""
        return "[]" if (await self.matching.rule_sets(site)).sets else "*"

    async def _run(self, site: str, req_id: str, action: str, off_duty: list[str], spec: str = "",
                   rid: str = "") -> Dispatched | None:
        try:
            return await self.scripts.dispatch(site, req_id, action, now_ms(), PRESENCE_TIMEOUT_S * 1000, off_duty,
                                               spec, rid)
        except Refused:  # taken, ended, not ranked, or widened meanwhile by another worker
            return None

    async def route(self, site_key: str, req_id: str, vid: str, initial: str) -> Dispatched | None:
        """Rank the site's reps for a new request (created offered to ``initial``) and offer
        it per the rule set's dispatch."""
        site = await self.sites.get(site_key)
        chosen = await self.matching.chosen(site, vid) if site else None
        if chosen is None:  # no rule sets (or none any more): everyone sees it, as before matching
            if initial != "*":
                await self.chats.target(site_key, req_id, None)
            return None
        return await self._run(site_key, req_id, "route", await self.matching.off_duty(site_key),
                               json.dumps(dispatch.spec(*chosen)))

    async def escalate(self, site: str) -> int:
        """Widen the site's requests whose escalation time passed; how many changed."""
        due = await self.redis.zrangebyscore(keys.escalations(site), "-inf", now_ms(), start=0,
                                             num=ESCALATIONS_PER_TICK)
        if not due:
            return 0
        off_duty = await self.matching.off_duty(site)
        changed = 0
        for req_id in due:
            done = await self._run(site, req_id, "escalate", off_duty)
            changed += bool(done and done.changed)
        if changed:
            await self.chats.announce(site)
        return changed

    async def look_after(self, site: str) -> tuple[int, int]:
        """Each tick: route again the requests a failed ``route`` left offered to nobody, and
        alert the site's admins (once per request) about must-contact requests nobody
        accepted within the site's limit. How many of each."""
        waiting = await self.chats.waiting(site)
        now = now_ms()
        unrouted = [c for c in waiting if c.targets == () and not c.rule_set and now - c.created >= REROUTE_AFTER_MS]
        for chat in unrouted:
            await self.route(site, chat.id, chat.visitor, "[]")
        cfg = await self.sites.offer_settings(site)
        limit_ms = int((cfg.must_contact_alert_s if cfg else 120) * 1000)
        alerted = 0
        for chat in waiting:
            if chat.must_contact and now - chat.created >= limit_ms and await self.chats.claim_alert(site, chat.id):
                alerted += 1
                await self._alert(site, chat, now - chat.created)
        if waiting:
            await self._rep_alerts(site, waiting, now)
        return len(unrouted), alerted

    async def _rep_alerts(self, site: str, waiting: list[Chat], now: int) -> None:
        """Reps who chose "e-mail me when a request waits more than N s" (their profile's
        alerts) get one mail per request that waits that long for them: offered to them (or
        to everyone) while they are on duty."""
        wanting = [r for r in await self.matching.roster(site) if r.active and "email" in r.profile.alerts.channels
                   and r.profile.alerts.email_after_s is not None]
        if not wanting or self.jobs is None:
            return
        found = await self.sites.get(site)
        at = datetime.now(timezone.utc)
        for chat in waiting:
            for rep in wanting:
                due = now - chat.created >= (rep.profile.alerts.email_after_s or 0) * 1000
                if due and chat.visible_to(rep.id) and on_schedule(rep.profile, at) \
                        and await self.chats.claim_rep_alert(site, chat.id, rep.id):
                    account = await self.matching.reps.get(site, rep.id)
                    if account and found:
                        try:
                            await self.jobs.request_waiting(site, found.name, account.email, account.name,
                                                            (now - chat.created) // 1000, chat.url, self.console_url)
                        except Exception:  # noqa: BLE001 - the queue is down: the others may still be told
                            log.exception("could not queue a rep's waiting-request alert")

    async def _alert(self, site: str, chat: Chat, waited_ms: int) -> None:
        found = await self.sites.get(site)
        if self.jobs is None or found is None:
            return
        visitor = await self.matching.visitors.detail(site, chat.visitor) or {"visitor": chat.visitor}
        admins = [r.email for r in await self.matching.reps.list(site) if r.is_admin and r.active]
        for to in admins[:ADMINS_ALERTED_MAX]:
            try:
                await self.jobs.unanswered(site, found.name, to, waited_ms // 1000, chat.rule_set, visitor,
                                           self.console_url)
            except Exception:  # noqa: BLE001 - the queue is down: the next admin may still be told
                log.exception("could not queue the must-contact alert")

    async def _ranked_waiting(self, site: str) -> list[Chat]:
        return [c for c in await self.chats.waiting(site) if c.rule_set]

    async def rep_left(self, site: str, rid: str) -> int:
        """A rep went away or offline: each ranked request offered to them widens at once."""
        mine = [c for c in await self._ranked_waiting(site) if c.targets and rid in c.targets]
        if not mine:
            return 0
        off_duty = await self.matching.off_duty(site)
        changed = 0
        for chat in mine:
            done = await self._run(site, chat.id, "left", off_duty, rid=rid)
            changed += bool(done and done.changed)
        if changed:
            await self.chats.announce(site)
        return changed

    async def rep_arrived(self, site: str) -> int:
        """A rep came online: ranked requests are ranked again at their stage, so one that
        every eligible rep should see (or that nobody could take) reaches them too."""
        waiting = await self._ranked_waiting(site)
        if not waiting:
            return 0
        off_duty = await self.matching.off_duty(site)
        changed = 0
        for chat in waiting:
            done = await self._run(site, chat.id, "refresh", off_duty)
            changed += bool(done and done.changed)
        if changed:
            await self.chats.announce(site)
        return changed

    async def target(self, site: str, chat_id: str, rids: list[str] | None, must_contact: bool) -> None:
        """A person offers a request to chosen reps (None: everyone). That choice stands, unless
        the request must be contacted: then a ranked request keeps escalating from there."""
        chat = await self.chats.target(site, chat_id, rids, must_contact, keep_dispatch=must_contact)
        if must_contact and chat.rule_set:  # ranked again within the default escalation time at most
            due = now_ms() + int(Dispatch().escalate_after_s * 1000)
            await self.redis.zadd(keys.escalations(site), {chat_id: due}, lt=True)
        else:
            await self.redis.zrem(keys.escalations(site), chat_id)
