"""The chat service. A chat is the request the customer made by clicking HELP: waiting ->
active (a representative accepted, atomically) -> ended. Messages live in a Redis stream,
so a page that reconnects resumes from the last id it saw, with nothing lost or doubled."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

import redis.asyncio as aioredis

from backend.core import counters, frames
from backend.core.models import Callback, Chat, Parties
from backend.core.validation import NOT_TEXT, is_text, split_url
from backend.core.validation import EMAIL_RE
from backend.domain.jobs import Jobs
from backend.domain.push import Hub
from backend.domain.reps import Reps
from backend.domain.touches import Touches
from backend.domain.visitors import Visitors
from backend.store import keys
from backend.store.keys import MessageFields as M, RequestHash as R, VisitorHash
from backend.store.scripts import Refused, Scripts

log = logging.getLogger("beckon.chat")

TEXT_MAX = 2000
TRANSCRIPT_WINDOW_S = 86400
TRANSCRIPTS_PER_VISITOR = 3  # in the window
TRANSCRIPTS_PER_ADDRESS = 5
MESSAGES_KEPT = 2000
RETENTION_S = 30 * 86400
# document: a document of the materials library, as a card with a signed download link (url,
# title, filename, size, content_type; domain/materials.py:Materials.outgoing)
KINDS = ("text", "link", "callback", "system", "document")
REFUSALS = {
    "taken": "another representative already took this request",
    "gone": "this request no longer exists",
    "not-offered": "this request was offered to someone else",
    "full": "you are at your chat capacity; end a chat first",
    "not-yours": "this chat is not yours to transfer",
    "ended": "this chat has ended",
}


# A message that may or may not be kept is sent again by its sender after this long.
RESEND_AFTER_MS = 1000
UNCONFIRMED_LOG_EVERY_S = 60.0


class ChatError(ValueError):
    """Something the caller asked for cannot be done; the message says why, for people."""


class Unconfirmed(Exception):
    """Fewer replicas than asked for confirmed a message in time (a replica lags, or its master
    is failing over): it is stored, but could still be lost, so it is neither acknowledged nor
    shown. Its sender sends it again with the same client id, which keeps it once; that
    resend is shown, once the replicas have it."""


def refused(exc: Refused, full: str = REFUSALS["full"]) -> ChatError:
    return ChatError(full if exc.code == "full" else REFUSALS.get(exc.code, exc.code))


def message_json(msg_id: str, fields: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": msg_id, **fields}
    out["ts"] = int(fields.get(M.TS, 0))
    return out


def check_link(url: Any, origins: frozenset[str]) -> str:
    """Only pages of the site itself may be pushed to its customers."""
    if not is_text(url) or len(url) > 2048:
        raise ChatError("a link must be a URL of at most 2048 characters")
    parts = split_url(url.strip())
    if parts is None:
        raise ChatError("this link is not a URL that can be read; check its host")
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    if parts.scheme not in ("http", "https") or origin not in origins:
        raise ChatError("only pages of this site can be sent: " + ", ".join(sorted(origins)))
    return url.strip()


def parse_targets(raw: str | None) -> tuple[str, ...] | None:
    """The stored form ("*" or a JSON list) as a tuple (empty: nobody yet, while dispatch
    finds someone); None, everyone, for "*" and anything unreadable."""
    if not raw or raw == "*":
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return tuple(str(v) for v in value) if isinstance(value, list) else None


def parse_why(raw: str | None) -> dict[str, dict[str, Any]]:
    """Each target's score and top contributions (lua/dispatch.lua); unreadable: nothing."""
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    out = {}
    for rid, item in value.items():
        if isinstance(item, dict) and isinstance(item.get("score"), (int, float)):
            top = item.get("top") if isinstance(item.get("top"), list) else []  # Lua writes {} for none
            out[str(rid)] = {"score": item["score"], "top": [list(t) for t in top if isinstance(t, list)]}
    return out


def chat_from(chat_id: str, raw: dict[str, str], rep_name: str = "") -> Chat:
    cb = json.loads(raw[R.CALLBACK]) if raw.get(R.CALLBACK) else None
    return Chat(
        id=chat_id, visitor=raw[R.VISITOR], status=raw[R.STATUS], created=int(raw[R.CREATED]),
        score=float(raw.get(R.SCORE, 0)), reasons=json.loads(raw.get(R.REASONS, "[]")), url=raw.get(R.URL, ""),
        rep=raw.get(R.REP, ""), rep_name=rep_name, targets=parse_targets(raw.get(R.TARGETS)),
        must_contact=raw.get(R.MUST_CONTACT) == "1", accepted=int(raw.get(R.ACCEPTED, 0) or 0),
        ended=int(raw.get(R.ENDED, 0) or 0), ended_by=raw.get(R.ENDED_BY, ""),
        callback=Callback(cb["phone"], cb["when"]) if cb else None,
        rule_set=raw.get(R.RULE_SET, ""), why=parse_why(raw.get(R.WHY)), resolved=bool(raw.get(R.RESOLVED)),
    )


class Chats:
    def __init__(self, redis: aioredis.Redis, scripts: Scripts, hub: Hub, reps: Reps, visitors: Visitors,
                 jobs: Jobs, chat_ttl_s: int = 24 * 3600, replicas: int = 0,
                 replica_timeout_ms: int = 1000) -> None:
        self.redis = redis
        # A chat's parts (request, messages, client ids) expire together this long after its
        # last message; a rep's slot goes with them (lua/lib/slots.lua). Settings.chat_ttl_s.
        self.chat_ttl_s = chat_ttl_s
        # A message counts as said once this many replicas have it (Settings.chat_replicas).
        self.replicas = replicas
        self.replica_timeout_ms = replica_timeout_ms
        self._unconfirmed_logged = -UNCONFIRMED_LOG_EVERY_S
        self.scripts = scripts
        self.hub = hub
        self.reps = reps
        self.visitors = visitors
        self.touches: Touches | None = None  # each visitor's latest help, for attribution
        self.counter_ttl_s = scripts.counter_ttl_s  # the daily counters' lifetime (Settings)
        self.jobs = jobs

    # --- reading ---------------------------------------------------------------------

    async def get(self, site: str, chat_id: str) -> Chat | None:
        raw = await self.redis.hgetall(keys.request(site, chat_id))
        if not raw:
            return None
        rep_name = ""
        if raw.get(R.REP):
            rep = await self.reps.get(site, raw[R.REP])
            rep_name = rep.name if rep else ""
        return chat_from(chat_id, raw, rep_name)

    async def of_page(self, site: str, vid: str, chat_id: str | None = None) -> Chat | None:
        """The visitor's open chat, or the one named (a page asks for its transcript after the
        end); never another visitor's."""
        if chat_id is None:
            chat_id = await self.redis.hget(keys.visitor(site, vid), VisitorHash.REQUEST)
            if not chat_id:
                return None
        chat = await self.get(site, chat_id[:64])
        return chat if chat and chat.visitor == vid else None

    async def catch_up(self, site: str, vid: str) -> list[dict[str, Any]]:
        """What brings a visitor's pages up to date after they may have missed frames (the
        hub was cut off from Redis): the open chat's state and all its messages, which pages
        show once each."""
        chat = await self.of_page(site, vid)
        if chat is None:
            return []
        return [frames.chat(chat), frames.history(chat.id, await self.history(site, chat.id))]

    async def waiting(self, site: str, limit: int = 200) -> list[Chat]:
        """Requests nobody accepted yet, oldest first."""
        out = []
        for chat_id in await self.redis.zrange(keys.requests(site), 0, limit - 1):
            chat = await self.get(site, chat_id)
            if chat and chat.status == "waiting":
                out.append(chat)
        return out

    async def queue(self, site: str, rid: str) -> list[tuple[Chat, dict[str, Any] | None]]:
        """Waiting requests this representative may accept, oldest first, with the visitor."""
        return [(c, await self.visitors.detail(site, c.visitor)) for c in await self.waiting(site)
                if c.visible_to(rid)]

    async def of_rep(self, site: str, rid: str) -> list[Chat]:
        out = []
        for chat_id in sorted(await self.redis.smembers(keys.rep_chats(site, rid))):
            chat = await self.get(site, chat_id)
            if chat and chat.status == "active":
                out.append(chat)
        return out

    async def history(self, site: str, chat_id: str, after: str = "0") -> list[dict[str, Any]]:
        start = f"({after}" if after not in ("", "0", "-") else "-"
        rows = await self.redis.xrange(keys.messages(site, chat_id), start, "+", count=MESSAGES_KEPT)
        return [message_json(i, f) for i, f in rows]

    async def of_visitor(self, site: str, vid: str, query: str = "") -> list[tuple[Chat, list[dict[str, Any]]]]:
        """A visitor's chats, newest first, with transcripts; ``query`` filters by text."""
        out = []
        q = query.strip().lower()
        for chat_id in await self.redis.lrange(keys.visitor_chats(site, vid), 0, 99):
            chat = await self.get(site, chat_id)
            if not chat:
                continue
            messages = await self.history(site, chat_id)
            if q and not any(q in m.get(M.TEXT, "").lower() for m in messages):
                continue
            out.append((chat, messages))
        return out

    async def parties(self, site: str, chat_id: str) -> Parties | None:
        """Who is in a chat and its status: one command, where ``get`` takes two."""
        vid, rep, status = await self.redis.hmget(keys.request(site, chat_id), R.VISITOR, R.REP, R.STATUS)
        return Parties(chat_id, vid, rep or "", status or "") if vid else None

    async def page_parties(self, site: str, vid: str) -> Parties | None:
        """The visitor's open chat, as ``parties``; never another visitor's."""
        chat_id = await self.redis.hget(keys.visitor(site, vid), VisitorHash.REQUEST)
        parties = await self.parties(site, chat_id[:64]) if chat_id else None
        return parties if parties and parties.visitor == vid else None

    # --- changing --------------------------------------------------------------------

    async def announce(self, site: str) -> None:
        """Every console of the site refreshes its queue."""
        await self.hub.send(keys.console_channel(site), frames.queue_changed())

    async def _to_both(self, site: str, parties: Parties | Chat, frame: dict[str, Any]) -> None:
        """One publish reaches the visitor's pages and the rep's consoles."""
        channels = [keys.push_channel(site, parties.visitor)]
        if parties.rep:
            channels.append(keys.rep_channel(site, parties.rep))
        await self.hub.send_many(channels, frame)

    async def visitor_changed(self, site: str, chat_id: str) -> None:
        """The customer in an active chat sent a batch: their representative's consoles refresh
        the details beside it (pushed, so a console reads them only when they change)."""
        parties = await self.parties(site, chat_id)
        if parties and parties.rep and parties.status == "active":
            await self.hub.send(keys.rep_channel(site, parties.rep), frames.visitor_changed(chat_id))

    async def target(self, site: str, chat_id: str, rids: list[str] | None, must_contact: bool = False,
                     keep_dispatch: bool = False) -> Chat:
        """Offer a waiting request to some representatives (None: to all). Unless
        ``keep_dispatch``, matching's dispatch of it stops: a person chose."""
        chat = await self.get(site, chat_id)
        if not chat or chat.status != "waiting":
            raise ChatError("this request is no longer waiting")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.request(site, chat_id), mapping={
                R.TARGETS: "*" if not rids else json.dumps(sorted(set(rids))), R.MUST_CONTACT: int(must_contact)})
            if not keep_dispatch:
                pipe.hdel(keys.request(site, chat_id), R.MATCH, R.WHY, R.RULE_SET)
            await pipe.execute()
        await self.announce(site)
        return chat

    async def no_sale(self, site: str, chat_id: str, rid: str) -> bool:
        """The rep says the chat sold nothing: kept on the chat once, and counted in the rep's
        day (``rep:<rid>:no_sales``); False when it was said before."""
        if not await self.redis.hsetnx(keys.request(site, chat_id), R.OUTCOME, "no_sale"):
            return False
        now = int(time.time() * 1000)
        day = keys.day_counts(site, counters.day(now))
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(day, counters.rep_field(rid, counters.NO_SALES), 1)
            pipe.expire(day, self.counter_ttl_s)
            await pipe.execute()
        return True

    async def claim_alert(self, site: str, chat_id: str) -> bool:
        """True once per request, for whoever alerts the admins that nobody accepted it."""
        return bool(await self.redis.hsetnx(keys.request(site, chat_id), R.ALERTED, int(time.time() * 1000)))

    async def claim_rep_alert(self, site: str, chat_id: str, rid: str) -> bool:
        """True once per request and rep, for whoever mails the rep that it waits for them."""
        key = keys.rep_alerts(site, chat_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(key, rid)
            pipe.expire(key, self.chat_ttl_s)
            added, _ = await pipe.execute()
        return bool(added)

    async def accept(self, site: str, chat_id: str, rid: str) -> Chat:
        try:
            await self.scripts.claim(site, chat_id, rid, int(time.time() * 1000), self.chat_ttl_s)
        except Refused as exc:
            raise refused(exc) from None
        chat = await self.get(site, chat_id)
        assert chat is not None
        if self.touches:
            await self.touches.went_on(site, chat.visitor, "chatted", rid, chat_id)
        await self.hub.publish(site, chat.visitor, frames.chat(chat))
        await self.hub.send(keys.rep_channel(site, rid), frames.chat_open(chat_id))
        await self.announce(site)
        await self.say(site, chat_id, "system", "", f"{chat.rep_name or 'A representative'} joined the chat.")
        return chat

    async def say(self, site: str, chat_id: str, sender: str, name: str, text: Any, kind: str = "text",
                  client_id: str = "", **extra: str) -> dict[str, Any]:
        if kind not in KINDS:
            raise ChatError(f"unknown message kind {kind!r}")
        text = text.strip() if isinstance(text, str) else ""
        if not is_text(text) or not all(is_text(str(v)) for v in extra.values()):
            raise ChatError(f"a message {NOT_TEXT}")
        if not text and kind == "text":
            raise ChatError("an empty message was not sent")
        if len(text) > TEXT_MAX:
            raise ChatError(f"a message may have at most {TEXT_MAX} characters")
        if len(client_id) > 64 or not is_text(client_id):
            raise ChatError("client id too long, or not text")
        fields = {M.FROM: sender, M.NAME: name[:100], M.TEXT: text, M.KIND: kind,
                  M.TS: str(int(time.time() * 1000)), **{k: str(v)[:2048] for k, v in extra.items()}}
        try:
            said = await self.scripts.say(site, chat_id, client_id, MESSAGES_KEPT, self.chat_ttl_s, fields,
                                          self.replicas, self.replica_timeout_ms)
        except Refused as exc:
            raise refused(exc) from None
        if said.replicas < self.replicas:
            self._log_unconfirmed(said.replicas)
            if sender != "system":  # nobody waits for a system line: shown as it is
                raise Unconfirmed(f"{said.replicas} of {self.replicas} replicas confirmed the message")
        msg = message_json(said.id, fields)
        if client_id:
            msg["cid"] = client_id
        # A resend is published too: its first attempt may never have been (unconfirmed, or
        # the worker died before publishing). Pages and consoles drop ids they already have.
        await self._to_both(site, said.parties, frames.message(chat_id, msg))
        return msg

    def _log_unconfirmed(self, got: int) -> None:
        """One line a minute at most: while a shard has no replica every message says so."""
        now = time.monotonic()
        if now - self._unconfirmed_logged >= UNCONFIRMED_LOG_EVERY_S:
            self._unconfirmed_logged = now
            log.warning("a chat message reached %d of %d replicas within %d ms: its sender is asked to send it "
                        "again (BECKON_CHAT_REPLICAS)", got, self.replicas, self.replica_timeout_ms)

    async def typing(self, site: str, chat_id: str, sender: str) -> None:
        parties = await self.parties(site, chat_id)
        if parties and parties.status == "active":
            await self._to_both(site, parties, frames.typing(chat_id, sender))

    async def callback(self, site: str, chat_id: str, phone: Any, when: Any) -> dict[str, Any]:
        """The customer would rather be called: handed to the representative as a message."""
        phone = phone.strip() if isinstance(phone, str) else ""
        when = when.strip() if isinstance(when, str) else ""
        digits = sum(c.isdigit() for c in phone)
        if not 6 <= digits <= 20 or len(phone) > 32 or any(c not in "0123456789 +-()./" for c in phone):
            raise ChatError("please give a phone number, digits and + - ( ) only")
        if len(when) > 100:
            raise ChatError("the time may have at most 100 characters")
        if not is_text(when):
            raise ChatError(f"the time {NOT_TEXT}")
        await self.redis.hset(keys.request(site, chat_id), R.CALLBACK, json.dumps({"phone": phone, "when": when}))
        return await self.say(site, chat_id, "visitor", "", f"Please call me back at {phone}" +
                              (f", {when}" if when else "") + ".", kind="callback", phone=phone, when=when)

    async def transcript(self, site: str, site_name: str, chat: Chat, email: Any) -> None:
        """Mail the chat's transcript to the address the customer gives: once per chat, and a
        few a day per visitor and per address, so a page cannot turn Beckon into a relay that
        mails whatever was typed to anyone."""
        email = email.strip() if isinstance(email, str) else ""
        if not EMAIL_RE.match(email) or not email.isprintable():
            raise ChatError("please give an e-mail address")
        if not await self.redis.hsetnx(keys.request(site, chat.id), R.TRANSCRIPT_TO, email):
            raise ChatError("the transcript of this chat has already been sent")
        digest = hashlib.sha256(email.lower().encode()).hexdigest()[:32]
        async with self.redis.pipeline(transaction=True) as pipe:
            for key in (keys.transcripts_sent(site, "v:" + chat.visitor), keys.transcripts_sent(site, "a:" + digest)):
                pipe.incr(key)
                pipe.expire(key, TRANSCRIPT_WINDOW_S, nx=True)
            by_visitor, _, by_address, _ = await pipe.execute()
        if by_visitor > TRANSCRIPTS_PER_VISITOR or by_address > TRANSCRIPTS_PER_ADDRESS:
            await self.redis.hdel(keys.request(site, chat.id), R.TRANSCRIPT_TO)
            raise ChatError("too many transcripts were asked for today; please try again tomorrow")
        await self.jobs.transcript(site, site_name, email, await self.history(site, chat.id))

    async def end(self, site: str, chat_id: str, by: str, cooldown_s: float) -> None:
        chat = await self.get(site, chat_id)
        if chat is None:
            raise ChatError("this chat no longer exists")
        if chat.status == "active":
            who = "The customer" if by == "visitor" else (chat.rep_name or "The representative")
            await self.say(site, chat_id, "system", "", f"{who} ended the chat.")
        try:
            await self.scripts.end_chat(site, chat_id, chat.rep, chat.visitor, int(time.time() * 1000), by,
                                        RETENTION_S, int(cooldown_s))
        except Refused:
            return  # ended meanwhile (the other side, or the page went away)
        await self._to_both(site, chat, frames.ended(chat_id, by))
        await self.announce(site)

    async def transfer(self, site: str, chat_id: str, from_rid: str, to_rid: str) -> None:
        target = await self.reps.get(site, to_rid)
        if target is None or target.status != "available":
            raise ChatError("that representative is not available")
        try:
            await self.scripts.transfer(site, chat_id, from_rid, to_rid, int(time.time() * 1000))
        except Refused as exc:
            raise refused(exc, "that representative has no free slot") from None
        await self.hub.send(keys.rep_channel(site, from_rid), frames.chat_closed(chat_id))
        await self.hub.send(keys.rep_channel(site, to_rid), frames.chat_open(chat_id))
        await self.say(site, chat_id, "system", "", f"{target.name} took over the chat.")
        chat = await self.get(site, chat_id)
        if chat:
            await self.hub.publish(site, chat.visitor, frames.chat(chat))
