"""The chat service. A chat is the request the customer made by clicking HELP: waiting ->
active (a representative accepted, atomically) -> ended. Messages live in a Redis stream,
so a page that reconnects resumes from the last id it saw, with nothing lost or doubled."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis

from backend.domain import visitors
from backend.domain.push import Hub
from backend.domain.reps import Reps
from backend.store import keys
from backend.store.scripts import Scripts

TEXT_MAX = 2000
MESSAGES_KEPT = 2000
RETENTION_S = 30 * 86400
SAMPLES_KEPT = 100
KINDS = ("text", "link", "callback", "system")


class ChatError(ValueError):
    """Something the caller asked for cannot be done; the message says why, for people."""


def message_json(msg_id: str, fields: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": msg_id, **fields}
    out["ts"] = int(fields.get("ts", 0))
    return out


def check_link(url: Any, origins: frozenset[str]) -> str:
    """Only pages of the site itself may be pushed to its customers."""
    if not isinstance(url, str) or len(url) > 2048:
        raise ChatError("a link must be a URL of at most 2048 characters")
    parts = urlsplit(url.strip())
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    if parts.scheme not in ("http", "https") or origin not in origins:
        raise ChatError("only pages of this site can be sent: " + ", ".join(sorted(origins)))
    return url.strip()


class Chats:
    def __init__(self, redis: aioredis.Redis, scripts: Scripts, hub: Hub, reps: Reps, visitor_ttl_s: int) -> None:
        self.redis = redis
        self.scripts = scripts
        self.hub = hub
        self.reps = reps
        self.visitor_ttl_s = visitor_ttl_s

    # --- reading ---------------------------------------------------------------------

    async def get(self, site: str, cid: str) -> dict[str, Any] | None:
        raw = await self.redis.hgetall(keys.request(site, cid))
        if not raw:
            return None
        out: dict[str, Any] = {
            "id": cid, "visitor": raw["vid"], "status": raw["status"], "created": int(raw["created"]),
            "score": float(raw.get("score", 0)), "reasons": json.loads(raw.get("reasons", "[]")),
            "url": raw.get("url", ""), "rep": raw.get("rep", ""), "targets": raw.get("targets", "*"),
            "must_contact": raw.get("must_contact") == "1",
            "accepted": int(raw.get("accepted", 0) or 0), "ended": int(raw.get("ended", 0) or 0),
            "callback": json.loads(raw["callback"]) if raw.get("callback") else None,
        }
        if out["rep"]:
            rep = await self.reps.get(site, out["rep"])
            out["rep_name"] = rep.name if rep else ""
        return out

    async def with_visitor(self, site: str, chat: dict[str, Any]) -> dict[str, Any]:
        """The chat and everything the representative should see beside it."""
        detail = await visitors.detail(self.redis, site, chat["visitor"])
        return {**chat, "visitor_detail": detail}

    def visible_to(self, chat: dict[str, Any], rid: str) -> bool:
        targets = chat["targets"]
        return targets in ("", "*") or rid in json.loads(targets)

    async def queue(self, site: str, rid: str) -> list[dict[str, Any]]:
        """Waiting requests this representative may accept, oldest first, with details."""
        out = []
        for cid in await self.redis.zrange(keys.requests(site), 0, 199):
            chat = await self.get(site, cid)
            if chat and chat["status"] == "waiting" and self.visible_to(chat, rid):
                out.append(await self.with_visitor(site, chat))
        return out

    async def of_rep(self, site: str, rid: str) -> list[dict[str, Any]]:
        out = []
        for cid in sorted(await self.redis.smembers(keys.rep_chats(site, rid))):
            chat = await self.get(site, cid)
            if chat and chat["status"] == "active":
                out.append(await self.with_visitor(site, chat))
        return out

    async def history(self, site: str, cid: str, after: str = "0") -> list[dict[str, Any]]:
        start = f"({after}" if after not in ("", "0", "-") else "-"
        rows = await self.redis.xrange(keys.messages(site, cid), start, "+", count=MESSAGES_KEPT)
        return [message_json(i, f) for i, f in rows]

    async def of_visitor(self, site: str, vid: str, query: str = "") -> list[dict[str, Any]]:
        """A visitor's chats, newest first, with transcripts; ``query`` filters by text."""
        out = []
        q = query.strip().lower()
        for cid in await self.redis.lrange(keys.visitor_chats(site, vid), 0, 99):
            chat = await self.get(site, cid)
            if not chat:
                continue
            messages = await self.history(site, cid)
            if q and not any(q in m.get("text", "").lower() for m in messages):
                continue
            out.append({**chat, "messages": messages})
        return out

    # --- changing --------------------------------------------------------------------

    async def announce(self, site: str) -> None:
        """Every console of the site refreshes its queue."""
        await self.hub.send(keys.console_channel(site), {"type": "queue"})

    async def _to_both(self, site: str, chat: dict[str, Any], message: dict[str, Any]) -> None:
        await self.hub.publish(site, chat["visitor"], message)
        if chat["rep"]:
            await self.hub.send(keys.rep_channel(site, chat["rep"]), message)

    async def _parties(self, site: str, cid: str) -> dict[str, Any] | None:
        """Just who is in the chat, in one command: every message needs this, not the rest."""
        vid, rep, status = await self.redis.hmget(keys.request(site, cid), "vid", "rep", "status")
        return {"visitor": vid, "rep": rep or "", "status": status} if vid else None

    async def target(self, site: str, cid: str, rids: list[str] | None, must_contact: bool = False) -> None:
        """Offer a waiting request to some representatives (None: to all)."""
        chat = await self.get(site, cid)
        if not chat or chat["status"] != "waiting":
            raise ChatError("this request is no longer waiting")
        await self.redis.hset(keys.request(site, cid), mapping={
            "targets": "*" if not rids else json.dumps(sorted(set(rids))), "must_contact": int(must_contact)})
        await self.announce(site)

    async def accept(self, site: str, cid: str, rid: str) -> dict[str, Any]:
        result = await self.scripts.claim(
            keys=[keys.request(site, cid), keys.requests(site), keys.load(site), keys.capacity(site),
                  keys.accepted_waits(site), keys.rep_chats(site, rid)],
            args=[cid, rid, int(time.time() * 1000), SAMPLES_KEPT],
        )
        if result != "ok":
            raise ChatError({
                "taken": "another representative already took this request",
                "gone": "this request no longer exists",
                "not-offered": "this request was offered to someone else",
                "full": "you are at your chat capacity; end a chat first",
            }.get(result, result))
        chat = await self.get(site, cid)
        assert chat is not None
        await self.hub.publish(site, chat["visitor"], {"type": "chat", "id": cid, "status": "active",
                                                      "rep": chat.get("rep_name", "")})
        await self.hub.send(keys.rep_channel(site, rid), {"type": "chat-open", "id": cid})
        await self.announce(site)
        await self.say(site, cid, "system", "", f"{chat.get('rep_name') or 'A representative'} joined the chat.")
        return chat

    async def say(self, site: str, cid: str, sender: str, name: str, text: str, kind: str = "text",
                  client_id: str = "", **extra: str) -> dict[str, Any]:
        if kind not in KINDS:
            raise ChatError(f"unknown message kind {kind!r}")
        text = text.strip() if isinstance(text, str) else ""
        if not text and kind == "text":
            raise ChatError("an empty message was not sent")
        if len(text) > TEXT_MAX:
            raise ChatError(f"a message may have at most {TEXT_MAX} characters")
        if len(client_id) > 64:
            raise ChatError("client id too long")
        fields = {"from": sender, "name": name[:100], "text": text, "kind": kind, "ts": str(int(time.time() * 1000)),
                  **{k: str(v)[:2048] for k, v in extra.items()}}
        pairs: list[str] = []
        for k, v in fields.items():
            pairs += [k, v]
        raw = await self.scripts.say(
            keys=[keys.messages(site, cid), keys.client_ids(site, cid), keys.request(site, cid)],
            args=[client_id, MESSAGES_KEPT, *pairs],
        )
        result = json.loads(raw)
        if "error" in result:
            raise ChatError("this chat has ended")
        msg = message_json(result["id"], fields)
        if client_id:
            msg["cid"] = client_id
        if not result.get("dup"):
            chat = await self._parties(site, cid)
            if chat:
                await self._to_both(site, chat, {"type": "msg", "chat": cid, "msg": msg})
        return msg

    async def typing(self, site: str, cid: str, sender: str) -> None:
        chat = await self._parties(site, cid)
        if chat and chat["status"] == "active":
            await self._to_both(site, chat, {"type": "typing", "chat": cid, "from": sender})

    async def callback(self, site: str, cid: str, phone: str, when: str) -> dict[str, Any]:
        """The customer would rather be called: handed to the representative as a message."""
        phone = phone.strip() if isinstance(phone, str) else ""
        when = when.strip() if isinstance(when, str) else ""
        digits = sum(c.isdigit() for c in phone)
        if not 6 <= digits <= 20 or len(phone) > 32 or any(c not in "0123456789 +-()./" for c in phone):
            raise ChatError("please give a phone number, digits and + - ( ) only")
        if len(when) > 100:
            raise ChatError("the time may have at most 100 characters")
        await self.redis.hset(keys.request(site, cid), "callback", json.dumps({"phone": phone, "when": when}))
        return await self.say(site, cid, "visitor", "", f"Please call me back at {phone}" +
                              (f", {when}" if when else "") + ".", kind="callback", phone=phone, when=when)

    async def end(self, site: str, cid: str, by: str, cooldown_s: float) -> None:
        chat = await self.get(site, cid)
        if chat is None:
            raise ChatError("this chat no longer exists")
        if chat["status"] == "active":
            who = "The customer" if by == "visitor" else (chat.get("rep_name") or "The representative")
            await self.say(site, cid, "system", "", f"{who} ended the chat.")
        result = await self.scripts.end_chat(
            keys=[keys.request(site, cid), keys.requests(site), keys.load(site), keys.rep_chats(site, chat["rep"]),
                  keys.handle_times(site), keys.messages(site, cid), keys.client_ids(site, cid),
                  keys.visitor(site, chat["visitor"]), keys.cooldown(site, chat["visitor"])],
            args=[cid, int(time.time() * 1000), by, SAMPLES_KEPT, RETENTION_S, int(cooldown_s)],
        )
        if result == "ok":
            await self._to_both(site, chat, {"type": "ended", "chat": cid, "by": by})
            await self.announce(site)

    async def transfer(self, site: str, cid: str, from_rid: str, to_rid: str) -> None:
        target = await self.reps.get(site, to_rid)
        if target is None or target.status != "available":
            raise ChatError("that representative is not available")
        result = await self.scripts.transfer(
            keys=[keys.request(site, cid), keys.load(site), keys.capacity(site), keys.rep_chats(site, from_rid),
                  keys.rep_chats(site, to_rid)],
            args=[cid, from_rid, to_rid],
        )
        if result != "ok":
            raise ChatError({"not-yours": "this chat is not yours to transfer",
                             "full": "that representative has no free slot"}.get(result, result))
        await self.hub.send(keys.rep_channel(site, from_rid), {"type": "chat-closed", "id": cid})
        await self.hub.send(keys.rep_channel(site, to_rid), {"type": "chat-open", "id": cid})
        await self.say(site, cid, "system", "", f"{target.name} took over the chat.")
        await self.hub.publish(site, (await self.get(site, cid) or {}).get("visitor", ""),
                               {"type": "chat", "id": cid, "status": "active", "rep": target.name})
