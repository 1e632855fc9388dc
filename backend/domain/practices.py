"""Best practices in use (issue 12): what each chat used from the materials library, the
outcomes that followed, and the suggestions beside the next chat (core/practices.py decides
what suits and how it ranks; core/ranking.py does the statistics).

A use is counted once per chat and material, under every facet of the chat's context at that
moment (its product, category, reasons, service point, language, rep). The chat's outcomes
reach the materials it used as they arrive, each once: its first credited sale (later orders
of the same customer add revenue only; domain/attribution.py calls ``sold``), its rating
(domain/ratings.py calls ``rated``). So the next suggestion already reads them: the ranking
updates with every outcome, with no batch job.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from decimal import Decimal

import redis.asyncio as aioredis

from backend.core import practices as core
from backend.core.currencies import to_minor
from backend.core.materials import Material
from backend.core.models import Chat
from backend.core.practices import Context, Record, Suggestion
from backend.core.validation import split_url
from backend.domain.materials import Materials
from backend.domain.matching import Matching, session_facts
from backend.domain.sites import Sites
from backend.domain.visitors import Visitors
from backend.store import keys
from backend.store.keys import MaterialUsesHash as U, ProfileHash as P

FACETS_MAX = 2000  # facets counted per site; a use's other facets still count under "*"
USES_TTL_S = 31 * 86400 + 86400  # the longest attribution window (30 days) and a chat's day


@dataclass(frozen=True)
class Used:
    """A material used in a chat, and the facets it counted under."""

    material: str
    facets: tuple[str, ...]


class Practices:
    def __init__(self, redis: aioredis.Redis, materials: Materials, visitors: Visitors, matching: Matching,
                 sites: Sites) -> None:
        self.redis = redis
        self.materials = materials
        self.visitors = visitors
        self.matching = matching
        self.sites = sites
        self.rng = random.Random()

    # --- the conversation's context ------------------------------------------------------

    async def context(self, site: str, chat: Chat) -> Context:
        """What is known of the chat now: the customer's page (else the page they asked
        from), the reasons they needed help, their language, and the rep."""
        found = await self.sites.get(site)
        detail = await self.visitors.detail(site, chat.visitor) or {"url": chat.url}
        facts = session_facts(found, await self.matching.rule_sets(site), detail) if found else None
        prof: dict[str, str] = detail.get("profile") or {}
        values = {"customer_name": prof.get(P.NAME, ""), "rep_name": chat.rep_name,
                  "site_name": found.name if found else ""}
        if facts is None:
            parts = split_url(chat.url)
            return Context(path=(parts.path if parts else "") or "/", rep=chat.rep, values=values)
        values.update(product=facts.product, category=facts.category)
        reasons = tuple(str(r.get("rule")) for r in chat.reasons if isinstance(r, dict) and r.get("rule"))
        return Context(product=facts.product, category=facts.category, path=facts.path, reasons=reasons,
                       service_point=facts.service_point, language=facts.language, rep=chat.rep, values=values)

    # --- uses and outcomes ------------------------------------------------------------------

    async def record_use(self, site: str, chat: Chat, material: Material) -> bool:
        """Count the material as used in the chat, once (False when it was already)."""
        if await self.redis.hexists(keys.material_uses(site, chat.id), material.id):
            return False  # counted: no context read, no facet added that nothing counts under
        ctx = await self.context(site, chat)
        counted = await self._countable(site, core.facets(ctx))
        key = keys.material_uses(site, chat.id)
        if not await self.redis.hsetnx(key, material.id, json.dumps(counted)):
            return False
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.expire(key, USES_TTL_S)
            for f in counted:
                pipe.hincrby(keys.material_stats(site, f), f"{material.id}|{core.USES}", 1)
            await pipe.execute()
        return True

    async def _countable(self, site: str, found: list[str]) -> list[str]:
        """The facets that may be counted: those known already, and new ones while the site
        has room (a page map or service points without end must not grow Redis without end)."""
        key = keys.material_facets(site)
        async with self.redis.pipeline(transaction=False) as pipe:
            for f in found:
                pipe.sismember(key, f)
            pipe.scard(key)
            *known, size = await pipe.execute()
        new = [f for f, k in zip(found, known) if not k][:max(FACETS_MAX - size, 0)]
        if new:
            await self.redis.sadd(key, *new)
        return [f for f, k in zip(found, known) if k or f in new]

    async def used(self, site: str, chat_id: str) -> list[Used]:
        raw = await self.redis.hgetall(keys.material_uses(site, chat_id))
        out = []
        for mid, value in raw.items():
            if mid.startswith("!"):
                continue
            try:
                found = json.loads(value)
            except ValueError:
                continue
            if isinstance(found, list):
                out.append(Used(mid, tuple(str(f) for f in found)))
        return out

    async def sold(self, site: str, chat_id: str, value: Decimal, currency: str) -> None:
        """A sale credited to the chat: the first counts as a sale of every material used in
        it, every one adds its revenue."""
        uses = await self.used(site, chat_id)
        if not uses:
            return
        first = await self.redis.hsetnx(keys.material_uses(site, chat_id), U.SOLD, int(time.time() * 1000))
        amount = to_minor(value, currency)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.sadd(keys.material_currencies(site), currency)
            for use in uses:
                for f in use.facets:
                    if first:
                        pipe.hincrby(keys.material_stats(site, f), f"{use.material}|{core.SALES}", 1)
                    pipe.hincrby(keys.material_stats(site, f), f"{use.material}|{core.REV}|{currency}", amount)
            await pipe.execute()

    async def rated(self, site: str, chat_id: str, stars: int) -> None:
        """The customer's rating of the chat, once, for every material used in it."""
        uses = await self.used(site, chat_id)
        if not uses or not await self.redis.hsetnx(keys.material_uses(site, chat_id), U.RATED, stars):
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for use in uses:
                for f in use.facets:
                    pipe.hincrby(keys.material_stats(site, f), f"{use.material}|{core.RATINGS}", 1)
                    pipe.hincrby(keys.material_stats(site, f), f"{use.material}|{core.STARS}", stars)
            await pipe.execute()

    async def records(self, site: str, facet: str) -> dict[str, Record]:
        return core.records(await self.redis.hgetall(keys.material_stats(site, facet)))

    async def facets(self, site: str) -> list[str]:
        return sorted(await self.redis.smembers(keys.material_facets(site)))

    # --- suggestions -------------------------------------------------------------------------

    async def suggestions(self, site: str, chat: Chat, query: str = "", k: int = core.SUGGESTED) -> list[Suggestion]:
        """Beside the chat: the top ``k`` materials that suit its context, by a Thompson draw
        (new ones get tried); with a ``query``, the best matches in the whole library, by
        their estimate."""
        ctx = await self.context(site, chat)
        library = [m for m in await self.materials.list(site) if m.kind in ("reply", "link", "document")]
        if query.strip():
            found = [m for m in library if core.matches(m, query)]
            k, rng = max(k, core.SEARCH_MAX), None
        else:
            found, rng = [m for m in library if core.suits(m.tags, ctx)], self.rng
        where = core.similar(ctx)
        everywhere, here = await self._records_of(site, [m.id for m in found], (core.ALL, where))
        return core.rank(ctx, found, here, everywhere, where, rng, k)

    async def _records_of(self, site: str, mids: list[str], facets: tuple[str, str]) -> tuple[
            dict[str, Record], dict[str, Record]]:
        """The counts of these materials only, under two facets: the fields asked for by name,
        not the whole hash (a library of 2,000 has some 8,000 fields under "*")."""
        currencies = sorted(await self.redis.smembers(keys.material_currencies(site)))
        names = [f"{mid}|{c}" for mid in mids for c in (core.USES, core.SALES, core.RATINGS, core.STARS)]
        names += [f"{mid}|{core.REV}|{cur}" for mid in mids for cur in currencies]
        if not names:
            return {}, {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for f in dict.fromkeys(facets):
                pipe.hmget(keys.material_stats(site, f), names)
            got = await pipe.execute()
        found = [core.records({n: v for n, v in zip(names, values) if v is not None}) for values in got]
        return found[0], found[-1]
