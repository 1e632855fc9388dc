"""Accreditation tests and the accreditations they grant (backend/core/accreditation.py
decides; this module stores). An admin writes the site's tests; a representative takes one
(graded here, on the server: the answers never leave it), and a pass stores the accreditation
with its level and expiry in the rep's accreditations hash, which matching reads: the site
API's match through ``held`` and lua/dispatch.lua directly, both ignoring expired ones.

Time comes from ``clock`` (seconds, like ``time.time``), so a test can move it instead of
sleeping through a retry wait.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable

import redis.asyncio as aioredis

from backend.core.protocol import new_id
from backend.core import accreditation as core
from backend.core.accreditation import Accreditation, Attempt, Grade, Test
from backend.core.validation import ValidationError
from backend.store import keys


class AccreditationError(ValidationError):
    """A test, a grant or the answers to a test failed validation."""


class RetryWait(Exception):
    """The rep failed this test lately: no retry before ``retry_at_ms``."""

    def __init__(self, retry_at_ms: int) -> None:
        super().__init__(f"a retry is allowed from {retry_at_ms} (ms)")
        self.retry_at_ms = retry_at_ms


CACHED_SITES = 1000  # sites whose stored accreditations a worker keeps
GRADING_MS = 5000  # how long an attempt being graded holds off another of the same rep and test


@dataclass(frozen=True)
class Result:
    """A graded attempt: the grade, what was recorded, and the accreditation held after it
    (None after a fail when none was held before)."""

    test: Test
    grade: Grade
    attempt: Attempt
    held: Accreditation | None


@dataclass(frozen=True)
class Offered:
    """A test as the rep's list shows it: their last attempt, and when they may take it."""

    test: Test
    last: Attempt | None
    retry_at_ms: int | None  # None: now


class Accreditations:
    def __init__(self, redis: aioredis.Redis, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.clock = clock
        self._stored: dict[str, tuple[int, tuple[str, ...], list[dict[str, str]]]] = {}

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # --- tests (the admin's) ---------------------------------------------------------------

    async def tests(self, site: str) -> list[Test]:
        """The site's tests, by subject then title; a stored test that no longer reads is left out."""
        raw = await self.redis.hgetall(keys.accreditation_tests(site))
        found = [self._read(tid, text) for tid, text in raw.items()]
        return sorted((t for t in found if t), key=lambda t: (t.subject, t.title.lower(), t.id))

    async def test(self, site: str, tid: str) -> Test | None:
        text = await self.redis.hget(keys.accreditation_tests(site), tid)
        return self._read(tid, text) if text else None

    @staticmethod
    def _read(tid: str, text: str) -> Test | None:
        try:
            return core.read_test(json.loads(text), tid)
        except ValueError:
            return None

    async def create(self, site: str, data: object) -> Test:
        """Raises AccreditationError listing every problem; nothing is stored then."""
        tid = new_id()
        test = core.validate_test(data, tid)
        if isinstance(test, list):
            raise AccreditationError(test)
        if await self.redis.hlen(keys.accreditation_tests(site)) >= core.MAX_TESTS:
            raise AccreditationError([("", f"a site has at most {core.MAX_TESTS} tests; delete one first")])
        await self.redis.hset(keys.accreditation_tests(site), tid, json.dumps(test.as_json()))
        return test

    async def update(self, site: str, tid: str, data: object) -> Test | None:
        """The test replaced whole; None when there is no such test. Attempts and
        accreditations already held stand."""
        if await self.test(site, tid) is None:
            return None
        test = core.validate_test(data, tid)
        if isinstance(test, list):
            raise AccreditationError(test)
        await self.redis.hset(keys.accreditation_tests(site), tid, json.dumps(test.as_json()))
        return test

    async def delete(self, site: str, tid: str) -> bool:
        """The test and the reps' attempts at it; accreditations it granted stand until they expire."""
        if not await self.redis.hdel(keys.accreditation_tests(site), tid):
            return False
        rids = await self.redis.smembers(keys.reps(site))
        async with self.redis.pipeline(transaction=False) as pipe:
            for rid in rids:
                pipe.hdel(keys.accreditation_attempts(site, rid), tid)
            await pipe.execute()
        return True

    # --- taking a test (the rep's) ---------------------------------------------------------

    async def last_attempts(self, site: str, rid: str) -> dict[str, Attempt]:
        raw = await self.redis.hgetall(keys.accreditation_attempts(site, rid))
        out = {}
        for tid, text in raw.items():
            try:
                found = core.read_attempt(json.loads(text), tid)
            except ValueError:
                found = None
            if found:
                out[tid] = found
        return out

    async def offered(self, site: str, rid: str) -> list[Offered]:
        """Every test of the site with the rep's last attempt and when they may take it."""
        tests, last = await self.tests(site), await self.last_attempts(site, rid)
        now = self.now_ms()
        return [Offered(t, last.get(t.id), core.may_take(now, last.get(t.id))) for t in tests]

    async def start(self, site: str, rid: str, tid: str) -> Test | None:
        """The test to take (show it with ``view()``: no answers); None when there is no such
        test. RetryWait during the wait after a fail."""
        test = await self.test(site, tid)
        if test is None:
            return None
        last = (await self.last_attempts(site, rid)).get(tid)
        wait = core.may_take(self.now_ms(), last)
        if wait is not None:
            raise RetryWait(wait)
        return test

    async def submit(self, site: str, rid: str, tid: str, answers: object) -> Result | None:
        """Grade the answers and record the attempt; a pass grants (or renews) the test's
        accreditation. Answers that do not fit the test raise AccreditationError and cost no
        attempt; RetryWait during the wait after a fail; None when there is no such test."""
        # One attempt graded at a time: the retry-wait check and the attempt's record are a read
        # then a write, and two submits at once must not both pass the check.
        grading = keys.accreditation_grading(site, rid, tid)
        if not await self.redis.set(grading, "1", nx=True, px=GRADING_MS):
            raise RetryWait(self.now_ms() + GRADING_MS)
        try:
            test = await self.start(site, rid, tid)
            if test is None:
                return None
            clean = core.validate_answers(test, answers)
            if isinstance(clean, list):
                raise AccreditationError(clean)
            return await self._record(site, rid, tid, test, clean)
        finally:
            await self.redis.delete(grading)

    async def _record(self, site: str, rid: str, tid: str, test: Test,
                      clean: tuple[tuple[int, ...], ...]) -> Result:
        now = self.now_ms()
        grade = core.grade(test, clean)
        made = core.attempt(test, grade, now)
        before = await self.get(site, rid, test.subject)
        held = before
        async with self.redis.pipeline(transaction=False) as pipe:  # two keys of one rep: one slot
            pipe.hset(keys.accreditation_attempts(site, rid), tid, json.dumps(made.as_json()))
            new = core.granted(test, grade, now)
            if new is not None:
                held = core.after_pass(before, new, now)
                pipe.hset(keys.accreditations(site, rid), test.subject, core.stored(held))
                pipe.incr(keys.accreditations_version(site))
            await pipe.execute()
        return Result(test, grade, made, held)

    # --- held accreditations -----------------------------------------------------------------

    async def get(self, site: str, rid: str, subject: str) -> Accreditation | None:
        raw = await self.redis.hget(keys.accreditations(site, rid), subject)
        return core.parse(subject, raw) if raw else None

    async def of_rep(self, site: str, rid: str) -> list[Accreditation]:
        """Every accreditation stored for the rep, expired ones too (``core.current`` tells)."""
        raw = await self.redis.hgetall(keys.accreditations(site, rid))
        found = [core.parse(subject, value) for subject, value in sorted(raw.items())]
        return [a for a in found if a]

    async def held(self, site: str, rids: list[str], now_ms: int) -> dict[str, dict[str, int]]:
        """Each rep's current accreditations, subject -> level, as matching reads them."""
        if not rids:
            return {}
        # What is stored is kept per worker while the site's version stands (every grant,
        # pass and revoke bumps it); expiry is worked out at ``now_ms`` every time.
        version = int(await self.redis.get(keys.accreditations_version(site)) or 0)
        cached = self._stored.get(site)
        if cached and cached[0] == version and cached[1] == tuple(rids):
            raws = cached[2]
        else:
            async with self.redis.pipeline(transaction=False) as pipe:
                for rid in rids:
                    pipe.hgetall(keys.accreditations(site, rid))
                raws = await pipe.execute()
            if len(self._stored) >= CACHED_SITES:
                self._stored.clear()
            self._stored[site] = (version, tuple(rids), raws)
        return {rid: core.levels(raw, now_ms) for rid, raw in zip(rids, raws)}

    async def grant(self, site: str, rid: str, data: object) -> Accreditation:
        """An admin's grant {subject, level, valid_days}: it replaces what the rep held."""
        found = core.validate_grant(data, self.now_ms())
        if isinstance(found, list):
            raise AccreditationError(found)
        await self.store(site, rid, found)
        return found

    async def store(self, site: str, rid: str, a: Accreditation) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.accreditations(site, rid), a.subject, core.stored(a))
            pipe.incr(keys.accreditations_version(site))
            await pipe.execute()

    async def revoke(self, site: str, rid: str, subject: str) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.accreditations(site, rid), subject)
            pipe.incr(keys.accreditations_version(site))
            removed, _ = await pipe.execute()
        return bool(removed)
