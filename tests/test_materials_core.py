"""The materials library's pure part (core/materials.py): validation lists every problem and
never raises on hostile input; placeholders are filled with plain text and unknown ones left
as typed; an upload's real type comes from its bytes, and markup hidden in a PDF or an image
is refused whatever the file is called."""

from __future__ import annotations

from hypothesis import given, settings as hsettings, strategies as st

from backend.core import materials as core
from tests.helpers import LONE_SURROGATES, deep, hostile_json

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" + b"x" * 2000
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100


@hsettings(max_examples=300, deadline=None)
@given(data=hostile_json(), fields=st.dictionaries(st.sampled_from([*core.FIELDS, "x"]), hostile_json(), max_size=6))
def test_validation_lists_problems_and_never_raises(data, fields) -> None:
    for given_ in (data, fields, {**fields, "tags": data}):
        found = core.validate(given_, "m-12345678", "rep-1", 1)
        assert isinstance(found, (list, core.Material))
        if isinstance(found, list):
            assert found and all(isinstance(p, str) and isinstance(m, str) for p, m in found)
        else:
            assert core.read(found.as_json()) == found


def test_every_problem_is_listed_at_once() -> None:
    found = core.validate({"kind": "link", "title": "", "url": "javascript:alert(1)", "colour": 1,
                           "tags": {"reasons": ["form_errors", "nope"], "languages": ["en", "no way"],
                                    "url_patterns": ["kayaks"], "products": "kayaks", "smell": []}},
                          "m-12345678", "rep-1", 1)
    assert [p for p, _ in found] == ["colour", "title", "url", "tags.smell", "tags.products", "tags.url_patterns[0]",
                                     "tags.reasons[1]", "tags.languages[1]"]
    for bad in (None, [], "x", deep(10_000), {"kind": "reply", "title": LONE_SURROGATES[0], "text": "x" * 10**6}):
        assert isinstance(core.validate(bad, "m-12345678", "rep-1", 1), list)
    ok = core.validate({"kind": "link", "title": "Sizes", "url": "/kayaks/sizes",
                        "tags": {"products": ["Kayaks"], "reasons": ["service_point"]}},
                       "m-12345678", "rep-1", 1)
    assert isinstance(ok, core.Material) and ok.tags.products == ("kayaks",)
    assert isinstance(core.validate({"kind": "link", "title": "x", "url": "//evil.example/"}, "m-12345678", "r", 1),
                      list)


def test_placeholders_are_filled_as_plain_text_and_unknown_ones_stay() -> None:
    text = "Hello {customer_name}, the {product} fits. {unknown} {rep_name} {{product}}"
    filled = core.fill(text, {"customer_name": "<b>Ann</b>\x00", "product": "Sea kayak", "unknown": "nope"})
    assert filled == "Hello <b>Ann</b>, the Sea kayak fits. {unknown} {rep_name} {Sea kayak}"
    assert core.fill("{product}", {"product": "{customer_name}", "customer_name": "Ann"}) == "{customer_name}"
    assert core.fill("{customer_name}", {"customer_name": "x" * 10_000}) == "x" * core.VALUE_MAX
    assert core.fill("{product}", {"product": LONE_SURROGATES[0]}) == "{product}"
    assert core.placeholders(text) == ["customer_name", "product", "rep_name"]


def test_the_type_comes_from_the_bytes_and_must_agree_with_the_name_and_claim() -> None:
    assert core.check_upload(PDF, "Price list.pdf", "application/pdf") == core.Checked("application/pdf",
                                                                                      "Price_list.pdf")
    assert core.check_upload(PNG, "chart", "") == core.Checked("image/png", "chart.png")
    assert core.check_upload(JPEG, "photo.JPEG", "image/jpeg").content_type == "image/jpeg"
    assert [p for p, _ in core.check_upload(PNG, "x.pdf", "image/png")] == ["filename"]
    assert [p for p, _ in core.check_upload(PDF, "x.pdf", "image/png")] == ["content_type"]
    assert [p for p, _ in core.check_upload(b"MZ\x90\x00", "x.exe", "")] == ["file", "filename"]


def test_html_and_svg_are_refused_even_disguised() -> None:
    for body, name in [(b"<!doctype html><html><script>alert(1)</script>", "x.pdf"),
                       (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "x.png"),
                       (b"%PDF-1.4\n<html><body>hi</body></html>", "x.pdf"),
                       (b"%PDF-1.4\n" + b" " * 900 + b"<SVG onload=x>", "x.pdf"),
                       (PNG + "<svg>".encode("utf-16-le"), "x.png"),
                       (b"GIF89a<?xml version='1.0'?>", "x.gif")]:
        found = core.check_upload(body, name, "")
        assert isinstance(found, list) and any("HTML, SVG or XML" in m or "not a PDF" in m for _, m in found), body


def test_file_names_never_carry_a_path() -> None:
    for name in ["../../etc/passwd", "..\\..\\x", "/etc/passwd", "C:\\Windows\\win.ini", "a\x00.pdf", "..",
                 ".htaccess", "", LONE_SURROGATES[0], "é" * 500]:
        safe = core.sanitise_filename(name, "application/pdf")
        assert safe.endswith(".pdf") and "/" not in safe and "\\" not in safe and "\x00" not in safe
        assert not safe.startswith(".") and len(safe) <= core.FILENAME_MAX and safe.isascii()
    assert core.sanitise_filename("../../etc/passwd", "application/pdf") == "passwd.pdf"


# --- practices (winning conversations) -------------------------------------------------------

MESSAGES = [{"id": f"{i}-0", "from": f, "name": "Ria" if f == "rep" else "", "text": t, "kind": "text", "ts": i}
            for i, (f, t) in enumerate([("system", "Ria joined the chat."), ("visitor", "<img src=x onerror=alert(1)>"),
                                        ("rep", "Which size?"), ("visitor", "card 5555-5555-5555-4444 please")])]

message = st.fixed_dictionaries({"id": hostile_json(), "from": hostile_json(), "name": hostile_json(),
                                 "text": hostile_json(), "kind": hostile_json(), "ts": hostile_json(),
                                 "url": hostile_json(), "title": hostile_json()})


@hsettings(max_examples=300, deadline=None)
@given(messages=st.lists(message, max_size=5), chosen=hostile_json(), data=hostile_json(),
       fields=st.dictionaries(st.sampled_from(["text", "title", "tags", "x"]), hostile_json(), max_size=4))
def test_a_practice_from_any_chat_lists_problems_never_raises_and_reads_back(messages, chosen, data, fields) -> None:
    for msgs in (messages, MESSAGES):
        ids = [str(m.get("id")) for m in msgs]
        for chosen_, data_ in ((chosen, data), (ids, fields), (ids, {**fields, "text": "Why it worked"})):
            found = core.practice("chat-12345678", msgs, chosen_, data_, "rep-1", 1)
            assert isinstance(found, (list, core.Material))
            if isinstance(found, list):
                assert found and all(isinstance(p, str) and isinstance(m, str) for p, m in found)
                continue
            assert found.kind == "practice" and found.status == "proposed" and 0 < len(found.excerpt) <= 60
            assert core.read(found.as_json()) == found
            for line in found.excerpt:
                assert line.sender in core.SENDERS and len(line.text) <= core.LINE_MAX


@hsettings(max_examples=200, deadline=None)
@given(data=hostile_json(), fields=st.dictionaries(st.sampled_from([*core.FIELDS, "excerpt", "source_chat",
                                                                    "reviewed_ms"]), hostile_json(), max_size=6))
def test_a_stored_practice_that_does_not_read_is_none_and_updates_keep_its_excerpt(data, fields) -> None:
    made = core.practice("chat-12345678", MESSAGES, [m["id"] for m in MESSAGES], {"text": "Good"}, "rep-1", 1)
    assert isinstance(made, core.Material)
    stored = made.as_json()
    for hostile in ({**stored, **fields}, {**stored, "excerpt": data}, data):
        found = core.read(hostile)
        assert found is None or isinstance(found, core.Material)
    updated = core.validate(fields, made.id, "x", 2, base=made)
    if isinstance(updated, core.Material):
        assert updated.excerpt == made.excerpt and updated.source_chat == made.source_chat


def test_a_practice_is_only_made_from_a_chat_and_redacts_card_numbers() -> None:
    assert core.validate({"kind": "practice", "title": "x", "text": "y"}, "m-12345678", "r", 1) \
        == [("kind", core.FROM_CHAT)]
    assert core.validate({"kind": "reply", "title": "x", "text": "y", "status": "proposed"}, "m-12345678", "r", 1) \
        == [("status", "only a practice is proposed; use active or archived")]
    found = core.practice("chat-12345678", MESSAGES, ["1-0", "3-0"], {"text": "Kept calm\nand then"}, "rep-1", 5)
    assert [(line.sender, line.text) for line in found.excerpt] == [
        ("visitor", "<img src=x onerror=alert(1)>"), ("visitor", f"card {core.CARD_MASK} please")]
    assert found.title == "Kept calm" and found.id == core.practice_id("chat-12345678", "rep-1")
    assert core.practice("chat-12345678", MESSAGES, [], {"text": ""}, "r", 1) == [
        ("text", "is required"), ("messages", "choose at least one message")]
    assert core.practice("c", MESSAGES, ["9-9"], {"text": "x"}, "r", 1)[0][0] == "messages"
    many = [{"id": f"{i}-0", "from": "rep", "text": "x", "ts": i} for i in range(61)]
    assert core.practice("c", many, [m["id"] for m in many], {"text": "x"}, "r", 1) == [
        ("messages", "choose at most 60 messages")]
    published = core.reviewed(found, True, "boss", 9)
    assert (published.status, published.reviewed_by, published.reviewed_ms) == ("active", "boss", 9)
    assert core.stamped(published, core.reviewed(found, False, "x", 1), "api", 10).reviewed_by == "api"

    for card in ("4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "378282246310005",
                 "6011 0009 9013 9424", "4111 1111 1111 1111 123"):
        assert core.redact_cards(f"mine: {card}.") == f"mine: {core.CARD_MASK}."
    for kept in ("4111111111111112", "order 12345", "call 020 7946 0958", "1234567890123456789012",
                 "2025-12-25", "4111  1111 1111 1111"[:9]):
        assert core.redact_cards(kept) == kept


def test_an_excerpt_line_with_an_impossible_time_reads_as_no_time() -> None:
    """Found by hypothesis: a message whose ``ts`` is infinite or not a number."""
    from backend.core.materials import _line

    for ts in (float("inf"), float("nan"), "soon", None, -5):
        assert _line({"id": "1-0", "from": "rep", "text": "hi", "ts": ts}).ts == 0
