"""Winning conversations (best practices): a representative or an admin marks part of a chat
with a note; an admin reviews it and publishes it; representatives read the published ones as
worked examples for a context they choose, ranked by the outcomes of the chats that used them.

A practice is a material of the library (core/materials.py, kind "practice"), so the uses,
outcomes and ranking of domain/practices.py apply to it unchanged. Its excerpt is copied from
the chat when it is marked (card numbers taken out), so it outlives the chat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend.core import best_practices as core
from backend.core import materials as mat
from backend.core import practices as ranking
from backend.core.materials import Material
from backend.core.models import Chat
from backend.core.practices import Suggestion
from backend.domain.chat import Chats
from backend.domain.materials import MaterialError, Materials
from backend.domain.practices import Practices

TRAINING_MAX = 50  # worked examples listed at once


@dataclass(frozen=True)
class Draft:
    """What the marking form shows: the chat's messages, the person's earlier proposal (if
    any) and the tags the chat's context suggests."""

    chat: Chat
    messages: list[dict[str, Any]]
    mine: Material | None
    tags: dict[str, list[str]]


class BestPractices:
    def __init__(self, chats: Chats, materials: Materials, practices: Practices) -> None:
        self.chats = chats
        self.materials = materials
        self.practices = practices

    async def markable(self, site: str, chat_id: str, rid: str, is_admin: bool) -> Chat | None:
        """The chat, when this person may mark it; None otherwise (as if there were none)."""
        chat = await self.chats.get(site, chat_id)
        return chat if chat and core.may_mark(chat, rid, is_admin) else None

    async def draft(self, site: str, chat: Chat, rid: str) -> Draft:
        mine = await self.materials.get(site, mat.practice_id(chat.id, rid))
        tags = mine.tags.as_json() if mine else core.tags_of_context(await self.practices.context(site, chat))
        return Draft(chat, await self.chats.history(site, chat.id), mine, tags)

    async def propose(self, site: str, chat: Chat, chosen: list[str], data: dict[str, Any], rid: str) -> Material:
        """The person's practice of this chat, proposed (again: for review again); raises
        MaterialError listing every problem, nothing stored then."""
        before = await self.materials.get(site, mat.practice_id(chat.id, rid))
        found = mat.practice(chat.id, await self.chats.history(site, chat.id), chosen, data, rid,
                             self.materials.now_ms(), before)
        if isinstance(found, list):
            raise MaterialError(found)
        await self.materials.add(site, found)
        return found

    async def listed(self, site: str, status: str) -> list[Material]:
        """The site's practices with ``status`` ("all": every one), newest first."""
        return [m for m in await self.materials.list(site, status) if m.kind == "practice"]

    async def get(self, site: str, mid: str) -> Material | None:
        found = await self.materials.get(site, mid)
        return found if found and found.kind == "practice" else None

    async def review(self, site: str, mid: str, publish: bool, data: dict[str, Any], by: str) -> Material | None:
        """Published (active) or rejected (archived) by ``by``, with the title, note and tags
        the reviewer settled on; None when there is no such practice; MaterialError when the
        edits do not validate (nothing changes then)."""
        before = await self.get(site, mid)
        if before is None:
            return None
        found = mat.validate(data, mid, before.created_by, before.created_ms, base=before)
        if isinstance(found, list):
            raise MaterialError(found)
        found = mat.reviewed(found, publish, by, self.materials.now_ms())
        await self.materials.add(site, found)
        return found

    async def training(self, site: str, product: str = "", category: str = "", reasons: tuple[str, ...] = (),
                       k: int = TRAINING_MAX) -> list[Suggestion]:
        """The published practices that fit the reader's choice, best estimate first (no draw:
        a list to learn from, not an experiment)."""
        found = [m for m in core.published(await self.materials.list(site))
                 if core.fits(m.tags, product, category, reasons)]
        ctx = core.context_of(product, category, reasons)
        where = ranking.similar(ctx)
        everywhere = await self.practices.records(site, ranking.ALL)
        here = everywhere if where == ranking.ALL else await self.practices.records(site, where)
        return ranking.rank(ctx, found, here, everywhere, where, None, k)

    async def use(self, site: str, chat: Chat, mid: str) -> Material | None:
        """A published practice opened for the chat: one use, under the chat's context (once
        per chat). None when there is no such published practice."""
        found = await self.get(site, mid)
        if found is None or found.status != "active":
            return None
        await self.practices.record_use(site, chat, found)
        return found
