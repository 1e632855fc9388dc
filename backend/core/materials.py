"""The materials library (issue 12): canned replies, links to the site's pages and documents
that representatives use in chats, each tagged with the contexts it suits.

Pure: no I/O. ``validate`` answers a clean ``Material`` or every problem as (path, message)
and never raises, whatever it is given. ``fill`` puts what Beckon knows into a reply's
placeholders as plain text (the console escapes it when shown). ``check_upload`` decides a
document's real type from its first bytes, never from its name or the type the client
claims: a file that does not start with an allowed format's magic number, or that holds
markup a browser could run (HTML, SVG, XML) anywhere in its first KB, is refused, and so is a
name or a claimed type that disagrees with what the bytes are.

A **practice** (a winning conversation) is a material too, so uses, outcomes and ranking apply
to it unchanged: a snapshot of part of a chat's transcript (``excerpt``, copied when it is
marked, so it outlives the chat) with the marker's note as its ``text``. It is made from a
chat (``practice``), never through ``validate`` alone, and goes proposed -> active (published)
or archived (rejected). Customers paste card numbers into chats; ``redact_cards`` takes them
out of an excerpt before anyone else reads it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from backend.core.policy import media_url_ok
from backend.core.scoring import RULE_NAMES
from backend.core.validation import NOT_TEXT, bounded_list, is_text

Errors = list[tuple[str, str]]

KINDS = ("reply", "link", "document", "practice")
STATUSES = ("active", "archived", "proposed")  # proposed: a practice awaiting an admin's review
FIELDS = ("kind", "title", "text", "url", "tags", "status")
TAG_FIELDS = ("products", "categories", "url_patterns", "reasons", "service_points", "languages")
TITLE_MAX = 120
TEXT_MAX = 4000
URL_MAX = 2000
TAG_MAX = 100  # characters of one tag
TAGS_MAX = 50  # tags in one list
MAX_MATERIALS = 2000  # per site
FILENAME_MAX = 100
VALUE_MAX = 200  # characters of one placeholder's value
LANGUAGE_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}\Z")
EXCERPT_MAX = 60  # messages of a practice
LINE_MAX = 2048  # characters of one excerpt message (a chat message holds at most 2000)
NAME_MAX = 100
SENDERS = ("rep", "visitor", "system")
FROM_CHAT = "a practice is marked from a chat in the console (/console/chats/CHAT/practice), not made here"
CARD_MASK = "[card number removed]"

# The placeholders a reply may hold, and what fills each (domain: from the chat's context).
PLACEHOLDERS = ("customer_name", "product", "category", "rep_name", "site_name")
PLACEHOLDER_RE = re.compile(r"\{([a-z_]{1,40})\}")

# What may be uploaded: the type as sniffed from the bytes -> the file name endings it goes by.
TYPES: dict[str, tuple[str, ...]] = {
    "application/pdf": (".pdf",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/gif": (".gif",),
    "image/webp": (".webp",),
}
SNIFF_BYTES = 1024
# Markup a browser (or a viewer) could run or render as a page, looked for anywhere in the
# first KB, case-insensitively, also with NULs taken out (UTF-16 text).
MARKUP = (b"<html", b"<svg", b"<?xml", b"<!doctype", b"<script", b"<head", b"<body", b"<iframe", b"<!entity",
          b"<object", b"<embed", b"xmlns")


@dataclass(frozen=True)
class Tags:
    """The contexts a material suits; empty lists mean any."""

    products: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    url_patterns: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()  # scoring rule names (core/scoring.py:RULE_NAMES)
    service_points: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()

    def as_json(self) -> dict[str, list[str]]:
        return {name: list(getattr(self, name)) for name in TAG_FIELDS}


@dataclass(frozen=True)
class Document:
    """An uploaded file: stored on disk under ``stored`` (a random id, never the upload's name)."""

    stored: str
    filename: str  # sanitised, for the download's disposition
    content_type: str  # as sniffed
    size: int
    sha256: str

    def as_json(self) -> dict[str, Any]:
        return {"stored": self.stored, "filename": self.filename, "content_type": self.content_type,
                "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class Line:
    """One message of a practice's excerpt, as the chat had it (plain text: escape to show)."""

    id: str  # the message's id in the chat's stream
    sender: str  # rep | visitor | system
    name: str
    text: str
    ts: int

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "from": self.sender, "name": self.name, "text": self.text, "ts": self.ts}


@dataclass(frozen=True)
class Material:
    id: str
    kind: str  # reply | link | document | practice
    title: str
    text: str = ""  # reply: with placeholders; link, document: an optional note
    url: str = ""  # link: https:// or a path on the site
    document: Document | None = None  # document, once uploaded
    tags: Tags = field(default_factory=Tags)
    created_by: str = ""  # rep id, or "api"
    created_ms: int = 0
    status: str = "active"
    # practice only: the chat's messages chosen, the chat, who marked it and who reviewed it
    excerpt: tuple[Line, ...] = ()
    source_chat: str = ""
    proposed_by: str = ""
    reviewed_by: str = ""
    reviewed_ms: int = 0

    def as_json(self) -> dict[str, Any]:
        out = {"id": self.id, "kind": self.kind, "title": self.title, "text": self.text, "url": self.url,
               "document": self.document.as_json() if self.document else None, "tags": self.tags.as_json(),
               "created_by": self.created_by, "created_ms": self.created_ms, "status": self.status}
        if self.kind == "practice":
            out.update(excerpt=[line.as_json() for line in self.excerpt], source_chat=self.source_chat,
                       proposed_by=self.proposed_by, reviewed_by=self.reviewed_by, reviewed_ms=self.reviewed_ms)
        return out

    def with_document(self, document: Document | None) -> "Material":
        return replace(self, document=document)


# --- validation -------------------------------------------------------------------------------


def _text(value: Any, path: str, limit: int, errors: Errors, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.append((path, "must be text"))
        return ""
    if not is_text(value):
        errors.append((path, NOT_TEXT))
        return ""
    value = value.strip()
    if len(value) > limit:
        errors.append((path, f"must be at most {limit} characters"))
        return ""
    if required and not value:
        errors.append((path, "is required"))
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        errors.append((path, "must not hold control characters"))
        return ""
    return value


def _tag_list(name: str, value: Any, errors: Errors) -> tuple[str, ...]:
    path = f"tags.{name}"
    if value is None:
        return ()
    value = bounded_list(value, path, TAGS_MAX, errors, "tags")
    if value is None:
        return ()
    out: list[str] = []
    for i, item in enumerate(value):
        before = len(errors)
        tag = _text(item, f"{path}[{i}]", TAG_MAX, errors, required=True)
        if len(errors) > before:
            continue
        if name == "reasons" and tag not in RULE_NAMES:
            errors.append((f"{path}[{i}]", f"unknown reason; known reasons: {', '.join(RULE_NAMES)}"))
        elif name == "languages" and not LANGUAGE_RE.match(tag):
            errors.append((f"{path}[{i}]", "must be a language tag such as en or de-CH"))
        elif name == "url_patterns" and not tag.startswith("/"):
            errors.append((f"{path}[{i}]", "must be a path pattern starting with /, such as /kayaks*"))
        else:
            tag = tag if name in ("url_patterns", "reasons") else tag.lower()
            if tag not in out:
                out.append(tag)
    return tuple(out)


def validate_tags(value: Any, errors: Errors) -> Tags:
    if value is None:
        return Tags()
    if not isinstance(value, dict):
        errors.append(("tags", "must be a JSON object of tag lists"))
        return Tags()
    for key in value:
        if key not in TAG_FIELDS:
            shown = key[:40] if is_text(key) else "?"
            errors.append((f"tags.{shown}", f"unknown tag list; known: {', '.join(TAG_FIELDS)}"))
    return Tags(**{name: _tag_list(name, value.get(name), errors) for name in TAG_FIELDS})


def validate(data: Any, mid: str, created_by: str, now_ms: int, base: Material | None = None,
             stored: bool = False) -> Material | Errors:
    """A material from a client's JSON (for an update: over ``base``, whose kind, document,
    author, creation time and a practice's excerpt stand). A new practice comes only from a
    chat (``practice``), or from storage (``stored``). Every problem listed; never raises."""
    if not isinstance(data, dict):
        return [("", "the material must be a JSON object")]
    errors: Errors = []
    for key in data:
        if key not in FIELDS:
            shown = key[:40] if is_text(key) else "?"
            errors.append((shown, f"unknown field; known fields: {', '.join(FIELDS)}"))
    kind = base.kind if base else data.get("kind")
    if base and "kind" in data and data["kind"] != base.kind:
        errors.append(("kind", "cannot change; make a new material"))
    elif kind not in KINDS:
        errors.append(("kind", f"must be one of {', '.join(KINDS)}"))
    elif kind == "practice" and not base and not stored:
        errors.append(("kind", FROM_CHAT))
    title = _text(data.get("title", base.title if base else None), "title", TITLE_MAX, errors, required=True)
    text = _text(data.get("text", base.text if base else None), "text", TEXT_MAX, errors,
                 required=kind in ("reply", "practice"))
    url = _text(data.get("url", base.url if base else None), "url", URL_MAX, errors, required=kind == "link")
    if url and kind != "link":
        errors.append(("url", "is only for links"))
    elif url and not media_url_ok(url):
        errors.append(("url", "must be an https:// URL, or a path on the site such as /kayaks"))
    tags = validate_tags(data.get("tags"), errors) if "tags" in data or not base else base.tags
    status = data.get("status", base.status if base else "active")
    if status not in STATUSES:
        errors.append(("status", f"must be one of {', '.join(STATUSES)}"))
    elif status == "proposed" and kind != "practice":
        errors.append(("status", "only a practice is proposed; use active or archived"))
    if errors:
        return errors
    fields = {"title": title, "text": text, "url": url, "tags": tags, "status": str(status)}
    if base:
        return replace(base, **fields)
    return Material(id=mid, kind=str(kind), created_by=created_by, created_ms=now_ms, **fields)  # type: ignore[arg-type]


def _excerpt(value: Any, errors: Errors) -> tuple[Line, ...]:
    """A stored excerpt: at least one message, at most EXCERPT_MAX, each readable."""
    if not isinstance(value, list) or not 0 < len(value) <= EXCERPT_MAX:
        errors.append(("excerpt", f"must be a list of 1 to {EXCERPT_MAX} messages"))
        return ()
    out = []
    for i, item in enumerate(value):
        ts = item.get("ts") if isinstance(item, dict) else None
        if not isinstance(item, dict) or item.get("from") not in SENDERS or not isinstance(ts, int) \
                or isinstance(ts, bool):
            errors.append((f"excerpt[{i}]", "must be a message {id, from, name, text, ts}"))
            continue
        before = len(errors)
        mid = _text(item.get("id"), f"excerpt[{i}].id", 64, errors)
        name = _text(item.get("name"), f"excerpt[{i}].name", NAME_MAX, errors)
        text = _text(item.get("text"), f"excerpt[{i}].text", LINE_MAX, errors)
        if len(errors) == before:
            out.append(Line(mid, str(item["from"]), name, text, ts))
    return tuple(out)


def read(data: Any) -> Material | None:
    """A stored material (as ``as_json`` wrote it); None when it no longer reads."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        return None
    try:
        found = validate({k: data.get(k) for k in FIELDS if k in data}, data["id"], str(data.get("created_by", "")),
                         int(data.get("created_ms") or 0), stored=True)
    except (TypeError, ValueError):
        return None
    if isinstance(found, list):
        return None
    doc = data.get("document")
    try:
        document = Document(str(doc["stored"]), str(doc["filename"]), str(doc["content_type"]), int(doc["size"]),
                            str(doc["sha256"])) if isinstance(doc, dict) else None
    except (KeyError, TypeError, ValueError):
        return None
    found = found.with_document(document)
    if found.kind != "practice":
        return found
    errors: Errors = []
    excerpt = _excerpt(data.get("excerpt"), errors)
    marks = [data.get(k) for k in ("source_chat", "proposed_by", "reviewed_by")]
    reviewed_ms = data.get("reviewed_ms")
    if errors or not all(isinstance(v, str) and is_text(v) for v in marks) or not isinstance(reviewed_ms, int):
        return None
    return replace(found, excerpt=excerpt, source_chat=marks[0], proposed_by=marks[1], reviewed_by=marks[2],
                   reviewed_ms=reviewed_ms)


# --- practices (winning conversations) ---------------------------------------------------------


def practice_id(chat_id: str, by: str) -> str:
    """One practice per chat and person: marking the chat again updates it."""
    return "p" + hashlib.sha256(f"{chat_id}|{by}".encode("utf-8", "surrogatepass")).hexdigest()[:23]


CARD_RUN_RE = re.compile(r"\d(?:[ -]?\d)*")


def luhn(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _card_in(run: str) -> bool:
    """Whether a run of digits (single spaces or dashes between them) holds a card number:
    13-19 digits in whole groups, Luhn-valid (a number typed before or after it on the same
    run, such as the security code, goes with it)."""
    groups = re.split(r"[ -]", run)
    for i in range(len(groups)):
        total = 0
        for j in range(i, len(groups)):
            total += len(groups[j])
            if total > 19:
                break
            if total >= 13 and luhn("".join(groups[i:j + 1])):
                return True
    return False


def redact_cards(text: str) -> str:
    """The text with anything that looks like a payment card number replaced by CARD_MASK."""
    return CARD_RUN_RE.sub(lambda m: CARD_MASK if _card_in(m.group(0)) else m.group(0), text)


def _line(msg: dict[str, Any]) -> Line:
    """A chat message (Chats.history) as an excerpt line: plain, bounded, cards taken out."""
    kind, text = msg.get("kind"), str(msg.get("text") or "")
    if kind == "link":
        text = f"Sent a link: {msg.get('title') or text} ({msg.get('url', '')})"
    elif kind == "document":
        text = f"Sent a document: {msg.get('title') or text}"
    sender = msg.get("from") if msg.get("from") in SENDERS else "system"
    try:
        ts = max(int(msg.get("ts") or 0), 0)
    except (TypeError, ValueError, OverflowError):  # inf, nan, text: no time
        ts = 0
    return Line(_plain_text(str(msg.get("id", "")), 64), str(sender),
                _plain_text(str(msg.get("name") or ""), NAME_MAX),
                _plain_text(redact_cards(_plain_text(text, 10 * LINE_MAX)), LINE_MAX), ts)


def practice(chat_id: str, messages: list[dict[str, Any]], chosen: Any, data: Any, by: str, now_ms: int,
             base: Material | None = None) -> Material | Errors:
    """A proposed practice from a chat's messages (``Chats.history``): the ``chosen`` message
    ids, the marker's ``data`` (text: the note, required; title, else the note's first line;
    tags). Over ``base`` (the same person's earlier proposal) it is proposed again, to be
    reviewed again. Every problem listed; never raises."""
    errors: Errors = []
    if not isinstance(data, dict):
        return [("", "the practice must be a JSON object")]
    note = _text(data.get("text"), "text", TEXT_MAX, errors, required=True)
    title = _text(data.get("title"), "title", TITLE_MAX, errors)
    if not title and note:
        first = note.splitlines()[0].strip()
        title = first if len(first) <= TITLE_MAX else first[:TITLE_MAX - 1].rstrip() + "…"
    note, title = _plain_text(redact_cards(note), TEXT_MAX), _plain_text(redact_cards(title), TITLE_MAX)
    tags = validate_tags(data.get("tags"), errors)
    ids = [c for c in chosen if isinstance(c, str)] if isinstance(chosen, (list, tuple)) else []
    known = {str(m.get("id")) for m in messages}
    if not ids:
        errors.append(("messages", "choose at least one message"))
    elif any(c not in known for c in ids):
        errors.append(("messages", "a chosen message is not in this chat (it may have expired); reload the page"))
    elif len(set(ids)) > EXCERPT_MAX:
        errors.append(("messages", f"choose at most {EXCERPT_MAX} messages"))
    if errors:
        return errors
    wanted = set(ids)
    excerpt = tuple(_line(m) for m in messages if str(m.get("id")) in wanted)
    return Material(id=practice_id(chat_id, by), kind="practice", title=title, text=note, tags=tags,
                    created_by=base.created_by if base else by, created_ms=base.created_ms if base else now_ms,
                    status="proposed", excerpt=excerpt, source_chat=chat_id, proposed_by=by)


def reviewed(found: Material, publish: bool, by: str, now_ms: int) -> Material:
    """A practice published (active) or rejected (archived), and by whom."""
    return replace(found, status="active" if publish else "archived", reviewed_by=by, reviewed_ms=now_ms)


def stamped(before: Material, after: Material, by: str, now_ms: int) -> Material:
    """A practice whose status an update changed carries who changed it (the site API: "api")."""
    if after.kind != "practice" or after.status == before.status:
        return after
    if after.status == "proposed":
        return replace(after, reviewed_by="", reviewed_ms=0)
    return replace(after, reviewed_by=by, reviewed_ms=now_ms)


def site_url(url: str, origins: frozenset[str] | set[str]) -> str | None:
    """A link material's URL as the customer's browser is sent it: a path such as ``/kayaks``
    on the site's first origin (in sorted order, as the site lists them); None when the site
    has no origin. An absolute URL stays as it is (the chat checks it is the site's)."""
    if not url.startswith("/") or url.startswith("//"):
        return url
    return sorted(origins)[0].rstrip("/") + url if origins else None


# --- placeholders -----------------------------------------------------------------------------


def _plain_text(value: str, limit: int) -> str:
    """Plain, bounded text: no control characters but newline and tab, no lone surrogates."""
    value = "".join(c for c in value if (ord(c) >= 32 or c in "\n\t") and not 0xD800 <= ord(c) <= 0xDFFF)
    return value.strip()[:limit].strip()


def plain(value: str) -> str:
    """A placeholder's value as plain, bounded text: no control characters, no lone surrogates."""
    return _plain_text(value, VALUE_MAX)


def fill(text: str, values: Mapping[str, str]) -> str:
    """The reply with each known placeholder that has a value replaced by it, as plain text;
    an unknown ``{x}``, or a known one without a value, stays as typed for the rep to edit.
    Values are never read for placeholders themselves (one pass), and the result is bounded."""
    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        value = values.get(name) if name in PLACEHOLDERS else None
        return plain(value) if isinstance(value, str) and plain(value) else m.group(0)

    return PLACEHOLDER_RE.sub(one, text[:TEXT_MAX])[:TEXT_MAX + len(PLACEHOLDERS) * VALUE_MAX]


def placeholders(text: str) -> list[str]:
    """The known placeholders a reply uses, in order of first use."""
    out: list[str] = []
    for name in PLACEHOLDER_RE.findall(text):
        if name in PLACEHOLDERS and name not in out:
            out.append(name)
    return out


# --- uploads -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    content_type: str
    filename: str


def sanitise_filename(name: str, content_type: str = "") -> str:
    """A name safe in a Content-Disposition header and on any disk: the last path part only,
    ASCII letters, digits, dot, dash and underscore; no leading dot; the sniffed type's ending."""
    name = name if is_text(name) else ""
    name = unicodedata.normalize("NFKD", name.replace("\\", "/").split("/")[-1])
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name.encode("ascii", "ignore").decode())
    name = re.sub(r"_{2,}", "_", name).strip("._-")[:FILENAME_MAX] or "document"
    endings = TYPES.get(content_type, ())
    if endings and not name.lower().endswith(endings):
        name = name[:FILENAME_MAX - len(endings[0])] + endings[0]
    return name


def sniff(head: bytes) -> str | None:
    """The allowed type the bytes start as, or None."""
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def holds_markup(head: bytes) -> bool:
    """HTML, SVG or XML anywhere in the first KB (a polyglot that a browser may render)."""
    low = head[:SNIFF_BYTES].lower()
    squeezed = low.replace(b"\x00", b"")
    return any(marker in low or marker in squeezed for marker in MARKUP)


def check_upload(head: bytes, filename: str, claimed_type: str) -> Checked | Errors:
    """What an upload really is, from its first bytes; every reason to refuse it listed."""
    errors: Errors = []
    sniffed = sniff(head)
    if holds_markup(head):
        errors.append(("file", "holds HTML, SVG or XML; only PDF, PNG, JPEG, GIF and WebP files are accepted"))
    if sniffed is None:
        errors.append(("file", "is not a PDF, PNG, JPEG, GIF or WebP file"))
    name = filename if is_text(filename) else ""
    base = name.replace("\\", "/").split("/")[-1].lower()
    ending = base[base.rfind("."):] if "." in base else ""
    known = {e for endings in TYPES.values() for e in endings}
    if ending and ending not in known:
        errors.append(("filename", f"must end in one of {', '.join(sorted(known))}"))
    elif ending and sniffed and ending not in TYPES[sniffed]:
        errors.append(("filename", f"ends in {ending} but the file is {sniffed}"))
    claimed = claimed_type.split(";")[0].strip().lower() if is_text(claimed_type) else "?"
    if claimed not in ("", "application/octet-stream") and sniffed and claimed != sniffed:
        errors.append(("content_type", f"says {claimed[:60]} but the file is {sniffed}"))
    if errors or sniffed is None:
        return errors
    return Checked(sniffed, sanitise_filename(name, sniffed))
