"""The materials library of each site (core/materials.py decides; this module stores): the
materials in one Redis hash of the site, their documents on disk (domain/media.py). A
document is opened by the material's id within the site asked for, never by a path or a name
a client gave, so one site's users cannot reach another's files.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Callable

import redis.asyncio as aioredis

from backend.core import download_links
from backend.core import materials as core
from backend.core.download_links import Verdict
from backend.core.materials import Material
from backend.core.protocol import ID_RE, new_id
from backend.core.validation import ValidationError
from backend.domain.media import MediaDir, Refused, TooLarge
from backend.store import keys

__all__ = ["CustomerLink", "LinkExpired", "MaterialError", "Materials", "NotSendable", "Opened", "Outgoing", "Refused",
           "TooLarge"]


class MaterialError(ValidationError):
    """A material failed validation; every problem listed."""


@dataclass(frozen=True)
class Opened:
    """A document to send: where it is on disk and what it is (its sniffed type, safe name)."""

    material: Material
    path: Path
    document: core.Document


class NotSendable(ValueError):
    """A material a representative asked to send cannot go into a chat; the message says why."""


class LinkExpired(Exception):
    """A customer's download link that we signed, but whose time is over."""


@dataclass(frozen=True)
class CustomerLink:
    """A document as a customer may download it: the signed link and what the card shows."""

    material: Material
    document: core.Document
    url: str
    expires_s: int


@dataclass(frozen=True)
class Outgoing:
    """A material as a chat message: its kind, its text and its fields (``Chats.say``)."""

    material: Material
    kind: str  # link | document
    text: str
    fields: dict[str, str]


CACHED_SITES = 1000  # sites whose parsed materials a worker keeps


class Materials:
    def __init__(self, redis: aioredis.Redis, media: MediaDir, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.media = media
        self.clock = clock
        # Per worker, each site's materials as parsed, by their stored text: reading (and
        # validating) 2,000 of them took 73 ms of CPU per suggestion (scripts/bench/suggestions.py);
        # a stored text that changed is parsed again, one that is gone is dropped.
        self._parsed: dict[str, dict[str, tuple[str, Material | None]]] = {}

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def list(self, site: str, status: str = "active") -> list[Material]:
        """The site's materials with ``status`` ("all": every one), newest first."""
        raw = await self.redis.hgetall(keys.materials(site))
        before = self._parsed.get(site, {})
        now = {mid: before[mid] if mid in before and before[mid][0] == text else (text, self._read(text))
               for mid, text in raw.items()}
        if site not in self._parsed and len(self._parsed) >= CACHED_SITES:
            self._parsed.clear()
        self._parsed[site] = now
        found = [m for _, m in now.values()]
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
        found = core.validate(data, new_id(12), by, self.now_ms())
        if isinstance(found, list):
            raise MaterialError(found)
        await self.add(site, found)
        return found

    async def add(self, site: str, found: Material) -> None:
        """A new material (a practice proposed again replaces its earlier self), while the site
        has room."""
        key = keys.materials(site)
        if not await self.redis.hexists(key, found.id) and await self.redis.hlen(key) >= core.MAX_MATERIALS:
            raise MaterialError([("", f"a site has at most {core.MAX_MATERIALS} materials; archive and delete some")])
        await self._put(site, found)

    async def update(self, site: str, mid: str, data: object, by: str = "api") -> Material | None:
        """The fields sent replace the stored ones; None when there is no such material. A
        practice's change of status records ``by`` as its reviewer."""
        before = await self.get(site, mid)
        if before is None:
            return None
        found = core.validate(data, mid, before.created_by, before.created_ms, base=before)
        if isinstance(found, list):
            raise MaterialError(found)
        found = core.stamped(before, found, by, self.now_ms())
        await self._put(site, found)
        return found

    async def archive(self, site: str, mid: str, by: str = "api") -> Material | None:
        """Kept (past chats may have used it) but no longer listed or suggested; ``by``: who."""
        return await self.update(site, mid, {"status": "archived"}, by)

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

    # --- in a chat ---------------------------------------------------------------------

    # The secret that signs customers' download links is Settings.secret_key, handed in by the
    # edge with each call (as Settings reach every other service: passed, never read here).

    async def customer_link(self, site: str, mid: str, base_url: str, *, secret: str, now_s: float | None = None,
                            ttl_s: int = download_links.LINK_TTL_S) -> CustomerLink | None:
        """A signed link to the document material's file on ``base_url`` (the collector's
        public origin); None when it is no document with a file."""
        found = await self.get(site, mid)
        return self._link(site, found, base_url, secret, now_s, ttl_s) if found else None

    def _link(self, site: str, found: Material, base_url: str, secret: str, now_s: float | None = None,
              ttl_s: int = download_links.LINK_TTL_S) -> CustomerLink | None:
        if found.kind != "document" or found.document is None:
            return None
        now = self.clock() if now_s is None else now_s
        path = download_links.path(secret, site, found.id, found.document.stored, now, ttl_s)
        return CustomerLink(found, found.document, base_url.rstrip("/") + path, int(now) + ttl_s)

    async def open_link(self, site: str, mid: str, exp: str, sig: str, *, secret: str) -> Opened | None:
        """The file a customer's link names, when the link was signed for the file the active
        material has now; None for anything else, LinkExpired for a good link too old."""
        if not download_links.well_formed(site, mid, exp, sig):
            return None
        opened = await self.open(site, mid)
        if opened is None or opened.material.status != "active":
            return None
        verdict = download_links.verify(secret, site, mid, opened.document.stored, exp, sig, self.clock())
        if verdict is Verdict.EXPIRED:
            raise LinkExpired()
        return opened if verdict is Verdict.GOOD else None

    async def outgoing(self, site: str, mid: object, origins: frozenset[str], base_url: str, *,
                       secret: str) -> Outgoing:
        """An active link or document material of the site as a chat message; NotSendable
        (for people) otherwise. A link that is a path goes to the site's first origin; the
        caller still checks it is one of the site's pages."""
        found = await self.get(site, mid) if isinstance(mid, str) and ID_RE.fullmatch(mid) else None
        if found is None:
            raise NotSendable("no such material")
        if found.status != "active":
            raise NotSendable("this material is archived")
        if found.kind == "reply":
            raise NotSendable("insert a reply into the message box instead")
        if found.kind == "practice":
            raise NotSendable("a practice is a worked example for representatives; it is not sent to customers")
        if found.kind == "link":
            url = core.site_url(found.url, origins)
            if url is None:
                raise NotSendable("this site has no origin for a link that is a path")
            return Outgoing(found, "link", found.title, {"url": url, "title": found.title})
        if found.kind == "document":
            link = self._link(site, found, base_url, secret)
            if link is None:
                raise NotSendable("this document has no file yet")
            doc = link.document
            return Outgoing(found, "document", found.title, {
                "url": link.url, "title": found.title, "filename": doc.filename, "size": str(doc.size),
                "content_type": doc.content_type})
        raise NotSendable("this material cannot be sent")
