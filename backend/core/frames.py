"""Every frame sent to a page or a console, built in one place from what the domain returns
(the shapes are documented in snippet/PROTOCOL.md and at the top of web/console/ws.py)."""

from __future__ import annotations

from typing import Any

from backend.core.leads import Lead
from backend.core.models import Chat, Offer

PAGES_SHOWN = 20  # of a visitor's trail, beside a request or chat in the console
ERRORS_SHOWN = 20

# --- to pages ------------------------------------------------------------------------------


def offer(o: Offer, now_ms: int) -> dict[str, Any]:
    return {"type": "offer", "id": o.id, "kind": o.kind, "variant": o.variant, "short": o.short,
            "ttl_ms": max(0, o.deadline_ms - now_ms)}


def withdraw(offer_id: str) -> dict[str, Any]:
    return {"type": "withdraw", "id": offer_id}


def chat(c: Chat) -> dict[str, Any]:
    return {"type": "chat", "id": c.id, "status": c.status, "rep": c.rep_name}


def history(chat_id: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "history", "chat": chat_id, "msgs": messages}


def page_ack(client_id: str, msg_id: str) -> dict[str, Any]:
    return {"type": "ack", "cid": client_id, "id": msg_id}


def page_error(message: str, client_id: str = "", retry_ms: int = 0) -> dict[str, Any]:
    """``retry_ms``: the message may not be kept; send it again (same cid) after this long."""
    frame: dict[str, Any] = {"type": "error", "cid": client_id, "message": message}
    if retry_ms:
        frame["retry"] = retry_ms
    return frame


# --- to both sides of a chat ----------------------------------------------------------------


def message(chat_id: str, msg: dict[str, Any]) -> dict[str, Any]:
    return {"type": "msg", "chat": chat_id, "msg": msg}


def typing(chat_id: str, sender: str) -> dict[str, Any]:
    return {"type": "typing", "chat": chat_id, "from": sender}


def ended(chat_id: str, by: str) -> dict[str, Any]:
    return {"type": "ended", "chat": chat_id, "by": by}


# --- to consoles -----------------------------------------------------------------------------


def queue_changed() -> dict[str, Any]:
    return {"type": "queue"}


def chat_open(chat_id: str) -> dict[str, Any]:
    return {"type": "chat-open", "id": chat_id}


def chat_closed(chat_id: str) -> dict[str, Any]:
    return {"type": "chat-closed", "id": chat_id}


def visitor_changed(chat_id: str) -> dict[str, Any]:
    """To the rep's consoles, never to a browser: the customer of this chat sent something
    (a page, an error, the cart); the console reads the details again and sends what changed."""
    return {"type": "visitor-changed", "chat": chat_id}


def accepted(chat_id: str) -> dict[str, Any]:
    return {"type": "accepted", "id": chat_id}


def presence(status: str) -> dict[str, Any]:
    return {"type": "presence", "status": status}


def console_ack(chat_id: str, client_id: str, ref: str, msg_id: str) -> dict[str, Any]:
    return {"type": "ack", "chat": chat_id, "cid": client_id, "ref": ref, "id": msg_id}


def console_error(message: str, ref: str = "", retry_ms: int = 0) -> dict[str, Any]:
    """``retry_ms`` as in ``page_error``."""
    frame: dict[str, Any] = {"type": "error", "message": message, "ref": ref}
    if retry_ms:
        frame["retry"] = retry_ms
    return frame


def visitor_detail(detail: dict[str, Any] | None) -> dict[str, Any] | None:
    """The visitor details a rep needs beside a request or chat, trimmed to what is shown."""
    if not detail:
        return None
    shown = ("visitor", "profile", "url", "title", "cart_value", "currency", "visits", "score", "reasons",
             "service_point", "fields", "errors", "flagged")
    out = {k: detail.get(k) for k in shown}
    out["pages"] = detail.get("pages", [])[-PAGES_SHOWN:]
    out["form_errors"] = detail.get("form_errors", [])[-ERRORS_SHOWN:]
    return out


def request(c: Chat, detail: dict[str, Any] | None, rid: str = "") -> dict[str, Any]:
    """A waiting request (or the head of a chat) as a console shows it; for the rep ``rid``,
    why it came to them (the rule set, their score and top contributions), when ranked."""
    mine = c.why.get(rid) if rid else None
    if mine is None and rid and c.rule_set and c.targets and rid in c.targets:
        mine = {"score": None, "top": []}  # one of many told no score (core/dispatch.py:WHY_MAX)
    return {
        "id": c.id, "visitor": c.visitor, "created": c.created, "score": c.score, "reasons": c.reasons,
        "url": c.url, "targets": list(c.targets or ()), "must_contact": c.must_contact,
        "visitor_detail": visitor_detail(detail),
        "why": {"rule_set": c.rule_set, "score": mine["score"], "top": mine["top"]} if mine else None,
    }


def queue(requests: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "queue", "requests": requests}


def open_chat(c: Chat, detail: dict[str, Any] | None, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {**request(c, detail), "status": c.status, "accepted": c.accepted, "resolved": c.resolved,
            "messages": messages}


def rated(chat_id: str, stars: int, comment: str) -> dict[str, Any]:
    """The customer's rating of an ended chat, to its rep's consoles."""
    return {"type": "rated", "chat": chat_id, "stars": stars, "comment": comment}


def resolved(chat_id: str) -> dict[str, Any]:
    """The rep marked the chat resolved (to all their consoles)."""
    return {"type": "resolved", "chat": chat_id}


def chats(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "chats", "chats": items}


def reps(me: str, colleagues: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "reps", "me": me, "reps": colleagues}


def visitor(chat_id: str, detail: dict[str, Any] | None) -> dict[str, Any]:
    """Fresh details of the customer in an open chat (they keep browsing while chatting)."""
    return {"type": "visitor", "chat": chat_id, "detail": visitor_detail(detail)}


def suggestions(chat_id: str, query: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """The materials beside a chat (core/practices.py:Suggestion.as_json), or a search's."""
    return {"type": "suggestions", "chat": chat_id, "q": query, "items": items}


def lead(ld: Lead) -> dict[str, Any]:
    """A lead given to the console's rep (a notification): what it is, who, about what, why them."""
    return {"type": "lead", "id": ld.id, "kind": ld.kind, "name": ld.name, "email": ld.email, "phone": ld.phone,
            "model": ld.model, "line": ld.line, "why": ld.why, "visitor": ld.visitor}


def customer_needs_help(visitor: str, customer: str, name: str, page: str, reasons: list[str]) -> dict[str, Any]:
    """To the customer's assigned salesperson's consoles: their customer needs help now."""
    return {"type": "customer-needs-help", "visitor": visitor, "customer": customer, "name": name, "page": page,
            "reasons": reasons}
