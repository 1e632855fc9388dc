"""Signed outbound webhooks: a site's endpoints, the events emitted to them, their delivery by
the rq worker, and the delivery log.

``emit`` stores the event once (its body byte for byte, 30 days) and queues one delivery job
per endpoint subscribed to its type, all in one round trip to the queue's Redis. The job reads
the endpoint when it runs (a rotated secret or a changed URL applies to retries), signs at each
attempt, and records the attempt in the site's log. A failed attempt raises, and rq tries it
again after Settings.webhook_retry_s; the last one is marked failed and returns. The event id
is the ``webhook-id`` of every attempt and every resend, so a receiver drops what it took
already.

``emit_many`` (an import's customer.upserted) queues one job per endpoint and BATCH events
(``deliver_batch``): their attempts share one job and one kept-alive connection, since rq's
bookkeeping, not the POST, was most of a delivery's cost (scripts/bench/notify.py). The events
that failed go on to the next try together, on the same schedule, so a dead endpoint costs an
import of 200,000 customers 2,000 jobs a try, not 200,000.

Everything here lives in the job queue's Redis (beside the dead letters): the worker reaches
only that one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import socket
import ssl
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Callable

import certifi
import httpx
import redis.asyncio as aioredis
from redis import Redis
from redis.exceptions import WatchError
from rq import Queue, Retry
from rq.job import get_current_job

from backend.config import Settings, WebhookSettings
from backend.core import webhooks as core
from backend.core.validation import ValidationError
from backend.core.webhooks import Endpoint
from backend.domain.jobs import Jobs
from backend.domain.orders import new_secret
from backend.store import keys

log = logging.getLogger("beckon.webhooks")

EVENT_TTL_S = 30 * 86400  # an event can be resent this long
LOG_MAX = 1000  # attempts kept per site, newest first
JOB_TIMEOUT_S = 30  # one attempt: 10 s per phase of the POST at most, and the log write
BATCH = 100  # events a deliver_batch job takes to one endpoint
BATCH_BUDGET_S = 60  # a batch stops trying its events after this; the rest wait for their retry
ERROR_MAX = 200
# Made once, in the worker (before it forks a work horse per job, when it does): loading the CA
# bundle per attempt cost most of a delivery's CPU (scripts/bench/notify.py).
TLS = ssl.create_default_context(cafile=certifi.where())


class WebhookError(ValidationError):
    """Endpoint settings that cannot be kept; ``errors`` lists every problem."""


class DeliveryFailed(Exception):
    """An attempt that did not get a 2xx: rq tries the job again after its backoff."""


@dataclass(frozen=True)
class Attempt:
    """One try of one event at one endpoint, as the delivery log shows it."""

    event: str
    type: str
    endpoint: str
    url: str
    attempt: int
    status: int | None  # the HTTP status answered; None when there was no answer
    error: str  # "" on success
    ms: int  # how long it took
    at_ms: int
    outcome: str  # delivered | retrying | failed; or paused (no event: the endpoint was paused)
    resend: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"event": self.event, "type": self.type, "endpoint": self.endpoint, "url": self.url,
                "attempt": self.attempt, "status": self.status, "error": self.error, "ms": self.ms,
                "at": self.at_ms, "outcome": self.outcome, "resend": self.resend}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Attempt":
        return cls(d["event"], d["type"], d["endpoint"], d["url"], int(d["attempt"]), d["status"], d["error"],
                   int(d["ms"]), int(d["at"]), d["outcome"], bool(d.get("resend")))


def new_event_id() -> str:
    return "evt_" + secrets.token_urlsafe(18)


def endpoint_id() -> str:
    return "wh_" + secrets.token_hex(8)


# --- in the worker ----------------------------------------------------------------------------

def _record(conn: Redis, site: str, *attempts: Attempt) -> None:
    with conn.pipeline(transaction=False) as pipe:
        for attempt in attempts:
            pipe.lpush(keys.webhook_log(site), json.dumps(attempt.as_json()))
        pipe.ltrim(keys.webhook_log(site), 0, LOG_MAX - 1)
        pipe.expire(keys.webhook_log(site), EVENT_TTL_S)
        pipe.execute()


def _addresses(url: httpx.URL, allow_private: bool) -> tuple[list[str], str, bool]:
    """What the URL's host resolves to now, checked: (addresses, "", _) to connect to, or
    ([], why not, whether a retry may succeed). Unless ``allow_private`` (Settings.
    webhooks_allow_http), a host with any address that is not public is refused: a webhook's URL
    must not reach this machine or its network (cloud metadata, Redis, admin ports) through a
    name, as url_problems already refuses a literal private address."""
    host = url.raw_host.decode("ascii")
    try:
        found = socket.getaddrinfo(host, url.port or (443 if url.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:  # socket.gaierror: no such name, or the resolver failed
        return [], f"the endpoint's host does not resolve ({exc})"[:ERROR_MAX], True
    addresses: list[str] = []
    for family, _, _, _, sockaddr in found:
        if family in (socket.AF_INET, socket.AF_INET6) and str(sockaddr[0]) not in addresses:
            addresses.append(str(sockaddr[0]))
    refused = core.not_public(addresses)
    if not addresses:
        return [], "the endpoint's host resolves to no IPv4 or IPv6 address", True
    if refused and not allow_private:
        return [], (f"the endpoint's host resolves to a private address ({', '.join(refused[:3])}); "
                    "refused")[:ERROR_MAX], False
    return addresses, "", False


def _client(timeout_s: float) -> httpx.Client:
    return httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=False, verify=TLS)


def _post(client: httpx.Client, url: httpx.URL, addresses: list[str], body: bytes,
          headers: dict[str, str]) -> tuple[int | None, str]:
    """The status answered (its body never read: a receiver cannot flood the worker), or why
    there was none. The connection goes to the addresses checked, never to what the name
    resolves to a moment later (DNS rebinding): to the first of each family in the resolver's
    order (IPv6 and IPv4) until one connects, with the Host header, TLS server name and
    certificate check of the URL's own host."""
    host = url.raw_host.decode("ascii")
    literal = core.is_address(host)  # an address in the URL: nothing to pin
    tries: list[str] = []
    for address in addresses:
        if all((":" in address) != (":" in taken) for taken in tries):
            tries.append(address)
    sent, extensions = dict(headers), {}
    if not literal:  # connect to the address checked, speak to the name
        sent["host"] = url.netloc.decode("ascii")
        if url.scheme == "https":
            extensions["sni_hostname"] = host  # TLS: the name's certificate, checked against the name
    error = "no address to connect to"
    for address in tries:
        try:
            pinned = url if literal else url.copy_with(host=address)
            with client.stream("POST", pinned, content=body, headers=sent, extensions=extensions) as answer:
                status = answer.status_code
            break
        except httpx.ConnectError as exc:  # the next address, as a browser would
            error = f"ConnectError: {exc} (at {address})" if str(exc) else f"ConnectError (at {address})"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return None, (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:ERROR_MAX]
    else:
        return None, error[:ERROR_MAX]
    if core.success(status):
        return status, ""
    if 300 <= status < 400:
        return status, f"answered {status}: redirects are not followed; give the final URL"
    return status, f"answered {status}"


def deliver(site: str, endpoint: str, event: str, resend: bool = False, *, hooks: WebhookSettings) -> None:
    """One attempt to POST an event to an endpoint (an rq job; the worker hands it ``hooks``)."""
    job = get_current_job()
    assert job is not None
    conn: Redis = job.connection
    tries = int(job.meta.get("tries", 1))
    attempt = tries - (job.retries_left or 0)
    last = not job.retries_left
    found = _endpoint(conn, site, endpoint)
    raw_event = conn.get(keys.webhook_event(site, event))
    stored = json.loads(raw_event) if raw_event else None
    kind = stored["type"] if stored else ""
    shown = found.url if found else ""
    problem = _problem(found, hooks) or ("the event is older than 30 days and no longer kept" if stored is None
                                         else "")
    now = time.time()
    if problem or found is None or stored is None:  # nothing to try again
        _record(conn, site, Attempt(event, kind, endpoint, shown, attempt, None, problem, 0, int(now * 1000),
                                    "failed", resend))
        return
    body = stored["body"].encode()
    started = time.perf_counter()
    url = httpx.URL(found.url)
    addresses, error, retry = _addresses(url, hooks.allow_http)
    status: int | None = None
    if addresses:
        with _client(hooks.timeout_s) as client:
            status, error = _post(client, url, addresses, body, core.headers(found.secret, event, int(now), body))
        retry = True
    took = int((time.perf_counter() - started) * 1000)
    outcome = "delivered" if not error else "failed" if last or not retry else "retrying"
    _record(conn, site, Attempt(event, kind, endpoint, shown, attempt, status, error, took, int(now * 1000), outcome,
                                resend))
    _tally(conn, site, endpoint, shown, [outcome])
    if outcome == "retrying":
        raise DeliveryFailed(error)


def _tally(conn: Redis, site: str, endpoint: str, url: str, outcomes: list[str]) -> None:
    """Keep the endpoint's run of events failed for good (core.PAUSE_AFTER): a delivered event
    starts it again; at the limit the endpoint is paused, and its log says why."""
    delivered, failed = core.failed_since_delivered(outcomes)
    if not delivered and not failed:
        return
    key = keys.webhook_failing(site, endpoint)
    with conn.pipeline(transaction=False) as pipe:
        if delivered:
            pipe.set(key, failed)
        else:
            pipe.incrby(key, failed)
        pipe.expire(key, EVENT_TTL_S)
        pipe.get(key)
        streak = int(pipe.execute()[-1] or 0)
    if streak >= core.PAUSE_AFTER and _pause(conn, site, endpoint):
        why = (f"paused: {streak} events in a row failed after every try; turn the endpoint on again once "
               "it answers")
        _record(conn, site, Attempt("", "", endpoint, url, 0, None, why, 0, int(time.time() * 1000), "paused"))


def _pause(conn: Redis, site: str, endpoint: str) -> bool:
    """The endpoint set inactive, unless it is gone, inactive already, or changed meanwhile (an
    admin's edit wins: the next failure looks again)."""
    key = keys.webhooks(site)
    with conn.pipeline() as pipe:
        try:
            pipe.watch(key)
            raw = pipe.hget(key, endpoint)
            found = Endpoint.from_stored(json.loads(raw)) if raw else None
            if found is None or not found.active:
                return False
            pipe.multi()
            pipe.hset(key, endpoint, json.dumps(replace(found, active=False).stored()))
            pipe.execute()
            return True
        except WatchError:
            return False


def _endpoint(conn: Redis, site: str, endpoint: str) -> Endpoint | None:
    raw = conn.hget(keys.webhooks(site), endpoint)
    return Endpoint.from_stored(json.loads(raw)) if raw else None


def _problem(found: Endpoint | None, hooks: WebhookSettings) -> str:
    """Why no event can go to this endpoint now, nor on a retry; "" when it can."""
    return ("the endpoint was removed" if found is None
            else "the endpoint is paused" if not found.active
            else "; ".join(m for _, m in core.url_problems(found.url, hooks.allow_http)))


def deliver_batch(site: str, endpoint: str, events: list[str], schedule: list[int], attempt: int = 1, *,
                  hooks: WebhookSettings) -> None:
    """Attempt ``attempt`` of several events at one endpoint (an rq job, from ``emit_many``):
    one resolution of its host and one kept-alive connection for all, each attempt logged as
    ``deliver`` logs it. The events that failed and may succeed later go on together, to one
    job of attempt + 1 after ``schedule[attempt - 1]`` s, so a dead endpoint costs an import a
    job per 100 events and try, not one per event; the last try marks them failed. Once the
    endpoint gave no answer at all (refused, timed out), or BATCH_BUDGET_S have passed, the
    events left are not tried: they wait for the next try, logged as "retrying" with why."""
    job = get_current_job()
    assert job is not None
    conn: Redis = job.connection
    found = _endpoint(conn, site, endpoint)
    raws = conn.mget([keys.webhook_event(site, e) for e in events])
    problem = _problem(found, hooks)
    shown = found.url if found else ""
    url = httpx.URL(found.url) if found is not None and not problem else None
    # resolved once: (addresses, "", _), or ([], why not, whether a retry may succeed)
    addresses, unreachable, retry = _addresses(url, hooks.allow_http) if url else ([], problem, False)
    last = attempt > len(schedule)
    deadline = time.monotonic() + BATCH_BUDGET_S
    broken = ""  # why the events still to come are not tried
    attempts: list[Attempt] = []
    tried: list[str] = []  # the outcomes that were the endpoint's doing (not a removed endpoint's)
    with _client(hooks.timeout_s) as client:
        for event, raw in zip(events, raws):
            stored = json.loads(raw) if raw else None
            kind, at = (stored["type"] if stored else ""), int(time.time() * 1000)
            if found is None or url is None or stored is None:  # nothing to try again
                why = problem or "the event is older than 30 days and no longer kept"
                attempts.append(Attempt(event, kind, endpoint, shown, attempt, None, why, 0, at, "failed"))
                continue
            if not broken and time.monotonic() > deadline:
                broken = f"not tried: the batch ran out of its {BATCH_BUDGET_S} s"
            status, took, error = None, 0, unreachable or broken
            if not error:
                started = time.perf_counter()
                body = stored["body"].encode()
                status, error = _post(client, url, addresses, body,
                                      core.headers(found.secret, event, int(time.time()), body))
                took = int((time.perf_counter() - started) * 1000)
                if error and status is None:
                    broken = f"not tried: {error} (an earlier event of this batch)"[:ERROR_MAX]
            may_retry = (bool(addresses) or retry) and not last
            outcome = "delivered" if not error else "retrying" if may_retry else "failed"
            attempts.append(Attempt(event, kind, endpoint, shown, attempt, status, error, took, at, outcome))
            tried.append(outcome)
    _record(conn, site, *attempts)
    _tally(conn, site, endpoint, shown, tried)
    later = [a.event for a in attempts if a.outcome == "retrying"]
    if later:
        queue, wait = Queue(job.origin, connection=conn), schedule[attempt - 1]
        options = dict(job_timeout=BATCH_BUDGET_S + JOB_TIMEOUT_S, result_ttl=0,
                       description=f"webhooks {later[0]} (+{len(later) - 1}) -> {endpoint}, try {attempt + 1}")
        if wait > 0:
            queue.enqueue_in(timedelta(seconds=wait), deliver_batch, site, endpoint, later, schedule, attempt + 1,
                             **options)
        else:  # at once, as rq retries an interval of 0
            queue.enqueue(deliver_batch, site, endpoint, later, schedule, attempt + 1, **options)


# --- in the web workers -----------------------------------------------------------------------

@dataclass(frozen=True)
class Created:
    endpoint: Endpoint
    secret: str


class Webhooks:
    """A site's endpoints, ``emit``, the delivery log and resends."""

    def __init__(self, settings: Settings, jobs: Jobs, clock: Callable[[], float] = time.time) -> None:
        assert jobs.redis is not None
        self.redis: aioredis.Redis = jobs.redis  # the queue's Redis: the worker reads what this writes
        self.jobs = jobs
        self.clock = clock
        self.allow_http = settings.webhooks_allow_http
        self.schedule = schedule = tuple(settings.webhook_retry_s)
        self.tries = len(schedule) + 1
        self.retry = Retry(max=len(schedule), interval=list(schedule)) if schedule else None

    # --- endpoints ------------------------------------------------------------------------

    async def endpoints(self, site: str) -> list[Endpoint]:
        """The site's endpoints, oldest first (with their secrets: never answer them whole)."""
        found = [Endpoint.from_stored(json.loads(v)) for v in (await self.redis.hgetall(keys.webhooks(site))).values()]
        return sorted(found, key=lambda e: (e.created_ms, e.id))

    async def endpoint(self, site: str, eid: str) -> Endpoint | None:
        if not core.ENDPOINT_ID_RE.fullmatch(eid):
            return None
        raw = await self.redis.hget(keys.webhooks(site), eid)
        return Endpoint.from_stored(json.loads(raw)) if raw else None

    async def create(self, site: str, data: Any) -> Created:
        fields, errors = core.parse_endpoint(data, self.allow_http)
        if errors:
            raise WebhookError(errors)
        found = Endpoint(id=endpoint_id(), url=fields["url"], events=fields["events"],
                         active=fields.get("active", True), description=fields.get("description", ""),
                         secret=new_secret(), created_ms=int(self.clock() * 1000))
        key = keys.webhooks(site)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, found.id, json.dumps(found.stored()))
            pipe.hlen(key)
            _, count = await pipe.execute()
        if count > core.MAX_ENDPOINTS:  # two creations at once may both be refused: never 11 kept
            await self.redis.hdel(key, found.id)
            raise WebhookError([("", f"a site has at most {core.MAX_ENDPOINTS} webhook endpoints; remove one first")])
        return Created(found, found.secret)

    async def update(self, site: str, eid: str, data: Any) -> Endpoint | None:
        before = await self.endpoint(site, eid)
        if before is None:
            return None
        fields, errors = core.parse_endpoint(data, self.allow_http, before)
        if errors:
            raise WebhookError(errors)
        after = replace(before, **fields)
        if not await self._replace(site, after):
            return None
        if after.active and not before.active:  # turned on again: its run of failures starts anew
            await self.redis.delete(keys.webhook_failing(site, eid))
        return after

    async def _replace(self, site: str, after: Endpoint) -> bool:
        """Write ``after`` only while the endpoint exists (a delete wins over an edit)."""
        script = "if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], " \
                 "ARGV[2]) return 1 end return 0"
        return bool(await self.redis.eval(script, 1, keys.webhooks(site), after.id, json.dumps(after.stored())))

    async def delete(self, site: str, eid: str) -> bool:
        if not core.ENDPOINT_ID_RE.fullmatch(eid):
            return False
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hdel(keys.webhooks(site), eid)
            pipe.delete(keys.webhook_failing(site, eid))
            removed, _ = await pipe.execute()
        return bool(removed)

    async def rotate(self, site: str, eid: str) -> Created | None:
        """A new secret, used from the next attempt on (retries of earlier events too)."""
        before = await self.endpoint(site, eid)
        if before is None:
            return None
        after = replace(before, secret=new_secret())
        return Created(after, after.secret) if await self._replace(site, after) else None

    # --- events ---------------------------------------------------------------------------

    async def emit(self, site: str, event_type: str, data: dict[str, Any], event_id: str | None = None) -> None:
        """Queue ``data`` as an event of ``event_type`` to each active endpoint of the site that
        subscribed to it. ``event_id``: a stable id (core/webhooks.py:stable_event_id); if an event with it is
        stored already, nothing is queued again."""
        await self.emit_many(site, event_type, [data], [event_id] if event_id else None)

    async def emit_many(self, site: str, event_type: str, datas: list[dict[str, Any]],
                        event_ids: list[str] | None = None) -> list[str]:
        """Several events of one type in one round trip; the ids of those queued."""
        if event_type not in core.EVENTS:
            raise ValueError(f"unknown webhook event {event_type!r}")
        if not datas:
            return []
        targets = [e.id for e in await self.endpoints(site) if e.wants(event_type)]
        if not targets:
            return []
        now = int(self.clock() * 1000)
        events = []
        for i, data in enumerate(datas):
            eid = event_ids[i] if event_ids else new_event_id()
            body = core.envelope(eid, event_type, now, site, data).decode()
            events.append((eid, json.dumps({"type": event_type, "created": now, "body": body})))
        return await asyncio.to_thread(self._queue, site, events, targets, bool(event_ids))

    def _queue(self, site: str, events: list[tuple[str, str]], targets: list[str], once: bool) -> list[str]:
        """Store the events and queue their deliveries in one transaction on the queue's Redis
        (rq's client is synchronous: this runs in a thread)."""
        queue: Queue = self.jobs.queue
        conn = queue.connection
        if once:  # stable ids: only the events not stored yet
            fresh = []
            for eid, stored in events:
                if conn.set(keys.webhook_event(site, eid), stored, nx=True, ex=EVENT_TTL_S):
                    fresh.append((eid, stored))
            events = fresh
            if not events:
                return []
        ids = [eid for eid, _ in events]
        if len(ids) == 1:
            jobs = [self._job(site, target, ids[0], False) for target in targets]
        else:
            jobs = [self._batch_job(site, target, ids[at:at + BATCH])
                    for at in range(0, len(ids), BATCH) for target in targets]
        try:
            with conn.pipeline() as pipe:
                for eid, stored in events:
                    pipe.set(keys.webhook_event(site, eid), stored, ex=EVENT_TTL_S)
                queue.enqueue_many(jobs, pipeline=pipe)
                pipe.execute()
        except BaseException:
            if once:  # not queued: let the next emit of these ids try again
                conn.delete(*[keys.webhook_event(site, eid) for eid, _ in events])
            raise
        return [eid for eid, _ in events]

    def _job(self, site: str, endpoint: str, event: str, resend: bool) -> Any:
        return Queue.prepare_data(deliver, args=(site, endpoint, event, resend), retry=self.retry,
                                  timeout=JOB_TIMEOUT_S, result_ttl=0, meta={"tries": self.tries},
                                  description=f"webhook {event} -> {endpoint}")

    def _batch_job(self, site: str, endpoint: str, events: list[str]) -> Any:
        """No rq retries of its own: each event that needs one gets a ``deliver`` job."""
        return Queue.prepare_data(deliver_batch, args=(site, endpoint, events, list(self.schedule)),
                                  timeout=BATCH_BUDGET_S + JOB_TIMEOUT_S, result_ttl=0,
                                  description=f"webhooks {events[0]} (+{len(events) - 1}) -> {endpoint}")

    # --- the log --------------------------------------------------------------------------

    async def deliveries(self, site: str, limit: int = 100) -> list[Attempt]:
        """The latest attempts, newest first (at most LOG_MAX are kept)."""
        raw = await self.redis.lrange(keys.webhook_log(site), 0, max(1, min(limit, LOG_MAX)) - 1)
        return [Attempt.from_json(json.loads(r)) for r in raw]

    async def resend(self, site: str, event: str, endpoint: str) -> str | None:
        """Deliver a kept event to an endpoint again, with the same id and body (and its own
        retries); None when queued, else why not."""
        if not core.EVENT_ID_RE.fullmatch(event) or not await self.redis.exists(keys.webhook_event(site, event)):
            return "no such event (events are kept 30 days)"
        if await self.endpoint(site, endpoint) is None:
            return "no such endpoint"
        await asyncio.to_thread(self.jobs.queue.enqueue_many, [self._job(site, endpoint, event, True)])
        return None
