"""``/v1/push``: the page's live connection. Offers and chat messages flow to it; the
customer's chat messages flow back (snippet/PROTOCOL.md, "Chat")."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from backend.core import frames
from backend.core.protocol import ID_RE
from backend.domain.chat import RESEND_AFTER_MS, ChatError, Unconfirmed
from backend.domain.services import Services
from backend.domain.sites import Site
from backend.domain.tasks import UNAVAILABLE
from backend.web.http import HTTPError, parse_json, services
from backend.web.visitor_auth import site_for_origin

FRAME_MAX = 8192
NOT_KEPT = "this could not be sent just now"
HELLO_TIMEOUT_S = 10.0
RESUME_AFTER_RE = re.compile(r"\d{1,20}-\d{1,10}|0")


async def send(ws: WebSocket, frame: dict[str, Any]) -> None:
    await ws.send_text(json.dumps(frame))


async def send_state(svc: Services, ws: WebSocket, site: str, vid: str, after: str = "0",
                     chat_id: str | None = None) -> None:
    """The chat's status and the messages after ``after``: what a page needs on (re)connect."""
    chat = await svc.chats.of_page(site, vid, chat_id)
    if chat is None:
        return
    await send(ws, frames.chat(chat))
    await send(ws, frames.history(chat.id, await svc.chats.history(site, chat.id, after)))


async def handle(svc: Services, ws: WebSocket, site: Site, vid: str, data: dict[str, Any]) -> None:
    kind = data["type"]
    ref = data.get("cid") if isinstance(data.get("cid"), str) else ""
    named = data.get("chat") if isinstance(data.get("chat"), str) else None
    try:
        if kind == "resume":
            after = data.get("after") if isinstance(data.get("after"), str) else "0"
            await send_state(svc, ws, site.key, vid, after if RESUME_AFTER_RE.fullmatch(after) else "0", named)
            return
        if kind == "transcript":
            # the transcript form is offered after the end, when the chat is no longer current
            chat = await svc.chats.of_page(site.key, vid) or (
                await svc.chats.of_page(site.key, vid, named) if named else None)
            if chat is None:
                raise ChatError("there is no open chat")
            await svc.chats.transcript(site.key, site.name, chat, data.get("email"))
            await send(ws, frames.page_ack(ref, "transcript"))
            return
        if kind == "rate":  # after the end too: the chat is named
            await svc.ratings.rate(site.key, vid, named, data.get("stars"), data.get("comment"))
            await send(ws, frames.page_ack(ref, "rated"))
            return
        chat = await svc.chats.page_parties(site.key, vid)  # one command less than the whole chat
        if chat is None:
            raise ChatError("there is no open chat")
        if kind == "say":
            msg = await svc.chats.say(site.key, chat.id, "visitor", "", data.get("text", ""), client_id=ref)
            await send(ws, frames.page_ack(ref, msg["id"]))
        elif kind == "typing":
            await svc.chats.typing(site.key, chat.id, "visitor")
        elif kind == "callback":
            msg = await svc.chats.callback(site.key, chat.id, data.get("phone", ""), data.get("when", ""))
            await send(ws, frames.page_ack(ref, msg["id"]))
        elif kind == "end":
            await svc.chats.end(site.key, chat.id, "visitor", site.offer.cooldown_s)
    except ChatError as exc:
        await send(ws, frames.page_error(str(exc), ref))
    except (Unconfirmed, *UNAVAILABLE) as exc:
        # Perhaps kept, perhaps not (a master failing over): the page keeps a message and sends
        # it again; a call-back request the customer sends again
        if kind == "say":
            await send(ws, frames.page_error(NOT_KEPT, ref, RESEND_AFTER_MS))
        elif isinstance(exc, Unconfirmed):
            await send(ws, frames.page_error(NOT_KEPT + "; please try again", ref))
        else:
            raise


async def hello(svc: Services, ws: WebSocket) -> tuple[Site, str] | None:
    """The connection proves it is the visitor's in its first frame, ``{"type": "hello",
    "tok": ...}``: the token stays out of URLs, and so out of proxies' and servers' logs."""
    q = ws.query_params
    try:
        site = await site_for_origin(svc, q.get("site") or "", ws.headers.get("origin", "")) \
            if ID_RE.match(q.get("site") or "") else None
    except HTTPError as exc:
        await ws.close(code=4403, reason=exc.message[:120])
        return None
    vid = q.get("vid") or ""
    if site is None or not ID_RE.match(vid):
        await ws.close(code=4400, reason="'site' and 'vid' must be 8-64 letters, digits, '-' or '_'")
        return None
    await ws.accept()
    try:
        first = await asyncio.wait_for(ws.receive(), HELLO_TIMEOUT_S)
        if first["type"] == "websocket.disconnect":  # gone before its hello (or its bytes were not UTF-8)
            return None
        data = parse_json(first.get("text") or "", "the first message")
    except (asyncio.TimeoutError, HTTPError):
        data = None
    tok = data.get("tok") if isinstance(data, dict) and data.get("type") == "hello" else None
    if not await svc.visitors.token_ok(site.key, vid, tok):
        await ws.close(code=4403, reason="send {\"type\": \"hello\", \"tok\"} with the visitor's token first")
        return None
    return site, vid


async def push(ws: WebSocket) -> None:
    svc = services(ws)
    opened = await hello(svc, ws)
    if opened is None:
        return
    site, vid = opened
    await svc.hub.attach_page(site.key, vid, ws)
    try:
        current = await svc.broker.current(site.key, vid)
        if current:
            await send(ws, frames.offer(current, int(time.time() * 1000)))
        await send_state(svc, ws, site.key, vid)
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None:
                await send(ws, frames.page_error("send JSON text frames"))
                continue
            if len(text) > FRAME_MAX:
                await ws.close(code=1009, reason="message too large")
                break
            try:
                data = parse_json(text, "the message")
            except HTTPError as exc:
                await send(ws, frames.page_error(exc.message))
                continue
            if not isinstance(data, dict) or not isinstance(data.get("type"), str):
                await send(ws, frames.page_error("each message needs a 'type'"))
                continue
            await handle(svc, ws, site, vid, data)
    except WebSocketDisconnect:
        pass
    except RuntimeError:
        # The hub sends to this page too, and when it is the one that finds the page gone,
        # Starlette marks the socket closed there: the next send or close here raises
        # RuntimeError ("Cannot call send once a close message has been sent"). Nothing to log.
        if ws.application_state != WebSocketState.DISCONNECTED:
            raise
    finally:
        await svc.hub.detach_page(site.key, vid, ws)


routes = [WebSocketRoute("/v1/push", push)]
