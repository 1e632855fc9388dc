"""Lua scripts, called by SHA (redis-py loads them again after a SCRIPT FLUSH or a restart),
each behind a typed wrapper that builds its KEYS (from ``keys``) and ARGV.

One return convention: every script returns a JSON object; a refusal is
``{"error": "<code>"}`` and its wrapper raises ``Refused(code)``. A script may pull in a
shared piece of Lua from ``lua/lib/`` with a ``--#include NAME`` line.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from backend.core import counters
from backend.core.models import Offer, OfferMade, Parties, Scored, Slots
from backend.store import keys
from backend.store.lane import Lanes
from backend.store.replicated import eval_then_wait

LUA_DIR = Path(__file__).parent / "lua"
_INCLUDE = re.compile(r"^--#include (\w+)$", re.MULTILINE)


@cache
def source(name: str) -> str:
    text = (LUA_DIR / f"{name}.lua").read_text()
    return _INCLUDE.sub(lambda m: (LUA_DIR / "lib" / f"{m.group(1)}.lua").read_text(), text)


class Refused(Exception):
    """A script declined (the chat was taken, the offer is gone, ...): ``code`` says why."""

    def __init__(self, code: str, **detail: Any) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


def decode(raw: Any) -> dict[str, Any]:
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise TypeError("a Lua script returned something other than a JSON object")
    if "error" in data:
        code = data.pop("error")
        raise Refused(code, **data)
    return data


def offer_from(raw: dict[str, Any]) -> Offer:
    return Offer(id=raw["id"], kind=raw["kind"], variant=raw["variant"], short=bool(raw["short"]),
                 deadline_ms=int(raw["deadline"]))


COUNTER_TTL_S = 400 * 86400  # the daily counters' lifetime, unless Settings say otherwise


@dataclass(frozen=True)
class IngestLimits:
    """What the ingest script is told besides the events (from Settings and scoring)."""

    ttl_s: int
    rate_visitor_per_min: int
    rate_ip_per_min: int
    default_rules_json: str
    trail_max: int
    errors_max: int
    fields_max: int
    dwell_slack_ms: int
    counter_ttl_s: int = COUNTER_TTL_S


# That a visitor needed help is kept this long past the visit (keys.needed): the longest
# attribution window (core/attribution.py), and a day to spare.
NEEDED_KEPT_S = 31 * 86_400


def ingest_args(limits: IngestLimits, vid: str, events: list[dict[str, Any]], now_ms: int, presented: str = "",
                fresh: str = "", site: str = "", holdout_share: float = 0.0) -> list[Any]:
    """``site`` and ``holdout_share`` decide the visitor's arm (core/counters.py:arm)."""
    return [now_ms, limits.ttl_s, limits.rate_visitor_per_min, limits.rate_ip_per_min, json.dumps(events),
            limits.default_rules_json, limits.trail_max, limits.errors_max, limits.fields_max, vid,
            limits.dwell_slack_ms, presented, fresh or secrets.token_urlsafe(18), site, repr(float(holdout_share)),
            limits.counter_ttl_s, NEEDED_KEPT_S, counters.PAGES_MAX]


def scored_from(data: dict[str, Any]) -> Scored:
    return Scored(score=float(data["score"]), needs=bool(data["needs"]), newly=bool(data["newly"]),
                  watch=bool(data["watch"]), offer=offer_from(data["offer"]) if data.get("offer") else None,
                  reasons=json.loads(data["reasons"]), token=data.get("tok"),
                  chat=data.get("chat") or None)


@dataclass(frozen=True)
class Said:
    """A stored chat message: its stream id, whether the client id had been seen (a resend),
    who is in the chat (read in the same round trip, to publish it to them), and how many
    replicas confirmed they have it (when that was asked for)."""

    id: str
    duplicate: bool
    parties: Parties
    replicas: int = 0


@dataclass(frozen=True)
class PageWindows:
    """How long a page counts as open (core/policy.py:page_present)."""

    live_ms: int
    grace_ms: int
    socket_ms: int

    def args(self) -> list[int]:
        return [self.live_ms, self.grace_ms, self.socket_ms]


@dataclass(frozen=True)
class Dispatched:
    """What dispatch.lua wrote: the targets (best first), the stage, whether every eligible
    rep has the request, when it widens next, whether the targets changed; with ``explain``,
    the whole ranking as (rep, score, ((rule, weight, score, contribution), ...)), exact."""

    targets: tuple[str, ...]
    stage: int
    final: bool
    escalate_at_ms: int | None
    changed: bool
    ranked: tuple[tuple[str, float, tuple[tuple[str, float, float, float], ...]], ...] = ()


def dispatched_from(data: dict[str, Any]) -> Dispatched:
    ranked = tuple((r["id"], float(r["score"]), tuple((p[0], float(p[1]), float(p[2]), float(p[3]))
                                                       for p in (r["parts"] or [])))
                   for r in (data.get("ranked") or []))
    return Dispatched(tuple(json.loads(data["targets"])), int(data["stage"]), bool(data["final"]),
                      int(data["escalate_at"]) if data["escalate_at"] else None, bool(data["changed"]), ranked)


class Scripts:
    """Every script, registered on one client."""

    def __init__(self, client: aioredis.Redis, counter_ttl_s: int = COUNTER_TTL_S) -> None:
        self.client = client
        self.counter_ttl_s = counter_ttl_s  # the day hashes the scripts count in live this long

        def load(name: str) -> AsyncScript:
            return client.register_script(source(name))

        self._ingest = load("ingest")
        self.lanes = Lanes(client)  # the collector's call, on a pipelined connection
        self._broker = load("broker")
        self._availability = load("availability")
        self._withdraw = load("withdraw")
        self._respond = load("respond")
        self._claim = load("claim")
        self._end_chat = load("end_chat")
        self._transfer = load("transfer")
        self._say = load("say")
        self._expire_requests = load("expire_requests")
        self._dispatch = load("dispatch")
        self._outcome = load("outcome")

    async def ingest(self, site: str, vid: str, ip: str, events: list[dict[str, Any]], now_ms: int,
                     limits: IngestLimits, presented_token: str, holdout_share: float) -> Scored:
        """Rate limits, fold, score, and the holdout split at first need: one atomic round
        trip. Refused('limited', retry=s)."""
        names = keys.ingest(site, vid, ip, now_ms // 60_000, counters.day(now_ms))
        raw = await self.lanes.evalsha(self._ingest, names,
                                       ingest_args(limits, vid, events, now_ms, presented_token, site=site,
                                                   holdout_share=holdout_share))
        return scored_from(decode(raw))

    async def availability(self, site: str, now_ms: int, presence_ms: int) -> Slots:
        data = decode(await self._availability(keys=keys.availability(site),
                                               args=[now_ms, presence_ms, *keys.load_prefixes(site)]))
        return Slots(**{k: int(v) for k, v in data.items()})

    async def broker(self, site: str, now_ms: int, presence_ms: int, aht_s: float, acceptable_s: float,
                     timeout_ms: int, settings_json: str, max_candidates: int, windows: PageWindows,
                     id_base: str, pools_json: str = "") -> list[OfferMade]:
        """``pools_json``: core/offer_pools.py:Pools.as_json(), or "" where anyone may answer anyone."""
        raw = await self._broker(
            keys=keys.broker(site, counters.day(now_ms)),
            args=[now_ms, presence_ms, aht_s, acceptable_s, timeout_ms, *keys.broker_prefixes(site), settings_json,
                  max_candidates, *windows.args(), id_base, *keys.load_prefixes(site), pools_json,
                  self.counter_ttl_s],
        )
        return [OfferMade(m["vid"], offer_from(m)) for m in decode(raw)["made"]]

    async def withdraw(self, site: str, vid: str, now_ms: int, cooldown_s: int) -> str | None:
        """The id of the offer withdrawn, or None (not due yet, or already gone)."""
        raw = await self._withdraw(keys=keys.withdraw(site, vid),
                                   args=[vid, vid, now_ms, cooldown_s])
        return decode(raw).get("withdrawn")

    async def respond(self, site: str, vid: str, offer_id: str, action: str, now_ms: int, cooldown_s: int,
                      req_id: str, visitor_ttl_s: int, chat_ttl_s: int, targets: str = "*") -> str | None:
        """accept | dismiss | message; the new request's id on accept, offered to ``targets``
        ("*": everyone; "[]": nobody until dispatched). Refused('gone' | 'kind')."""
        raw = await self._respond(
            keys=keys.respond(site, vid, req_id, counters.day(now_ms)),
            args=[vid, offer_id, action, now_ms, cooldown_s, req_id, vid,
                  keys.SAMPLES_KEPT, visitor_ttl_s, chat_ttl_s, targets, self.counter_ttl_s],
        )
        return decode(raw).get("request")

    async def claim(self, site: str, chat_id: str, rid: str, now_ms: int, chat_ttl_s: int) -> None:
        """Refused('taken' | 'gone' | 'not-offered' | 'full')."""
        decode(await self._claim(keys=keys.claim(site, chat_id, rid, counters.day(now_ms)),
                                 args=[chat_id, rid, now_ms, keys.SAMPLES_KEPT, keys.request(site, ""),
                                       chat_ttl_s, self.counter_ttl_s]))

    async def dispatch(self, site: str, req_id: str, action: str, now_ms: int, presence_ms: int,
                       off_duty: list[str], spec_json: str = "", rid: str = "", explain: bool = False) -> Dispatched:
        """route | escalate | left | refresh (lua/dispatch.lua). Refused('gone' | 'unranked' |
        'not-due' | 'untouched')."""
        raw = await self._dispatch(keys=keys.dispatch(site, req_id),
                                   args=[req_id, now_ms, presence_ms, *keys.dispatch_prefixes(site), action,
                                         spec_json, json.dumps(off_duty), rid, int(explain),
                                         keys.results_prefix(site), keys.accreditations(site, "")])
        return dispatched_from(decode(raw))

    async def end_chat(self, site: str, chat_id: str, rid: str, vid: str, now_ms: int, by: str,
                       retention_s: int, cooldown_s: int) -> str:
        """The status the chat had ('waiting' | 'active'). Refused('gone' | 'ended')."""
        raw = await self._end_chat(keys=keys.end_chat(site, chat_id, rid, vid, counters.day(now_ms)),
                                   args=[chat_id, now_ms, by, keys.SAMPLES_KEPT, retention_s, cooldown_s,
                                         keys.request(site, ""), keys.results_prefix(site), self.counter_ttl_s])
        return str(decode(raw)["was"])

    async def outcome(self, site: str, chat_id: str, action: str, who: str, now_ms: int, window_ms: int,
                      stars: int = 0, comment: str = "") -> tuple[bool, str]:
        """rate (``who``: the visitor) | resolve (``who``: the rep), once (lua/outcome.lua);
        whether the chat now counted as a success, and its rep. Refused(a code of
        core/results.py:REFUSALS)."""
        raw = await self._outcome(keys=keys.outcome(site, chat_id, counters.day(now_ms)),
                                  args=[action, who, now_ms, window_ms, stars, comment, keys.results_prefix(site),
                                        self.counter_ttl_s])
        data = decode(raw)
        return bool(data["success"]), str(data["rep"])

    async def transfer(self, site: str, chat_id: str, from_rid: str, to_rid: str, now_ms: int) -> None:
        """Refused('not-yours' | 'full')."""
        decode(await self._transfer(keys=keys.transfer(site, chat_id, from_rid, to_rid),
                                    args=[chat_id, from_rid, to_rid, keys.request(site, ""), now_ms]))

    async def say(self, site: str, chat_id: str, client_id: str, kept: int, chat_ttl_s: int,
                  fields: dict[str, str], replicas: int = 0, timeout_ms: int = 0) -> Said:
        """Refused('ended'). The chat lives ``chat_ttl_s`` from now. With ``replicas``, the
        answer waits (up to ``timeout_ms``) until that many replicas have the message too."""
        pairs: list[str] = []
        for k, v in fields.items():
            pairs += [k, v]
        names, args = keys.say(site, chat_id), [client_id, kept, chat_ttl_s, *pairs]
        if replicas > 0:
            raw, confirmed = await eval_then_wait(self.client, self._say, names, args, replicas, timeout_ms)
        else:
            raw, confirmed = await self._say(keys=names, args=args), 0
        data = decode(raw)
        return Said(data["id"], bool(data.get("dup")),
                    Parties(chat_id, data["visitor"], data["rep"], data["status"]), confirmed)

    async def expire_requests(self, site: str, now_ms: int, windows: PageWindows, retention_s: int,
                              max_checked: int) -> list[str]:
        """Waiting requests whose page is gone, now ended as 'abandoned'."""
        raw = await self._expire_requests(
            keys=keys.expire_requests(site),
            args=[now_ms, *keys.expire_requests_prefixes(site), *windows.args(), retention_s, max_checked],
        )
        return list(decode(raw)["expired"])
