"""What a customer's page may say over its push connection, once it has a chat."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from starlette.websockets import WebSocket

from backend.domain.chat import ChatError
from backend.domain.jobs import enqueue_transcript
from backend.domain.sites import Site
from backend.store import keys

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}$")


async def current_chat(state: Any, site: str, vid: str) -> dict[str, Any] | None:
    cid = await state.redis.hget(keys.visitor(site, vid), "req")
    if not cid:
        return None
    chat = await state.chats.get(site, cid)
    return chat if chat and chat["visitor"] == vid else None


async def send_state(state: Any, ws: WebSocket, site: str, vid: str, after: str = "0",
                     cid: str | None = None) -> None:
    """The chat's status and the messages after ``after``: what a page needs on (re)connect."""
    chat = await state.chats.get(site, cid) if cid else await current_chat(state, site, vid)
    if not chat or chat["visitor"] != vid:
        return
    await ws.send_text(json.dumps({"type": "chat", "id": chat["id"], "status": chat["status"],
                                   "rep": chat.get("rep_name", "")}))
    await ws.send_text(json.dumps({"type": "history", "chat": chat["id"],
                                   "msgs": await state.chats.history(site, chat["id"], after)}))


async def handle(state: Any, ws: WebSocket, site: Site, vid: str, data: Any) -> None:
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return
    kind = data["type"]
    ref = data.get("cid") if isinstance(data.get("cid"), str) else ""
    try:
        if kind == "resume":
            after = data.get("after") if isinstance(data.get("after"), str) else "0"
            chat_id = data.get("chat") if isinstance(data.get("chat"), str) else None
            if not re.fullmatch(r"\d{1,20}-\d{1,10}|0", after):
                after = "0"
            await send_state(state, ws, site.key, vid, after, chat_id)
            return
        chat = await current_chat(state, site.key, vid)
        if chat is None and kind == "transcript" and isinstance(data.get("chat"), str):
            # the transcript form is offered after the end, when the chat is no longer current
            chat = await state.chats.get(site.key, data["chat"][:64])
            chat = chat if chat and chat["visitor"] == vid else None
        if chat is None:
            raise ChatError("there is no open chat")
        if kind == "say":
            msg = await state.chats.say(site.key, chat["id"], "visitor", "", data.get("text", ""), client_id=ref)
            await ws.send_text(json.dumps({"type": "ack", "cid": ref, "id": msg["id"]}))
        elif kind == "typing":
            await state.chats.typing(site.key, chat["id"], "visitor")
        elif kind == "callback":
            msg = await state.chats.callback(site.key, chat["id"], data.get("phone", ""), data.get("when", ""))
            await ws.send_text(json.dumps({"type": "ack", "cid": ref, "id": msg["id"]}))
        elif kind == "end":
            await state.chats.end(site.key, chat["id"], "visitor", site.offer.cooldown_s)
        elif kind == "transcript":
            email = data.get("email", "")
            if not isinstance(email, str) or not EMAIL_RE.match(email.strip()):
                raise ChatError("please give an e-mail address")
            messages = await state.chats.history(site.key, chat["id"])
            await asyncio.to_thread(enqueue_transcript, state.settings, site.name, email.strip(), messages)
            await ws.send_text(json.dumps({"type": "ack", "cid": ref, "id": "transcript"}))
    except ChatError as exc:
        await ws.send_text(json.dumps({"type": "error", "cid": ref, "message": str(exc)}))
