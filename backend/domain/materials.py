"""The materials library of each site (core/materials.py decides; this module stores): the
materials in one Redis hash of the site, their documents on disk (domain/media.py). A
document is opened by the material's id within the site asked for, never by a path or a name
a client gave, so one site's users cannot reach another's files.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Callable

import redis.asyncio as aioredis

from backend.core import materials as core
from backend.core.materials import Material
from backend.core.validation import ValidationError
from backend.domain.media import MediaDir, Refused, TooLarge
from backend.store import keys

__all__ = ["MaterialError", "Materials", "Opened", "Refused", "TooLarge"]


class MaterialError(ValidationError):
    """A material failed validation; every problem listed."""


@dataclass(frozen=True)
class Opened:
    """A document to send: where it is on disk and what it is (its sniffed type, safe name)."""

    material: Material
    path: Path
    document: core.Document


class Materials:
    def __init__(self, redis: aioredis.Redis, media: MediaDir, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.media = media
        self.clock = clock

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def list(self, site: str, status: str = "active") -> list[Material]:
        """The site's materials with ``status`` ("all": every one), newest first."""
        raw = await self.redis.hgetall(keys.materials(site))
        found = [self._read(text) for text in raw.values()]
        return sorted((m for m in found if m and status in ("all", m.status)), key=lambda m: (-m.created_ms, m.id))

    async def get(self, site: str, mid: str) -> Material | None:
        text = await self.redis.hget(keys.materials(site), mid)
        found = self._read(text) if text else None
        return found if found and found.id == mid else None

    @staticmethod
    def _read(text: str) -> Material | None:
        try:
            return core.read(json.loads(text))
        except ValueError:
            return None

    async def _put(self, site: str, material: Material) -> None:
        await self.redis.hset(keys.materials(site), material.id, json.dumps(material.as_json()))

    async def create(self, site: str, data: object, by: str) -> Material:
        """Raises MaterialError listing every problem; nothing is stored then."""
        found = core.validate(data, secrets.token_urlsafe(12), by, self.now_ms())
        if isinstance(found, list):
            raise MaterialError(found)
        if await self.redis.hlen(keys.materials(site)) >= core.MAX_MATERIALS:
            raise MaterialError([("", f"a site has at most {core.MAX_MATERIALS} materials; archive and delete some")])
        await self._put(site, found)
        return found

    async def update(self, site: str, mid: str, data: object) -> Material | None:
        """The fields sent replace the stored ones; None when there is no such material."""
        before = await self.get(site, mid)
        if before is None:
            return None
        found = core.validate(data, mid, before.created_by, before.created_ms, base=before)
        if isinstance(found, list):
            raise MaterialError(found)
        await self._put(site, found)
        return found

    async def archive(self, site: str, mid: str) -> Material | None:
        """Kept (past chats may have used it) but no longer listed or suggested."""
        return await self.update(site, mid, {"status": "archived"})

    async def discard(self, site: str, mid: str) -> None:
        """Gone, with its file: for a material whose upload failed as it was being made."""
        found = await self.get(site, mid)
        await self.redis.hdel(keys.materials(site), mid)
        if found and found.document:
            self.media.remove(site, found.document.stored)

    async def attach(self, site: str, mid: str, chunks: AsyncIterator[bytes], filename: str,
                     claimed_type: str) -> Material | None:
        """The body as the document material's file (replacing any before). None when there is
        no such material; MaterialError when it is no document; TooLarge or Refused when the
        file is not accepted (nothing is kept of it then)."""
        before = await self.get(site, mid)
        if before is None:
            return None
        if before.kind != "document":
            raise MaterialError([("kind", "only a document material takes a file")])
        stored = await self.media.save(site, chunks, filename, claimed_type)
        current = await self.get(site, mid)  # it may have been changed while the file came
        if current is None:
            self.media.remove(site, stored.document.stored)
            return None
        await self._put(site, current.with_document(stored.document))
        if before.document and before.document.stored != stored.document.stored:
            self.media.remove(site, before.document.stored)
        return current.with_document(stored.document)

    async def open(self, site: str, mid: str) -> Opened | None:
        """The material's document, to send; None when the site has no such material or file."""
        found = await self.get(site, mid)
        if found is None or found.document is None:
            return None
        path = self.media.path(site, found.document.stored)
        return Opened(found, path, found.document) if path else None
