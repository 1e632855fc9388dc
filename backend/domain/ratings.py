"""Ratings and the resolved mark: the customer rates an ended chat (1-5 stars, an optional
comment), the rep marks a chat resolved; each once, through lua/outcome.lua, which also counts
the chat's success in the rep's results under the rule set that routed it (core/results.py
decides). The rep's consoles see either as it happens; matching reads the results back
(``results``), so rankings follow them without a restart."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from backend.core import frames
from backend.core import results as core
from backend.core.matching import Results
from backend.domain.chat import ChatError
from backend.domain.push import Hub
from backend.store import Client, keys
from backend.store.scripts import Refused, Scripts

if TYPE_CHECKING:  # practices reads the matching rule sets, which read the results here
    from backend.domain.practices import Practices


async def results(redis: Client, site: str, rule_set: str, rids: list[str]) -> dict[str, Results]:
    """Each rep's results under one rule set (none yet: zeros)."""
    if not rids:
        return {}
    fields = [keys.result_field(rid, what) for rid in rids for what in (keys.RESULT_CHATS, keys.RESULT_OK)]
    values = await redis.hmget(keys.results(site, rule_set), fields)
    return {rid: Results(int(values[2 * i] or 0), int(values[2 * i + 1] or 0)) for i, rid in enumerate(rids)}


class Ratings:
    def __init__(self, scripts: Scripts, hub: Hub, practices: "Practices | None" = None,
                 window_s: int = core.WINDOW_S) -> None:
        self.scripts = scripts
        self.hub = hub
        self.practices = practices  # the materials used in a rated chat share its rating
        self.window_ms = window_s * 1000

    async def _run(self, site: str, chat_id: str, action: str, who: str, **rating: Any) -> tuple[bool, str]:
        try:
            return await self.scripts.outcome(site, chat_id[:64], action, who, int(time.time() * 1000),
                                              self.window_ms, **rating)
        except Refused as exc:
            raise ChatError(core.REFUSALS.get(exc.code, exc.code)) from None

    async def rate(self, site: str, vid: str, chat_id: object, stars: object, comment: object) -> None:
        """The customer's rating of their ended chat, once; the rep's consoles show it.
        ChatError says why not."""
        problem = core.rating_problem(stars, comment)
        if problem:
            raise ChatError(problem)
        if not isinstance(chat_id, str) or not chat_id:
            raise ChatError("say which chat you rate")
        text = core.clean_comment(comment)
        _, rep = await self._run(site, chat_id, "rate", vid, stars=stars, comment=text)
        if self.practices:
            await self.practices.rated(site, chat_id, stars)  # type: ignore[arg-type]
        await self.hub.send(keys.rep_channel(site, rep), frames.rated(chat_id, stars, text))  # type: ignore[arg-type]

    async def resolve(self, site: str, chat_id: str, rid: str) -> None:
        """The rep marks their chat resolved, once. ChatError says why not."""
        await self._run(site, chat_id, "resolve", rid)
        await self.hub.send(keys.rep_channel(site, rid), frames.resolved(chat_id))
