"""The console's live connection, ``/console/ws``.

Server -> client: ``queue`` (a full snapshot of the requests this rep may take), ``chats``
(the rep's open chats with history), ``visitor`` (``{chat, detail}``: the customer beside an
open chat changed; the collector tells the rep's channel, ``visitor-changed``), ``reps`` (colleagues and their presence), ``presence``,
``accepted``, ``ack``, ``error`` (``{message, ref}``), ``suggestions``, and the rep channel's events as they
are (``chat-open``, ``chat-closed``, ``msg``, ``typing``, ``ended``, ``rated`` (the customer's
stars and comment), ``resolved``).

One socket per site: ``/console/ws?site=KEY`` for each site the session serves (a person
serving several sites opens one each); a site not in the session is refused (4403), one whose
membership ended is closed (4401). Without ``site``: the session's current site.

Client -> server: ``presence``, ``accept``, ``say`` (``material``: the library reply it began
as, counted as used), ``suggest`` (``{chat, q}``: the materials that suit the chat, or a search;
answered by ``suggestions``), ``link``, ``material`` (a link or document of the site's
materials library, ``{chat, material, ref}``, counted as used), ``typing``, ``end``,
``resolved`` (the rep marks their chat resolved, once), ``sale`` (a sale the rep closed, as an
order of the chat's visitor), ``no_sale``, ``transfer``, ``target``. Everything a
rep does to a chat is checked against the chat's owner first; the site is the session's.

One task reads the socket, one writes it (the only sender, so frames never interleave);
pub/sub events reach the writer through the hub as if it were a socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from backend.core import frames
from backend.core.materials import Material
from backend.core.models import Parties
from backend.core.validation import is_text
from backend.domain.chat import RESEND_AFTER_MS, ChatError, Unconfirmed, check_link
from backend.domain.materials import NotSendable
from backend.domain.orders import OrderError
from backend.domain.reps import Rep, RepError
from backend.domain.tasks import UNAVAILABLE
from backend.web.console.auth import NotLoggedIn, check_csrf, current_rep, member, memberships, same_origin
from backend.web.http import HTTPError, parse_json, services

log = logging.getLogger("beckon.console")

FRAME_MAX = 8 * 1024  # a chat message is at most 2000 characters; nothing a rep sends is bigger
INBOX_MAX = 2000  # undelivered events before a stuck connection is closed (the page reconnects)
TICK_S = 5.0  # the queue's details (dwell, pages) change while requests wait
TYPING_EVERY_S = 1.0
CHAT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{4,64}\Z")
TITLE_MAX = 200
QUERY_MAX = 200  # a search of the materials library


class Tap:
    """Stands in for a WebSocket at the hub: what arrives on one channel is queued for the
    connection's writer, tagged with where it came from."""

    def __init__(self, kind: str, inbox: "asyncio.Queue[tuple[str, str]]") -> None:
        self.kind = kind
        self.inbox = inbox

    async def send_text(self, data: str) -> None:
        self.inbox.put_nowait((self.kind, data))

    def resync(self) -> None:
        """After a Redis outage (the hub missed events meanwhile): everything afresh."""
        self.inbox.put_nowait(("hello", ""))


class Connection:
    def __init__(self, ws: WebSocket, rep: Rep, sid: str) -> None:
        self.ws = ws
        self.sid = sid
        self.svc = services(ws)
        self.rep = rep
        self.site = rep.site
        self.inbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.last_sent: dict[str, str] = {}
        self.details_sent: dict[str, str] = {}  # chat id -> visitor detail the page has
        self.chat_visitors: dict[str, str] = {}  # the rep's open chats (as the page has them) -> visitor
        self.typing_at: dict[str, float] = {}

    # --- plumbing ----------------------------------------------------------------------

    def reply(self, message: dict[str, Any]) -> None:
        self.inbox.put_nowait(("out", json.dumps(message)))

    def error(self, message: str, ref: Any, retry_ms: int = 0) -> None:
        self.reply(frames.console_error(message, ref if isinstance(ref, str) else "", retry_ms))

    async def run(self) -> None:
        site_channel, rep_channel = self.svc.hub.console_channels(self.site, self.rep.id)
        channels = [(site_channel, Tap("queue", self.inbox)), (rep_channel, Tap("rep", self.inbox))]
        for channel, tap in channels:
            await self.svc.hub.attach(channel, tap)
        tasks = [asyncio.create_task(self.read()), asyncio.create_task(self.write()),
                 asyncio.create_task(self.tick())]
        try:
            self.inbox.put_nowait(("hello", ""))
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = None if task.cancelled() else task.exception()
                if exc and not isinstance(exc, (WebSocketDisconnect, OSError, RuntimeError)):
                    log.warning("console connection ended: %r", exc)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            for channel, tap in channels:
                await self.svc.hub.detach(channel, tap)
            if self.ws.application_state == WebSocketState.CONNECTED:
                with contextlib.suppress(Exception):
                    await self.ws.close()

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self.inbox.put_nowait(("tick", ""))

    async def write(self) -> None:
        """The only sender. Bursts of queue changes become one snapshot."""
        while True:
            pending = [await self.inbox.get()]
            while not self.inbox.empty():
                pending.append(self.inbox.get_nowait())
            if len(pending) > INBOX_MAX:
                await self.ws.close(code=1013, reason="too far behind; reconnect")
                return
            want: set[str] = set()
            changed: set[str] = set()  # chats whose customer sent something
            for kind, data in pending:
                if kind == "out":
                    await self.ws.send_text(data)
                elif kind == "close":
                    await self.ws.close(code=4401, reason=data)
                    return
                elif kind == "hello":
                    want |= {"reps", "queue", "chats"}
                elif kind == "tick":
                    want |= {"reps", "queue"}
                elif kind == "queue":
                    want.add("queue")
                elif kind == "rep":
                    event = json.loads(data)
                    if event.get("type") == "visitor-changed":
                        changed.add(event.get("chat"))
                        continue
                    await self.ws.send_text(data)
                    if event.get("type") in ("chat-open", "chat-closed"):
                        want.add("chats")
            try:
                for what in ("reps", "queue", "chats"):
                    if what in want:
                        await self.send_snapshot(what, force=what == "chats")
                if changed and "chats" not in want:  # a chats snapshot carries the details
                    await self.send_visitors(changed)
            except UNAVAILABLE:
                pass  # Redis is away: the next tick tries again, and the hub resyncs when it is back

    async def send_snapshot(self, what: str, force: bool = False) -> None:
        chats = self.svc.chats
        if what == "queue":
            body = frames.queue([frames.request(c, detail, self.rep.id)
                                 for c, detail in await chats.queue(self.site, self.rep.id)])
        elif what == "chats":
            out = []
            for chat in await chats.of_rep(self.site, self.rep.id):
                out.append(frames.open_chat(chat, await self.svc.visitors.detail(self.site, chat.visitor),
                                            await chats.history(self.site, chat.id)))
            self.details_sent = {c["id"]: json.dumps(c["visitor_detail"]) for c in out}
            self.chat_visitors = {c["id"]: c["visitor"] for c in out}
            body = frames.chats(out)
        else:
            body = frames.reps(self.rep.id, [
                {"id": r.id, "name": r.name, "status": r.status, "skills": r.skills, "area": r.area}
                for r in await self.svc.reps.list(self.site) if r.active])
        text = json.dumps(body)
        if force or self.last_sent.get(what) != text:
            self.last_sent[what] = text
            # "now" lets the page show waiting times in server time, whatever its clock says
            await self.ws.send_text(text[:-1] + f', "now": {int(time.time() * 1000)}}}')

    async def send_visitors(self, chat_ids: set[str]) -> None:
        """The customer beside an open chat, sent again when it changed (a new page, an error,
        the cart): the rep answers with what the customer sees now. Only the chats whose
        customer sent something are read, and a burst of their batches is read once."""
        for chat_id in chat_ids & self.chat_visitors.keys():
            frame = frames.visitor(chat_id, await self.svc.visitors.detail(self.site, self.chat_visitors[chat_id]))
            text = json.dumps(frame["detail"])
            if self.details_sent.get(chat_id) != text:
                self.details_sent[chat_id] = text
                await self.ws.send_text(json.dumps(frame))

    async def read(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                self.error("send JSON text frames", "")
                continue
            if len(text) > FRAME_MAX:
                self.error(f"message too large (at most {FRAME_MAX} bytes)", "")
                continue
            try:
                data = parse_json(text, "the message")
            except HTTPError as exc:
                self.error(exc.message, "")
                continue
            if not isinstance(data, dict) or not isinstance(data.get("type"), str):
                self.error("each message needs a 'type'", "")
                continue
            if await self.handle(data) is False:
                return

    # --- what a rep may do ---------------------------------------------------------------

    async def own_chat(self, chat_id: Any) -> Parties:
        if not isinstance(chat_id, str) or not CHAT_ID_RE.match(chat_id):
            raise ChatError("no such chat")
        chat = await self.svc.chats.parties(self.site, chat_id)
        if chat is None or chat.rep != self.rep.id:
            raise ChatError("this chat is not yours")
        return chat

    async def handle(self, data: dict[str, Any]) -> bool:
        kind = data["type"]
        ref = next((data[k] for k in ("ref", "cid", "id", "chat") if isinstance(data.get(k), str)), "")
        chats, site = self.svc.chats, self.site
        try:
            if kind == "presence":
                return await self.presence(data.get("status"))
            if kind == "accept":
                chat_id = data.get("id")
                if not isinstance(chat_id, str) or not CHAT_ID_RE.match(chat_id):
                    raise ChatError("this request no longer exists")
                await chats.accept(site, chat_id, self.rep.id)
                self.reply(frames.accepted(chat_id))
            elif kind == "say":
                chat = await self.own_chat(data.get("chat"))
                client_id = data.get("cid") if isinstance(data.get("cid"), str) else ""
                msg = await chats.say(site, chat.id, "rep", self.rep.name, data.get("text", ""),
                                      client_id=client_id[:64])
                self.typing_at.pop(chat.id, None)  # the next keystroke starts a new "typing…"
                if data.get("material"):  # a suggested reply, perhaps edited: count its use
                    with contextlib.suppress(ChatError):  # sent either way; only a reply of the site's counts
                        await self.used(chat.id, data["material"], ("reply",))
                self.reply(frames.console_ack(chat.id, client_id, ref, msg["id"]))
            elif kind == "suggest":
                chat = await self.own_chat(data.get("chat"))
                query = data.get("q") or ""
                if not isinstance(query, str) or len(query) > QUERY_MAX or not is_text(query):
                    raise ChatError(f"a search is text of at most {QUERY_MAX} characters")
                full = await chats.get(site, chat.id)
                found = await self.svc.practices.suggestions(site, full, query) if full else []
                self.reply(frames.suggestions(chat.id, query, [s.as_json() for s in found]))
            elif kind == "link":
                chat = await self.own_chat(data.get("chat"))
                site_obj = await self.svc.sites.get(site)
                url = check_link(data.get("url"), site_obj.origins if site_obj else frozenset())
                title = data.get("title", "")
                if not isinstance(title, str) or len(title) > TITLE_MAX:
                    raise ChatError(f"a link's title may have at most {TITLE_MAX} characters")
                title = title.strip()
                msg = await chats.say(site, chat.id, "rep", self.rep.name, title or url, kind="link",
                                      url=url, title=title)
                self.reply(frames.console_ack(chat.id, "", ref, msg["id"]))
            elif kind == "material":
                chat = await self.own_chat(data.get("chat"))
                site_obj = await self.svc.sites.get(site)
                origins = site_obj.origins if site_obj else frozenset()
                try:
                    out = await self.svc.materials.outgoing(site, data.get("material"), origins,
                                                            self.svc.settings.public_url,
                                                            secret=self.svc.settings.secret_key)
                except NotSendable as exc:
                    raise ChatError(str(exc)) from None
                fields = dict(out.fields)
                if out.kind == "link":  # only the site's own pages, as a link the rep types
                    fields["url"] = check_link(fields["url"], origins)
                msg = await chats.say(site, chat.id, "rep", self.rep.name, out.text, kind=out.kind, **fields)
                full = await chats.get(site, chat.id)
                if full is not None:
                    await self.svc.practices.record_use(site, full, out.material)
                self.reply(frames.console_ack(chat.id, "", ref, msg["id"]))
            elif kind == "typing":
                chat = await self.own_chat(data.get("chat"))
                now = time.monotonic()
                if now - self.typing_at.get(chat.id, 0) >= TYPING_EVERY_S:
                    self.typing_at[chat.id] = now
                    await chats.typing(site, chat.id, "rep")
            elif kind == "end":
                chat = await self.own_chat(data.get("chat"))
                if chat.status != "active":
                    raise ChatError("this chat has already ended")
                site_obj = await self.svc.sites.get(site)
                await chats.end(site, chat.id, "rep", site_obj.offer.cooldown_s if site_obj else 0)
            elif kind == "resolved":
                chat = await self.own_chat(data.get("chat"))
                await self.svc.ratings.resolve(site, chat.id, self.rep.id)
            elif kind == "sale":
                chat = await self.own_chat(data.get("chat"))
                try:
                    recorded = await self.svc.orders.record_for_chat(site, chat.visitor, data)
                except OrderError as exc:
                    raise ChatError("; ".join(f"{f}: {m}" if f else m for f, m in exc.errors)) from None
                self.reply(frames.console_ack(chat.id, "", ref, recorded.order.order_id))
            elif kind == "no_sale":
                chat = await self.own_chat(data.get("chat"))
                await chats.no_sale(site, chat.id, self.rep.id)
                self.reply(frames.console_ack(chat.id, "", ref, ""))
            elif kind == "transfer":
                chat = await self.own_chat(data.get("chat"))
                to = data.get("to")
                if not isinstance(to, str) or not to or len(to) > 64 or to == self.rep.id:
                    raise ChatError("choose another representative")
                await chats.transfer(site, chat.id, self.rep.id, to)
            elif kind == "target":
                await self.target(data)
            else:
                raise ChatError(f"unknown message type {kind[:40]!r}")
        except ChatError as exc:
            self.error(str(exc), ref)
        except UNAVAILABLE:
            # a message ("say") is perhaps kept, perhaps not: the console sends it again
            self.error("Beckon cannot reach its storage just now; please try again in a moment.", ref,
                       RESEND_AFTER_MS if kind == "say" else 0)
        except Unconfirmed:
            self.error("The message could not be sent just now; please try again in a moment.", ref,
                       RESEND_AFTER_MS if kind == "say" else 0)
        return True

    async def used(self, chat_id: str, mid: Any, kinds: tuple[str, ...]) -> Material:
        """The site's active material ``mid`` of one of ``kinds``, counted as used in the chat."""
        found = await self.svc.materials.get(self.site, mid) if isinstance(mid, str) and len(mid) <= 64 else None
        if found is None or found.status != "active" or found.kind not in kinds:
            raise ChatError("no such material in this site's library")
        chat = await self.svc.chats.get(self.site, chat_id)
        if chat is not None:
            await self.svc.practices.record_use(self.site, chat, found)
        return found

    async def presence(self, status: Any) -> bool:
        """The page's heartbeat (every 10 s): keeps the rep online and says how; a session
        ended elsewhere (logout, a new password) ends this connection too."""
        if await self.svc.sessions.rep_of(self.site, self.sid) != self.rep.id:
            self.inbox.put_nowait(("close", "your session has ended; please log in again"))
            return True
        try:
            rep = await self.svc.presence.set(self.site, self.rep.id, status)
        except RepError:
            raise ChatError("status must be available, away or offline") from None
        if rep is None:
            self.inbox.put_nowait(("close", "your account was deactivated"))
            return True
        self.reply(frames.presence(status))
        return True

    async def target(self, data: dict[str, Any]) -> None:
        """Offer a waiting request to some representatives (none listed: to everyone)."""
        chat_id, rids, must = data.get("id"), data.get("reps") or [], data.get("must_contact", False)
        if not isinstance(chat_id, str) or not CHAT_ID_RE.match(chat_id):
            raise ChatError("this request no longer exists")
        if not isinstance(rids, list) or len(rids) > 100 or \
                not all(isinstance(r, str) and len(r) <= 64 for r in rids):
            raise ChatError("choose representatives from the list")
        if not isinstance(must, bool):
            raise ChatError("'must be contacted' is yes or no")
        for rid in rids:
            rep = await self.svc.reps.get(self.site, rid)
            if rep is None or not rep.active:
                raise ChatError("one of the chosen representatives does not exist")
        await self.svc.routing.target(self.site, chat_id, rids or None, must)


async def console_ws(ws: WebSocket) -> None:
    if not same_origin(ws, ws.headers.get("origin")):
        await ws.close(code=4403, reason="cross-origin connection refused")
        return
    asked = ws.query_params.get("site")  # one socket per site the session serves
    try:
        rep = await current_rep(ws) if asked is None else await member(ws, asked)
    except NotLoggedIn:
        rep = None
    if rep is not None and rep.is_auditor:  # reads the reports; never takes a chat
        await ws.accept()
        await ws.close(code=4403, reason="an auditor's account takes no chats")
        return
    if rep is None:
        await ws.accept()
        known = asked is None or asked in memberships(ws)
        await ws.close(code=4401 if known else 4403, reason="please log in" if known else "not one of your sites")
        return
    if not check_csrf(ws, ws.query_params.get("csrf")):
        await ws.accept()
        await ws.close(code=4403, reason="reload the page")
        return
    await ws.accept()
    await Connection(ws, rep, memberships(ws)[rep.site]).run()
