"""A CSV file of records imported from the console (issue 13): previewed without writing,
confirmed, then upserted in the background by the web worker that took the confirmation,
which writes its progress to Redis for any worker to answer the page's polls.

Between preview and confirm the file waits in Redis (``keys.record_upload``, one per admin,
15 minutes), not in the browser: the confirmation then imports exactly the file the admin saw
previewed, and the browser does not send up to 4 MiB twice. Everything is under the site's
keys, so an import id is only ever looked up within the asking admin's own site.

The import runs as an asyncio task of this worker; a heartbeat in its progress record says it
is alive. A worker that restarts mid-import leaves a heartbeat that grows old, and the
progress then reads "stopped" (core/record_imports.py:Progress) instead of running forever.
The rows written so far stay: each batch went in whole, and importing the file again leaves
them unchanged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Callable

from backend.core.protocol import new_id
from backend.core import record_imports as core
from backend.core.record_imports import Preview, Progress
from backend.domain.records import Records, RowResult
from backend.domain.tasks import cancel, one_line
from backend.store import Client, keys

H = keys.RecordImportHash
U = keys.RecordUploadHash
UPLOAD_TTL_S = 15 * 60
IMPORT_TTL_S = 3600  # the progress and its error report, after the last write
BEAT_S = 1.0

log = logging.getLogger("beckon.records")


class RecordImports:
    def __init__(self, redis: Client, records: Records | None = None, clock: Callable[[], float] = time.time,
                 beat_s: float = BEAT_S) -> None:
        self.redis = redis
        self.records = records or Records(redis)  # the services' own, so their hooks see imports too
        self.clock = clock
        self.beat_s = beat_s
        self.tasks: set[asyncio.Task[None]] = set()

    def _ms(self) -> int:
        return int(self.clock() * 1000)

    async def preview(self, site: str, rep: str, kind: str, text: str) -> tuple[str, Preview]:
        """The file read, nothing imported; when it can be imported, it is kept for this admin
        under a new import id (replacing the file they previewed before), which is answered."""
        found = await asyncio.to_thread(core.preview, kind, text)  # 10,000 rows: about 0.3 s of CPU
        if found.problems:
            return "", found
        iid = new_id(12)
        key = keys.record_upload(site, rep)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping={U.ID: iid, U.KIND: kind, U.TEXT: text})
            pipe.expire(key, UPLOAD_TTL_S)
            await pipe.execute()
        return iid, found

    async def _claim(self, site: str, rep: str, iid: str) -> dict[str, str] | None:
        """The previewed file, taken once: of two confirmations (a double click), one gets it."""
        key = keys.record_upload(site, rep)
        if await self.redis.hget(key, U.ID) != iid:
            return None
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(key)
            pipe.delete(key)
            upload, _ = await pipe.execute()
        if upload.get(U.ID) != iid:  # replaced by a new preview in between: put that one back
            if upload:
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.hset(key, mapping=upload)
                    pipe.expire(key, UPLOAD_TTL_S)
                    await pipe.execute()
            return None
        return upload

    async def start(self, site: str, rep: str, iid: str) -> Progress | None:
        """The file this admin previewed as ``iid`` imported in the background; its progress.
        An import already started under ``iid`` answers its progress; None when there is no
        such file (expired, replaced by another preview, or another admin's)."""
        upload = await self._claim(site, rep, iid)
        if upload is None:
            return await self.progress(site, iid)
        kind, text = upload[U.KIND], upload[U.TEXT]
        rows = await asyncio.to_thread(core.parsed, kind, text)
        now = self._ms()
        started = Progress(iid, kind, len(rows), beat_ms=now, started_ms=now)
        await self._save(site, iid, {H.KIND: kind, H.TOTAL: len(rows), H.STARTED: now, H.BEAT: now,
                                     **{getattr(H, k.upper()): v for k, v in core.counts([]).items()},
                                     H.FINISHED: 0})
        task = asyncio.create_task(self._run(site, iid, kind, text, rows))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return started

    async def _save(self, site: str, iid: str, fields: dict[str, Any]) -> None:
        key = keys.record_import(site, iid)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.expire(key, IMPORT_TTL_S)
            await pipe.execute()

    async def _beat(self, site: str, iid: str) -> None:
        while True:
            await asyncio.sleep(self.beat_s)
            try:
                await self._save(site, iid, {H.BEAT: self._ms()})
            except Exception as exc:  # Redis away: the progress will read stopped if it lasts
                log.warning("record import %s: heartbeat failed: %s", iid, one_line(exc))

    async def _run(self, site: str, iid: str, kind: str, text: str, rows: list[Any]) -> None:
        beat = asyncio.create_task(self._beat(site, iid))

        async def progress(results: list[RowResult]) -> None:
            counted = core.counts([r.status for r in results])
            await self._save(site, iid, {getattr(H, k.upper()): v for k, v in counted.items()} | {H.BEAT: self._ms()})

        try:
            results = await self.records.upsert_parsed(site, kind, rows, progress=progress, leads=False)
            bad = [r for r in results if r.status == "error"]
            error_file = await asyncio.to_thread(core.error_file, text, {r.row: r.errors for r in bad})
            await cancel(beat)
            counted = core.counts([r.status for r in results])
            await self._save(site, iid, {**{getattr(H, k.upper()): v for k, v in counted.items()},
                                         H.FINISHED: 1, H.BEAT: self._ms(),
                                         H.REPORT: json.dumps([r.as_json() for r in bad]), H.ERROR_FILE: error_file})
        except Exception as exc:  # the heartbeat stops with it: the page reads "stopped"
            log.warning("record import %s of %s stopped: %s", iid, site, one_line(exc))
        finally:
            await cancel(beat)

    async def progress(self, site: str, iid: str) -> Progress | None:
        found = await self.redis.hmget(keys.record_import(site, iid), [H.KIND, H.TOTAL, H.DONE, H.CREATED, H.UPDATED,
                                                                       H.UNCHANGED, H.ERRORS, H.FINISHED, H.BEAT,
                                                                       H.STARTED])
        if found[0] is None:
            return None
        kind, *numbers = found
        total, done, created, updated, unchanged, errors, finished, beat, started = (int(n or 0) for n in numbers)
        return Progress(iid, kind, total, done, created, updated, unchanged, errors, bool(finished), beat, started)

    async def report(self, site: str, iid: str) -> list[dict[str, Any]] | None:
        """The rows with errors ({row, status, id, errors}), once the import finished."""
        found = await self.redis.hget(keys.record_import(site, iid), H.REPORT)
        return json.loads(found) if found else None

    async def error_file(self, site: str, iid: str) -> str | None:
        """The rows with errors as CSV (core/record_imports.py:error_file), once finished."""
        found: str | None = await self.redis.hget(keys.record_import(site, iid), H.ERROR_FILE)
        return found

    def now_ms(self) -> int:
        return self._ms()

    async def stop(self) -> None:
        """The worker is stopping: its imports end here (their progress will read stopped)."""
        for task in list(self.tasks):
            await cancel(task)
