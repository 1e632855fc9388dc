"""Applications to become a site's representative: the public join form's submissions, the
background check an admin records, and the decision. An applicant is not a rep: they are in
no reps set, presence, capacity or login index, so nothing reaches customers or logs in until
approval turns the application into an active rep (``Reps.adopt``), once.

The join form answers the same whether or not the address is known (a rep or an applicant
already): it never tells a stranger who works for a site.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from backend.core.protocol import new_id
from backend.core.applications import (
    Application, BackgroundCheck, STATUSES, validate_check, validate_decision,
)
from backend.core.rep_profile import read_profile
from backend.core.validation import ValidationError
from backend.domain.jobs import Jobs
from backend.domain.passwords import hash_password
from backend.domain.reps import TAKEN, RepError, Reps, validate_rep
from backend.store import keys
from backend.store.keys import ApplicationHash as A

log = logging.getLogger("beckon.applications")

JOIN_WINDOW_S = 3600
JOIN_PER_ADDRESS = 10  # valid join forms from one address an hour, on any site
JOIN_PER_SITE = 60  # valid join forms to one site an hour, from anywhere
LISTED_MAX = 500  # the newest applications an admin's list shows
ADMINS_MAILED_MAX = 10
# What the join form asks; an admin sets capacity and skills after approval.
JOIN_FIELDS = ("name", "email", "password", "languages", "products", "areas", "schedule", "alerts")


class ApplicationError(ValidationError):
    """An application, its check or its decision failed validation."""


class TooMany(Exception):
    def __init__(self, retry_s: int) -> None:
        super().__init__(f"too many applications; retry in {retry_s} s")
        self.retry_s = retry_s


@dataclass(frozen=True)
class Admins:
    """Where to say an application waits: the site's name and its admins' addresses."""

    site_name: str
    emails: tuple[str, ...]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Applications:
    def __init__(self, redis: aioredis.Redis, reps: Reps, jobs: Jobs, public_url: str) -> None:
        self.redis = redis
        self.reps = reps
        self.jobs = jobs
        self.public_url = public_url

    async def attempt(self, site: str, ip: str) -> None:
        """Count one valid join form (atomically, before anything is stored, so parallel posts
        cannot all slip under the limit); TooMany when this address or site is over it."""
        hour = int(time.time() // JOIN_WINDOW_S)
        counters = (keys.join_attempts("ip:" + _digest(ip)), keys.join_attempts(f"site:{_digest(site)}:{hour}"))
        async with self.redis.pipeline(transaction=False) as pipe:  # two slots: no transaction
            for key in counters:
                pipe.incr(key)
                pipe.expire(key, JOIN_WINDOW_S, nx=True)
            pipe.ttl(counters[0])
            by_address, _, by_site, _, ttl = await pipe.execute()
        if by_address > JOIN_PER_ADDRESS:
            raise TooMany(max(1, int(ttl)))
        if by_site > JOIN_PER_SITE:
            raise TooMany(JOIN_WINDOW_S - int(time.time()) % JOIN_WINDOW_S)

    async def apply(self, site: str, data: dict[str, Any], admins: Admins, ip: str) -> Application | None:
        """Store a pending application; None (and nothing stored) when the address is a rep or
        an applicant of the site already. Raises ApplicationError on invalid fields, and
        TooMany when this address or site sent too many valid forms (counted after validation,
        which is cheap, and before the password is hashed, which is not)."""
        unknown = [(k, "not asked on this form") for k in data if k not in JOIN_FIELDS]
        try:
            clean = validate_rep({k: v for k, v in data.items() if k in JOIN_FIELDS})
        except RepError as exc:
            raise ApplicationError(unknown + exc.errors) from None
        if unknown:
            raise ApplicationError(unknown)
        account = clean.account
        await self.attempt(site, ip)
        password = await asyncio.to_thread(hash_password, account["password"])  # both ways: same time
        if await self.reps.email_taken(site, account["email"]):
            return None
        aid = new_id()
        if not await self.redis.hsetnx(keys.applicant_emails(site), account["email"], aid):
            return None
        now = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.application(site, aid), mapping={
                A.NAME: account["name"], A.EMAIL: account["email"], A.PASSWORD: password,
                A.PROFILE: json.dumps(clean.profile.as_json()), A.STATUS: "pending", A.CREATED: now,
                A.CHECK_STATUS: "not_started", A.CHECK_DATE: "", A.CHECK_NOTE: "", A.NOTE: "",
            })
            pipe.zadd(keys.applications(site), {aid: now})
            await pipe.execute()
        url = f"{self.public_url}/console/admin/applications/{aid}"
        for to in admins.emails[:ADMINS_MAILED_MAX]:
            with contextlib.suppress(Exception):  # the application is stored; a lost notice is not fatal
                await self.jobs.application_waiting(site, admins.site_name, to, account["name"], url)
        app = await self.get(site, aid)
        assert app is not None
        return app

    async def get(self, site: str, aid: str) -> Application | None:
        raw = await self.redis.hgetall(keys.application(site, aid))
        return self._application(site, aid, raw) if raw else None

    @staticmethod
    def _application(site: str, aid: str, raw: dict[str, str]) -> Application:
        try:
            profile = read_profile(json.loads(raw.get(A.PROFILE, "{}")))
        except ValueError:
            profile = read_profile({})
        decided = raw.get(A.DECIDED)
        return Application(
            id=aid, site=site, name=raw.get(A.NAME, ""), email=raw.get(A.EMAIL, ""),
            status=raw.get(A.STATUS, "pending") if raw.get(A.STATUS) in STATUSES else "pending",
            created_ms=int(raw.get(A.CREATED, 0)), profile=profile,
            check=BackgroundCheck(raw.get(A.CHECK_STATUS, "not_started"), raw.get(A.CHECK_DATE, ""),
                                  raw.get(A.CHECK_NOTE, "")),
            note=raw.get(A.NOTE, ""), decided_ms=int(decided) if decided else None,
        )

    async def list(self, site: str, status: str | None = None) -> list[Application]:
        """The newest applications first, of one status when given."""
        aids = await self.redis.zrevrange(keys.applications(site), 0, LISTED_MAX - 1)
        if not aids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for aid in aids:
                pipe.hgetall(keys.application(site, aid))
            raws = await pipe.execute()
        apps = [self._application(site, aid, raw) for aid, raw in zip(aids, raws) if raw]
        return [a for a in apps if status is None or a.status == status]

    async def record_check(self, site: str, aid: str, status: Any, date: Any, note: Any) -> Application | None:
        if await self.get(site, aid) is None:
            return None
        check = validate_check(status, date, note)
        if isinstance(check, list):
            raise ApplicationError(check)
        await self.redis.hset(keys.application(site, aid), mapping={
            A.CHECK_STATUS: check.status, A.CHECK_DATE: check.date, A.CHECK_NOTE: check.note})
        return await self.get(site, aid)

    async def decide(self, site: str, site_name: str, aid: str, decision: Any, note: Any,
                     admin_id: str) -> Application | None:
        """Approve (the applicant becomes an active rep, with the application's id) or reject.
        The decision is claimed with HSETNX, so of two at once (a double click, two admins)
        exactly one goes through; the other gets an error, and no second rep exists."""
        app = await self.get(site, aid)
        if app is None:
            return None
        outcome = validate_decision(app, decision, note)
        if isinstance(outcome, list):
            raise ApplicationError(outcome)
        status, text = outcome
        key = keys.application(site, aid)
        if not await self.redis.hsetnx(key, A.DECIDED, int(time.time() * 1000)):
            raise ApplicationError([("decision", "this application was decided already")])
        if status == "approved":
            password = await self.redis.hget(key, A.PASSWORD)
            try:
                await self.reps.adopt(site, aid, app.name, app.email, password or "", app.profile)
            except RepError as exc:
                await self.redis.hdel(key, A.DECIDED)  # still pending: the admin may reject it
                message = "a representative of this site has this e-mail already" if exc is TAKEN else str(exc)
                raise ApplicationError([("decision", message)]) from None
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={A.STATUS: status, A.NOTE: text, A.DECIDED_BY: admin_id})
            pipe.hdel(key, A.PASSWORD)  # the rep has it now, or nobody needs it
            await pipe.execute()
        await self.jobs.decision(site, site_name, app.email, app.name, status, text,
                                 f"{self.public_url}/console/login")
        return await self.get(site, aid)
