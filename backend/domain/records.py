"""A site's customers, staff and products in Redis (core/records.py decides; this module
stores). A site keeps its own records, unless its enterprise shares one set among its sites
(``Enterprises.records_scope``): then every call for any of those sites reads and writes the
enterprise's, and each site's own stay where they were, unseen, until it stops sharing.

Each kind is one hash of the scope (key -> JSON) with a sorted set of its keys for paging in a
stable order, and customers have an e-mail -> customer index. An upsert works in batches: the
batch's rows are validated whole, what they match is read in two round trips, each row is
decided (core/records.py:decide) against what is stored and what earlier rows of the call
did, and the batch's writes go in one MULTI/EXEC. A bad row is reported and writes nothing;
it never stops the good ones; an unchanged row writes nothing. A lock per scope and kind is
held over each batch, so two imports never both claim one e-mail or create one id twice.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Iterable

import redis.asyncio as aioredis
from redis.exceptions import LockError

from backend.core import records as core
from backend.core.records import Customer, Decision, Errors, Product, Record, Row, Staff
from backend.core.validation import ValidationError, is_text
from backend.store import keys

if TYPE_CHECKING:
    from backend.domain.webhooks import Webhooks

log = logging.getLogger("beckon.records")

BATCH = 500
LOCK_TTL_S = 30
LOCK_WAIT_S = 10
PAGE_MAX = 1000


class RecordsError(ValidationError):
    """A call that cannot be carried out as a whole (an unknown kind, a file that is no CSV);
    ``errors`` lists why. Row problems are not raised: they are in the row results."""


class Busy(Exception):
    """Another import of the same site and kind held the lock for too long (a delete waits
    for it; an upsert reports its rows as errors instead, beside the batches that went in)."""


@dataclass(frozen=True)
class RowResult:
    row: int  # the index in the call's list, or the CSV's row number (the header is row 1)
    status: str  # created | updated | unchanged | error
    id: str  # the customer's id (or e-mail), the staff id, the model; "" when unreadable
    errors: Errors = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"row": self.row, "status": self.status, "id": self.id,
                "errors": [{"path": p, "message": m} for p, m in self.errors]}


@dataclass(frozen=True)
class Page:
    records: list[Record]
    cursor: str  # where the next page starts; "" after the last


def _label(data: object, kind: str) -> str:
    """What a bad row calls itself, when that is plain text worth echoing."""
    if not isinstance(data, dict):
        return ""
    for name in ("id", "email") if kind == "customers" else ("id",) if kind == "staff" else ("model",):
        value = data.get(name)
        if is_text(value) and value.strip() and len(value) <= 254 and not core.CONTROL.search(value):
            return value.strip()
    return ""


class Records:
    def __init__(self, redis: aioredis.Redis, clock: Callable[[], float] = time.time,
                 caps: dict[str, int] | None = None) -> None:
        self.redis = redis
        self.clock = clock
        self.caps = caps or dict(core.MAX_RECORDS)
        self.webhooks: Webhooks | None = None  # customer.upserted for each customer created or updated
        # Told of the customers an upsert updated (before, after): the leads' registration updates.
        self.on_customers_updated: Callable[[str, list[tuple[Customer, Customer]]], Awaitable[None]] | None = None
        # Where a site's records are kept: its own, or its enterprise's (Enterprises.records_scope).
        self.scope_of: Callable[[str], Awaitable[str]] | None = None

    async def scope(self, site: str) -> str:
        return await self.scope_of(site) if self.scope_of is not None else site

    @staticmethod
    def _kind(kind: str) -> str:
        if kind not in core.KINDS:
            raise RecordsError([("kind", "must be one of " + ", ".join(core.KINDS))])
        return kind

    # --- reading -------------------------------------------------------------------------

    @staticmethod
    def _read(kind: str, text: str | None) -> Record | None:
        if not text:
            return None
        try:
            return core.read(kind, json.loads(text))
        except ValueError:
            return None

    async def count(self, site: str, kind: str) -> int:
        return int(await self.redis.hlen(keys.records(await self.scope(site), self._kind(kind))))

    async def get(self, site: str, kind: str, rid: str) -> Record | None:
        """By id (a customer also by e-mail), or by model."""
        if kind == "customers":
            return await self.find_customer(site, id=rid) or (await self.find_customer(site, email=rid)
                                                              if "@" in rid else None)
        hash_ = keys.records(await self.scope(site), self._kind(kind))
        return self._read(kind, await self.redis.hget(hash_, rid.lower() if kind == "products" else rid))

    async def claimed_customer(self, site: str, claim: tuple[str, str], must_match: bool = False) -> Customer | None:
        """The customer a visitor's identity (``Site.claimed``) names: by its id, else its
        e-mail. ``must_match``: a record found by id must also carry the identity's e-mail, if
        it has one; a signature covers only its own event's id, lua/ingest.lua drops an e-mail
        claimed after a signed id, and this is the second guard where the record is shown."""
        pid, email = claim
        if pid:
            found = await self.find_customer(site, id=pid)
            ok = found is not None and found.id == pid and not (must_match and email and found.email != email.lower())
            return found if ok else None
        return await self.find_customer(site, email=email) if email else None

    async def find_customer(self, site: str, id: str | None = None, email: str | None = None) -> Customer | None:
        """The customer with this id, else the one with this e-mail (compared lower-cased)."""
        scope = await self.scope(site)
        hash_ = keys.records(scope, "customers")
        if id:
            found = self._read("customers", await self.redis.hget(hash_, "i:" + id))
            if isinstance(found, Customer):
                return found
        if email:
            key = await self.redis.hget(keys.customer_emails(scope), email.strip().lower())
            found = self._read("customers", await self.redis.hget(hash_, key)) if key else None
            if isinstance(found, Customer):
                return found
        return None

    async def all_staff(self, site: str) -> dict[str, Staff]:
        """Every staff member of the site by id (at most MAX_RECORDS["staff"]): what routing reads."""
        found = {k: self._read("staff", t)
                 for k, t in (await self.redis.hgetall(keys.records(await self.scope(site), "staff"))).items()}
        return {k: s for k, s in found.items() if isinstance(s, Staff)}

    async def staff_of_rep(self, site: str, rep_id: str) -> Staff | None:
        """The staff record whose ``rep`` is this console representative (the first by id), or
        None. No index from rep to staff exists: this reads the staff hash, so only the
        representative's own leads page asks it."""
        found = sorted((s for s in (await self.all_staff(site)).values() if rep_id and s.rep == rep_id),
                       key=lambda s: s.id)
        return found[0] if found else None

    async def products(self, site: str, models: list[str]) -> dict[str, Product]:
        """The product records of these models (lower-cased), those that exist, in the given order."""
        wanted = list(dict.fromkeys(m.lower() for m in models if m))
        texts = await self.redis.hmget(keys.records(await self.scope(site), "products"), wanted) if wanted else []
        found = {m: self._read("products", t) for m, t in zip(wanted, texts)}
        return {m: p for m, p in found.items() if isinstance(p, Product)}

    async def list(self, site: str, kind: str, cursor: str = "", limit: int = 100) -> Page:
        """A page of records in key order, from after ``cursor`` (a previous page's)."""
        self._kind(kind)
        limit = max(1, min(limit, PAGE_MAX))
        start = "(" + cursor if cursor else "-"
        scope = await self.scope(site)
        found = await self.redis.zrange(keys.records_order(scope, kind), start, "+", bylex=True, offset=0,
                                        num=limit + 1)
        page, more = found[:limit], len(found) > limit
        texts = await self.redis.hmget(keys.records(scope, kind), page) if page else []
        records = [r for r in (self._read(kind, t) for t in texts) if r is not None]
        return Page(records, page[-1] if more else "")

    async def export_csv(self, site: str, kind: str) -> AsyncIterator[str]:
        """The kind's records as CSV text, in chunks; every cell safe in a spreadsheet."""
        self._kind(kind)
        yield core.csv_header(kind)
        cursor = ""
        while True:
            page = await self.list(site, kind, cursor, PAGE_MAX)
            yield core.csv_lines(page.records)
            if not page.cursor:
                return
            cursor = page.cursor

    # --- writing -------------------------------------------------------------------------

    async def upsert(self, site: str, kind: str, rows: list[object], first: int = 0) -> list[RowResult]:
        """Each row (decoded JSON) created, updated or left unchanged, or its problems; rows
        numbered from ``first``."""
        self._kind(kind)
        parsed = [(first + i, core.parse(kind, data), _label(data, kind)) for i, data in enumerate(rows)]
        return await self.upsert_parsed(site, kind, parsed)

    async def import_csv(self, site: str, kind: str, text: str) -> list[RowResult]:
        """A CSV file's rows upserted, numbered as a spreadsheet shows them; RecordsError when
        the file as a whole cannot be read (header, quoting, size)."""
        self._kind(kind)
        found = core.read_csv(kind, text)
        if found and isinstance(found[0], tuple):
            raise RecordsError(found)  # type: ignore[arg-type]
        rows: list[core.CsvRow] = found  # type: ignore[assignment]
        return await self.upsert_parsed(site, kind, [(r.number, r.row or r.errors, r.label) for r in rows],
                                        leads=False)

    async def upsert_parsed(self, site: str, kind: str, rows: list[tuple[int, Row | Errors, str]],
                            progress: Callable[[list[RowResult]], Awaitable[Any]] | None = None,
                            leads: bool = True) -> list[RowResult]:
        """Rows already parsed (number, row or its problems, label), in batches; ``progress``
        is awaited with the results so far after each batch (a console import counts them).
        ``leads``: customers whose contact details changed make registration leads. A CSV
        import (the API's or the console's) passes False: a site moving or correcting its
        records in bulk is no customer changing their details, and would mail a salesperson
        per row."""
        out: list[RowResult] = []
        for at in range(0, len(rows), BATCH):
            out += await self._batch(site, kind, rows[at:at + BATCH], leads)
            if progress is not None:
                await progress(out)
        return out

    def _lock(self, scope: str, kind: str) -> Any:
        return self.redis.lock(keys.records_lock(scope, kind), timeout=LOCK_TTL_S, blocking_timeout=LOCK_WAIT_S)

    async def _batch(self, site: str, kind: str, rows: list[tuple[int, Row | Errors, str]],
                     leads: bool = True) -> list[RowResult]:
        good = [(n, r) for n, r, _ in rows if isinstance(r, Row)]
        scope = await self.scope(site)
        lock = self._lock(scope, kind)
        if good and not await lock.acquire():  # the rows stay the caller's to send again, as any row error
            return [RowResult(n, "error", r.record.label if isinstance(r, Row) else label, r if isinstance(r, list)
                              else [("", f"another import held these records for over {LOCK_WAIT_S} s; send this "
                                         "row again")]) for n, r, label in rows]
        try:
            decided = await self._decide(scope, kind, good) if good else {}
        finally:
            if good:
                try:
                    await lock.release()
                except LockError:  # it expired first: the writes were one transaction anyway
                    pass
        updated = [(d.before, d.record) for d in decided.values() if d.status == "updated"
                   and isinstance(d.before, Customer) and isinstance(d.record, Customer)]
        if updated and leads and self.on_customers_updated is not None:
            await self.on_customers_updated(site, updated)  # type: ignore[arg-type]
        if self.webhooks is not None and kind == "customers" and decided:
            await self._emit_customers(site, list(decided.values()))
        results = []
        for number, row, label in rows:
            if isinstance(row, Row):
                decision = decided[number]
                record = decision.record
                results.append(RowResult(number, decision.status, record.label if record else row.record.label,
                                         decision.errors))
            else:
                results.append(RowResult(number, "error", label, row))
        return results

    async def _emit_customers(self, site: str, decisions: list[Decision]) -> None:
        """customer.upserted for each customer a batch created or updated, queued in one round
        trip. The rows are written by now: a queue that is down loses the events (logged), not
        the import."""
        changed = [{"status": d.status, "customer": d.record.as_json()} for d in decisions
                   if d.status in ("created", "updated") and isinstance(d.record, Customer)]
        if not changed or self.webhooks is None:
            return
        try:
            await self.webhooks.emit_many(site, "customer.upserted", changed)
        except Exception:
            log.exception("customer.upserted webhooks of %d customers not queued", len(changed))

    async def _decide(self, scope: str, kind: str, rows: list[tuple[int, Row]]) -> dict[int, Decision]:
        hash_ = keys.records(scope, kind)
        stored, emails, staff = await self._load(scope, kind, [r for _, r in rows])
        count = await self.redis.hlen(hash_)
        now_ms = int(self.clock() * 1000)
        out: dict[int, Decision] = {}
        touched: set[str] = set()  # keys (and e-mails) whose final state the batch writes
        mailed: set[str] = set()
        for number, row in rows:
            record = row.record
            key = record.key if not isinstance(record, Customer) or record.id else ""
            by_key = stored.get(key) if key else None
            email_key = emails.get(record.email) if isinstance(record, Customer) and record.email else None
            by_email = stored.get(email_key) if email_key else None
            if isinstance(record, Customer) and record.assigned_staff and not staff.get(record.assigned_staff):
                out[number] = Decision("error", errors=[("assigned_staff", "no staff member has this id; "
                                                                            "add the staff first")])
                continue
            decision = core.decide(row, by_key, by_email, now_ms)
            if decision.status == "created" and count >= self.caps[kind]:
                decision = Decision("error", errors=[("", f"the records hold at most {self.caps[kind]} {kind}; "
                                                          "delete some first")])
            out[number] = decision
            if decision.status not in ("created", "updated") or decision.record is None:
                continue
            new, old = decision.record, decision.before
            count += decision.status == "created"
            stored[new.key] = new
            touched.add(new.key)
            if old is not None and old.key != new.key:
                stored[old.key] = None
                touched.add(old.key)
            if isinstance(new, Customer):
                old_email = old.email if isinstance(old, Customer) else ""
                if old_email and old_email != new.email and emails.get(old_email) == old.key:  # type: ignore
                    emails[old_email] = None
                    mailed.add(old_email)
                if new.email:
                    emails[new.email] = new.key
                    mailed.add(new.email)
        await self._write(scope, kind, {k: stored.get(k) for k in touched}, {e: emails.get(e) for e in mailed})
        return out

    async def _write(self, scope: str, kind: str, records: dict[str, Record | None],
                     emails: dict[str, str | None]) -> None:
        """A batch's final state in one transaction, a few commands whatever its size (the
        cluster client's transactions cost a thread per queued command)."""
        hash_, order = keys.records(scope, kind), keys.records_order(scope, kind)
        emails_ = keys.customer_emails(scope)
        kept = {k: json.dumps(r.as_json()) for k, r in records.items() if r is not None}
        gone = [k for k, r in records.items() if r is None]
        mail_kept = {e: k for e, k in emails.items() if k}
        mail_gone = [e for e, k in emails.items() if not k]
        if not (kept or gone or mail_kept or mail_gone):
            return
        async with self.redis.pipeline(transaction=True) as pipe:  # the scope's slot: one transaction
            if gone:
                pipe.hdel(hash_, *gone)
                pipe.zrem(order, *gone)
            if kept:
                pipe.hset(hash_, mapping=kept)
                pipe.zadd(order, dict.fromkeys(kept, 0))
            if mail_gone:
                pipe.hdel(emails_, *mail_gone)
            if mail_kept:
                pipe.hset(emails_, mapping=mail_kept)
            await pipe.execute()

    async def _load(self, scope: str, kind: str, rows: list[Row]
                    ) -> tuple[dict[str, Record | None], dict[str, str | None], dict[str, bool]]:
        """What the rows may match, in two round trips: the records by key, the e-mails'
        owners and their records, and whether the staff customers are assigned to exist."""
        hash_ = keys.records(scope, kind)
        wanted = sorted({r.record.key for r in rows if not isinstance(r.record, Customer) or r.record.id})
        mails = sorted({r.record.email for r in rows if isinstance(r.record, Customer) and r.record.email})
        staff_ids = sorted({r.record.assigned_staff for r in rows
                            if isinstance(r.record, Customer) and r.record.assigned_staff})
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(hash_, wanted or ["-"])
            pipe.hmget(keys.customer_emails(scope), mails or ["-"])
            pipe.hmget(keys.records(scope, "staff"), staff_ids or ["-"])
            texts, owners, staff = await pipe.execute()
        stored: dict[str, Record | None] = {k: self._read(kind, t) for k, t in zip(wanted, texts)}
        emails: dict[str, str | None] = dict(zip(mails, owners))
        more = sorted({o for o in owners if o and o not in stored}) if mails else []
        if more:
            for k, t in zip(more, await self.redis.hmget(hash_, more)):
                stored[k] = self._read(kind, t)
        return stored, emails, {s: bool(t) for s, t in zip(staff_ids, staff)}

    async def delete(self, site: str, kind: str, rid: str) -> Record | None:
        """The record gone (a customer's e-mail with them); what it was, or None."""
        scope = await self.scope(site)
        lock = self._lock(scope, kind)
        if not await lock.acquire():
            raise Busy()
        try:
            found = await self.get(site, kind, rid)
            if found is None:
                return None
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hdel(keys.records(scope, kind), found.key)
                pipe.zrem(keys.records_order(scope, kind), found.key)
                if isinstance(found, Customer) and found.email:
                    pipe.hdel(keys.customer_emails(scope), found.email)
                await pipe.execute()
        finally:
            try:
                await lock.release()
            except LockError:
                pass
        return found


def results_summary(results: Iterable[RowResult]) -> dict[str, int]:
    """How many rows ended each way."""
    out = {"created": 0, "updated": 0, "unchanged": 0, "error": 0}
    for r in results:
        out[r.status] += 1
    return out
