"""Winning conversations (best practices), the pure part: who may mark a chat, the tags a
practice starts with (the marked chat's context, for an admin to edit before publishing), and
which published practices a reader's chosen context shows in the training view. A practice
itself is a material (core/materials.py: kind "practice"), ranked as every material is
(core/practices.py:rank).

Pure: no I/O.
"""

from __future__ import annotations

from backend.core.materials import LANGUAGE_RE, TAG_FIELDS, Material, Tags
from backend.core.models import Chat
from backend.core.practices import Context
from backend.core.scoring import RULE_NAMES


def may_mark(chat: Chat, rid: str, is_admin: bool) -> bool:
    """An admin may mark any chat of the site; a representative the chats they hold (a chat
    transferred away is its new rep's)."""
    return is_admin or (chat.rep != "" and chat.rep == rid)


def tags_of_context(ctx: Context) -> dict[str, list[str]]:
    """The tags a practice marked in this context suits, as the form shows them (an admin
    narrows or widens them before publishing): its product, category, reasons, service point
    and language; never its page (one path is too narrow for an example)."""
    primary = ctx.language.split("-")[0].lower()
    found = {"products": [ctx.product], "categories": [ctx.category],
             "reasons": [r for r in ctx.reasons if r in RULE_NAMES], "service_points": [ctx.service_point],
             "languages": [primary] if primary and LANGUAGE_RE.match(primary) else []}
    return {name: [v for v in dict.fromkeys(found.get(name, [])) if v] for name in TAG_FIELDS}


def _named(tag_list: tuple[str, ...], chosen: str) -> bool:
    value = " ".join(chosen.split()).lower()
    return not value or not tag_list or value in (" ".join(t.split()) for t in tag_list)


def fits(tags: Tags, product: str = "", category: str = "", reasons: tuple[str, ...] = ()) -> bool:
    """A reader's choice in the training view, fact by fact: a practice shows when each chosen
    fact is named by its tag list for it (a reason: any one of those chosen), or that list is
    empty (any). Unlike core/practices.py:suits, a fact not chosen never hides a practice."""
    return (_named(tags.products, product) and _named(tags.categories, category)
            and (not reasons or not tags.reasons or bool(set(reasons) & set(tags.reasons))))


def context_of(product: str, category: str, reasons: tuple[str, ...]) -> Context:
    """The reader's choice as the context to rank in ("chats like this one": the product,
    else the category, as for a chat)."""
    return Context(product=product, category=category, reasons=tuple(r for r in reasons if r in RULE_NAMES))


def published(materials: list[Material]) -> list[Material]:
    return [m for m in materials if m.kind == "practice" and m.status == "active"]
