"""Winning conversations in the console: a rep (their own chats) or an admin (any chat of the
site) marks messages of a chat as a best practice with a note; admins review and publish them
(auditors read the review pages); everyone of the site reads the published ones as worked
examples for a context they choose, and a rep may count one as used in their chat (a POST:
opening a page never counts). Another site's people get 404, as if there were none."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from backend.core import materials as core
from backend.core.materials import Material
from backend.core.protocol import ID_RE
from backend.core.scoring import RULE_NAMES
from backend.core.validation import is_text
from backend.domain.materials import MaterialError
from backend.web.console.materials_page import FIELD_MAX, by_field, tags_of
from backend.web.console.web import Ctx, error_page, page, redirect, render
from backend.web.http import services

NO_CHAT = "No such chat, or not one you may mark: a representative marks their own chats, an admin any chat."
NO_PRACTICE = "No such practice."
FILTER_MAX = 100  # characters of a product or category chosen in the training view
STATUS_FILTER = ("proposed", "active", "archived", "all")


def _chat_id(request: Request) -> str:
    value = request.path_params.get("chat_id", "")
    return value if ID_RE.fullmatch(value) else ""


def _typed(values: Any, names: tuple[str, ...]) -> dict[str, str]:
    return {name: values.get(name, "")[:FIELD_MAX] for name in names}


def _tags_text(tags: dict[str, list[str]]) -> dict[str, str]:
    return {name: ", ".join(values) for name, values in tags.items()}


def _fields(errors: list[tuple[str, str]]) -> dict[str, list[str]]:
    found = by_field(errors)
    found.setdefault("", []).extend(found.pop("excerpt", []))
    return found


# --- marking ----------------------------------------------------------------------------------


async def _mark_page(request: Request, ctx: Ctx, chat_id: str, status: int = 200, typed: dict[str, str] | None = None,
                     chosen: set[str] | None = None, errors: dict[str, list[str]] | None = None) -> Response:
    bp = services(request).best_practices
    chat = await bp.markable(ctx.site.key, chat_id, ctx.rep.id, ctx.rep.is_admin) if chat_id else None
    if chat is None:
        return error_page(request, 404, NO_CHAT, ctx.rep)
    draft = await bp.draft(ctx.site.key, chat, ctx.rep.id)
    if typed is None:
        typed = {"title": draft.mine.title if draft.mine else "", "text": draft.mine.text if draft.mine else "",
                 **_tags_text(draft.tags)}
    if chosen is None:
        earlier = {line.id for line in draft.mine.excerpt} if draft.mine else set()
        ids = [str(m.get("id")) for m in draft.messages]
        said = [str(m.get("id")) for m in draft.messages if m.get("from") in ("rep", "visitor")]  # not "X joined"
        chosen = {i for i in ids if i in earlier} if earlier else set(said[:core.EXCERPT_MAX])
    return render(request, "practice_mark.html", {
        "rep": ctx.rep, "site": ctx.site, "nav": "", "chat": chat, "messages": draft.messages, "mine": draft.mine,
        "chosen": chosen, "v": typed, "errs": errors or {}, "reasons": RULE_NAMES, "most": core.EXCERPT_MAX,
        "saved": request.query_params.get("saved") == "1"}, status=status)


@page()
async def mark_form(request: Request, ctx: Ctx) -> Response:
    return await _mark_page(request, ctx, _chat_id(request))


@page()
async def mark(request: Request, ctx: Ctx) -> Response:
    """Propose (or propose again) the chosen messages of the chat with a note."""
    chat_id, form = _chat_id(request), ctx.form
    bp = services(request).best_practices
    chat = await bp.markable(ctx.site.key, chat_id, ctx.rep.id, ctx.rep.is_admin) if chat_id else None
    if chat is None:
        return error_page(request, 404, NO_CHAT, ctx.rep)
    chosen = form.getlist("m")[:core.EXCERPT_MAX * 10]
    data = {"title": form.get("title")[:FIELD_MAX], "text": form.get("text")[:FIELD_MAX], "tags": tags_of(form)}
    try:
        await bp.propose(ctx.site.key, chat, chosen, data, ctx.rep.id)
    except MaterialError as exc:
        typed = _typed(form, ("title", "text", *core.TAG_FIELDS))
        return await _mark_page(request, ctx, chat_id, 400, typed, set(chosen), _fields(exc.errors))
    return redirect(request, f"/console/chats/{chat.id}/practice?saved=1")


# --- review (admins; auditors read) -----------------------------------------------------------


@page(admin=True, reads=True)
async def review_list(request: Request, ctx: Ctx) -> Response:
    status = request.query_params.get("status", "proposed")
    status = status if status in STATUS_FILTER else "proposed"
    found = await services(request).best_practices.listed(ctx.site.key, status)
    return render(request, "admin_practices.html", {
        "rep": ctx.rep, "site": ctx.site, "nav": "practice-review", "practices": found, "status": status,
        "statuses": STATUS_FILTER, "done": request.query_params.get("done", "")[:20]})


def _review_page(request: Request, ctx: Ctx, found: Material, status: int = 200,
                 typed: dict[str, str] | None = None, errors: dict[str, list[str]] | None = None) -> Response:
    if typed is None:
        typed = {"title": found.title, "text": found.text, **_tags_text(found.tags.as_json())}
    return render(request, "admin_practice.html", {
        "rep": ctx.rep, "site": ctx.site, "nav": "practice-review", "p": found, "v": typed, "errs": errors or {},
        "reasons": RULE_NAMES}, status=status)


def _mid(request: Request) -> str:
    value = request.path_params.get("mid", "")
    return value if ID_RE.fullmatch(value) else ""


@page(admin=True, reads=True)
async def review_form(request: Request, ctx: Ctx) -> Response:
    mid = _mid(request)
    found = await services(request).best_practices.get(ctx.site.key, mid) if mid else None
    if found is None:
        return error_page(request, 404, NO_PRACTICE, ctx.rep)
    return _review_page(request, ctx, found)


@page(admin=True)
async def review(request: Request, ctx: Ctx) -> Response:
    """Publish or reject, with the title, note and tags as the admin left them."""
    mid, form = _mid(request), ctx.form
    bp = services(request).best_practices
    found = await bp.get(ctx.site.key, mid) if mid else None
    if found is None:
        return error_page(request, 404, NO_PRACTICE, ctx.rep)
    decision = form.get("decision")
    data = {"title": form.get("title")[:FIELD_MAX], "text": form.get("text")[:FIELD_MAX], "tags": tags_of(form)}
    try:
        if decision not in ("publish", "reject"):
            raise MaterialError([("", "choose Publish or Reject")])
        await bp.review(ctx.site.key, mid, decision == "publish", data, ctx.rep.id)
    except MaterialError as exc:
        return _review_page(request, ctx, found, 400, _typed(form, ("title", "text", *core.TAG_FIELDS)),
                            _fields(exc.errors))
    return redirect(request, f"/console/admin/practices?done={'published' if decision == 'publish' else 'rejected'}")


# --- the training view (everyone of the site) -------------------------------------------------


def _chosen(value: str) -> str:
    value = " ".join(value.split())
    return value if is_text(value) and value.isprintable() and len(value) <= FILTER_MAX else ""


@page(reads=True)
async def training(request: Request, ctx: Ctx) -> Response:
    """Published practices as worked examples for the chosen product, category or reason;
    ``?chat=`` (the rep's own chat) chooses that chat's context."""
    svc, q = services(request), request.query_params
    chat_id = q.get("chat", "")
    chat = None
    if chat_id:
        chat = await svc.best_practices.markable(ctx.site.key, chat_id, ctx.rep.id, False) \
            if ID_RE.fullmatch(chat_id) else None
        if chat is None:
            return error_page(request, 404, "No such chat of yours.", ctx.rep)
    product, category, reason = _chosen(q.get("product", "")), _chosen(q.get("category", "")), q.get("reason", "")
    reason = reason if reason in RULE_NAMES else ""
    reasons: tuple[str, ...] = (reason,) if reason else ()
    if chat is not None and not any(name in q for name in ("product", "category", "reason")):
        here = await svc.practices.context(ctx.site.key, chat)  # the chat's: any of its reasons
        product, category, reasons = here.product, here.category, here.reasons
    pages = (await svc.matching.rule_sets(ctx.site.key)).pages
    products = sorted({p.product for p in pages if p.product} | ({product} if product else set()), key=str.lower)
    categories = sorted({p.category for p in pages if p.category} | ({category} if category else set()),
                        key=str.lower)
    found = await svc.best_practices.training(ctx.site.key, product, category, reasons)
    return render(request, "practices.html", {
        "rep": ctx.rep, "site": ctx.site, "nav": "practices", "items": found, "chat": chat,
        "product": product, "category": category, "reason": reason, "chat_reasons": reasons if chat else (),
        "products": products,
        "categories": categories, "reasons": RULE_NAMES, "used": q.get("used", "")[:64]})


@page()
async def use(request: Request, ctx: Ctx) -> Response:
    """Count a published practice as used in the rep's own chat (once per chat)."""
    svc = services(request)
    mid, chat_id = _mid(request), ctx.form.get("chat")
    chat = await svc.best_practices.markable(ctx.site.key, chat_id, ctx.rep.id, False) \
        if ID_RE.fullmatch(chat_id) else None
    if chat is None:
        return error_page(request, 404, "No such chat of yours.", ctx.rep)
    if not mid or await svc.best_practices.use(ctx.site.key, chat, mid) is None:
        return error_page(request, 404, NO_PRACTICE, ctx.rep)
    return redirect(request, f"/console/practices?chat={chat.id}&used={mid}")
