"""A representative sends a material into a chat (the console socket's ``material``): a link
becomes a link message (a path on the site's first origin), a document a card whose signed,
time-limited link the customer downloads on the collector's origin without a login. The
signature covers the site, the material, the stored file and the expiry: tampering with any
of them, a replaced file, an archived material or another site's key in the path is 404; a
good link past its week is 410; a hostile path is never a 500. Real Redis and real files."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from backend.core import download_links as dl
from backend.core.download_links import LINK_TTL_S, Verdict
from backend.core.materials import site_url
from tests.helpers import ORIGIN, admin, console_login, expect, make_rep, page_socket, recv, waiting_request

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" + b"x" * 3000 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
SECRET = "s" * 40
SITE, MID, STORED = "site-key-0001", "material-0001", "0123456789abcdef" * 2
WS = "ws://beckon.test/console/ws"
HOSTILE = "<img src=x onerror=alert(1)>"


# --- signing, pure ------------------------------------------------------------------------

def parts(link: str) -> list[str]:
    return urlsplit(link).path.split("/")[3:]  # "", "v1", "d", site, mid, exp, sig


def test_a_link_verifies_for_its_own_file_until_it_expires() -> None:
    now = 1_700_000_000
    site, mid, exp, sig = parts(dl.path(SECRET, SITE, MID, STORED, now))
    assert (site, mid, int(exp)) == (SITE, MID, now + LINK_TTL_S) and dl.SIG_RE.fullmatch(sig)
    assert dl.verify(SECRET, site, mid, STORED, exp, sig, now) is Verdict.GOOD
    assert dl.verify(SECRET, site, mid, STORED, exp, sig, now + LINK_TTL_S) is Verdict.GOOD
    assert dl.verify(SECRET, site, mid, STORED, exp, sig, now + LINK_TTL_S + 1) is Verdict.EXPIRED
    assert dl.path(SECRET, SITE, MID, STORED, now, ttl_s=60).split("/")[-2] == str(now + 60)


def test_tampering_with_any_part_or_another_secret_fails() -> None:
    now = 1_700_000_000
    site, mid, exp, sig = parts(dl.path(SECRET, SITE, MID, STORED, now))
    other_sig = ("A" if sig[0] != "A" else "B") + sig[1:]
    for args in ((SECRET, "site-key-0002", mid, STORED, exp, sig),  # another site
                 (SECRET, site, "material-0002", STORED, exp, sig),  # another material
                 (SECRET, site, mid, "f" * 32, exp, sig),  # the file was replaced
                 (SECRET, site, mid, STORED, str(int(exp) + 86400), sig),  # a later expiry
                 (SECRET, site, mid, STORED, exp, other_sig),
                 ("another secret of forty characters......", site, mid, STORED, exp, sig)):
        assert dl.verify(*args, now) is Verdict.BAD, args
    # an expired forgery is just bad: the expiry is told only to holders of a good signature
    assert dl.verify(SECRET, site, mid, STORED, "1", other_sig, now) is Verdict.BAD


@pytest.mark.parametrize("bad", ["", "../../etc", "a" * 65, "ünïcødé-key", "site key 01", "x\x00" * 5, None, 7])
def test_hostile_parts_are_refused_before_anything_is_computed(bad: Any) -> None:
    sig = dl.sign(SECRET, SITE, MID, STORED, 10)
    assert not dl.well_formed(bad, MID, "10", sig) and not dl.well_formed(SITE, bad, "10", sig)
    assert not dl.well_formed(SITE, MID, bad, sig) and not dl.well_formed(SITE, MID, "10", bad)
    assert dl.verify(SECRET, SITE, MID, bad, "10", sig, 0) is Verdict.BAD
    assert not dl.well_formed(SITE, MID, "9" * 12, sig)  # an expiry beyond the year 5000
    with pytest.raises(ValueError):
        dl.path(SECRET, SITE, MID, "../../x", 0)


def test_a_link_materials_path_goes_to_the_sites_first_origin() -> None:
    origins = frozenset({"https://shop.example", "https://a.shop.example"})
    assert site_url("/kayaks?x=1", origins) == "https://a.shop.example/kayaks?x=1"
    assert site_url("https://shop.example/x", origins) == "https://shop.example/x"
    assert site_url("//evil.example/x", origins) == "//evil.example/x"  # left for check_link to refuse
    assert site_url("/kayaks", frozenset()) is None


# --- the download route, on real Redis and files -------------------------------------------

def new_material(client: TestClient, key: str, **fields: Any) -> str:
    r = client.post(f"/v1/sites/{key}/materials", json=fields, headers=admin())
    assert r.status_code == 201, r.text
    return r.json()["id"]


def document(client: TestClient, key: str, body: bytes = PDF, filename: str = "price list.pdf",
             title: str = "Price list") -> str:
    mid = new_material(client, key, kind="document", title=title)
    r = client.put(f"/v1/sites/{key}/materials/{mid}/document", params={"filename": filename}, content=body,
                   headers={**admin(), "Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    return mid


def link_of(client: TestClient, key: str, mid: str, **kw: Any) -> str:
    svc = client.app.state.services
    found = client.portal.call(lambda: svc.materials.customer_link(
        key, mid, "http://beckon.test", secret=svc.settings.secret_key, **kw))
    return found.url if found else ""


def test_the_link_downloads_the_file_as_an_attachment(client: TestClient, site: dict) -> None:
    key = site["key"]
    mid = document(client, key)
    url = link_of(client, key, mid)
    assert url.startswith(f"http://beckon.test/v1/d/{key}/{mid}/")
    r = client.get(url)  # no login, no key: the link is the permission
    assert r.status_code == 200 and r.content == PDF
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == 'attachment; filename="price_list.pdf"'
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert r.headers["cross-origin-resource-policy"] == "same-origin"
    assert r.headers["cache-control"] == "no-store"
    # a reply or a link has no file to link to; nor has a document before its upload
    assert link_of(client, key, new_material(client, key, kind="reply", title="Hi", text="Hello")) == ""
    assert link_of(client, key, new_material(client, key, kind="document", title="Later")) == ""
    assert link_of(client, key, "no-such-material") == ""


def test_a_replaced_file_an_archived_material_or_an_old_link_is_refused(client: TestClient, site: dict) -> None:
    key = site["key"]
    mid = document(client, key)
    old = link_of(client, key, mid)
    expired = link_of(client, key, mid, now_s=time.time() - LINK_TTL_S - 5)
    r = client.get(expired)
    assert r.status_code == 410 and "expired" in r.json()["error"]
    r = client.put(f"/v1/sites/{key}/materials/{mid}/document", params={"filename": "chart.png"}, content=PNG,
                   headers={**admin(), "Content-Type": "image/png"})
    assert r.status_code == 200
    r = client.get(old)
    assert r.status_code == 404 and r.json()["error"].startswith("this download link is not valid")
    assert client.get(expired).status_code == 404  # signed for the old file: not ours any more
    new = link_of(client, key, mid)
    r = client.get(new)
    assert r.status_code == 200 and r.content == PNG and r.headers["content-type"] == "image/png"
    assert client.delete(f"/v1/sites/{key}/materials/{mid}", headers=admin()).status_code == 200
    assert client.get(new).status_code == 404  # archived: its links end with it


def test_another_sites_key_or_a_tampered_part_gets_404(client: TestClient, site: dict) -> None:
    key = site["key"]
    other = client.post("/v1/sites", json={"name": "Other", "origins": ["https://other.example"]},
                        headers=admin()).json()["key"]
    mid = document(client, key)
    theirs = document(client, other, PNG, "theirs.png")
    _, _, _, _, _, exp, sig = urlsplit(link_of(client, key, mid)).path.split("/")
    _, _, _, _, _, their_exp, their_sig = urlsplit(link_of(client, other, theirs)).path.split("/")
    for path in (f"/v1/d/{other}/{mid}/{exp}/{sig}",  # our material under their key
                 f"/v1/d/{other}/{theirs}/{exp}/{sig}",  # their material with our signature
                 f"/v1/d/{key}/{theirs}/{their_exp}/{their_sig}",  # their good link under our key
                 f"/v1/d/{key}/{mid}/{int(exp) + 1}/{sig}",
                 f"/v1/d/{key}/{mid}/{exp}/{'A' * 43}",
                 f"/v1/d/unknown-site-key/{mid}/{exp}/{sig}"):
        r = client.get(path)
        assert r.status_code == 404 and r.json()["error"].startswith("this download link is not valid"), path
    assert client.get(f"/v1/d/{other}/{theirs}/{their_exp}/{their_sig}").content == PNG


@pytest.mark.parametrize("part", [3, 4, 5, 6])
def test_hostile_path_parts_are_404_never_500(client: TestClient, site: dict, part: int) -> None:
    key = site["key"]
    mid = document(client, key)
    good = urlsplit(link_of(client, key, mid)).path.split("/")
    for bad in ("..", "%2e%2e", "%2F..%2F..%2Fetc%2Fpasswd", "x" * 5000, "%C3%BC" * 20, "%00", "%ff%fe",
                "a%20b", "-1", "1e9", "9" * 40, "%E2%80%AE" + "a" * 10):
        path = "/".join(good[:part] + [bad] + good[part + 1:])
        r = client.get(path)
        assert r.status_code == 404, (path[:80], r.status_code, r.text[:200])


# --- the console socket's "material" ------------------------------------------------------

def answer(ws: Any, ref: str) -> dict:
    """The ack or error that answers the message with ``ref``."""
    while True:
        frame = recv(ws)
        if frame["type"] in ("ack", "error") and frame.get("ref") == ref:
            return frame


@pytest.fixture()
def in_a_chat(client: TestClient, site: dict):
    """Ria's console socket and her chat with visitor-0001 (as (socket, chat id))."""
    key = site["key"]
    make_rep(client, key, email="ria@shop.example", name="Ria", capacity=2)
    csrf = console_login(client, "ria@shop.example")
    with client.websocket_connect(f"{WS}?csrf={csrf}", headers={"Origin": "http://beckon.test"}) as ws:
        ws.send_json({"type": "presence", "status": "available"})
        expect(ws, "presence")
        cid = waiting_request(client, key)
        ws.send_json({"type": "accept", "id": cid})
        expect(ws, "chats", lambda f: f["chats"])
        yield ws, cid


def test_a_document_reaches_the_customer_as_a_card_whose_link_downloads_it(
        client: TestClient, site: dict, in_a_chat) -> None:
    key = site["key"]
    ws, cid = in_a_chat
    mid = document(client, key, title=HOSTILE)
    with page_socket(client, key, "visitor-0001") as page:
        ws.send_json({"type": "material", "chat": cid, "material": mid, "ref": "m1"})
        ack = answer(ws, "m1")
        assert ack["type"] == "ack" and ack["chat"] == cid
        msg = expect(page, "msg", lambda f: f["msg"].get("kind") == "document")["msg"]
    assert msg["id"] == ack["id"] and msg["from"] == "rep" and msg["name"] == "Ria"
    assert (msg["title"], msg["text"], msg["filename"], msg["size"], msg["content_type"]) == \
        (HOSTILE, HOSTILE, "price_list.pdf", str(len(PDF)), "application/pdf")
    public = client.app.state.services.settings.public_url
    assert msg["url"].startswith(f"{public}/v1/d/{key}/{mid}/")  # absolute, on the collector's origin
    r = client.get(urlsplit(msg["url"]).path)
    assert r.status_code == 200 and r.content == PDF
    assert r.headers["content-disposition"] == 'attachment; filename="price_list.pdf"'
    history = client.portal.call(client.app.state.services.chats.history, key, cid)
    assert history[-1]["kind"] == "document" and history[-1]["url"] == msg["url"]


def test_a_link_material_that_is_a_path_goes_to_the_sites_page(client: TestClient, site: dict, in_a_chat) -> None:
    key = site["key"]
    ws, cid = in_a_chat
    path = new_material(client, key, kind="link", title="Our kayaks", url="/kayaks?size=m")
    ws.send_json({"type": "material", "chat": cid, "material": path, "ref": "m1"})
    ack = msg = None
    while ack is None or msg is None:  # the echo and the ack race each other
        frame = recv(ws)
        if frame["type"] in ("ack", "error") and frame.get("ref") == "m1":
            ack = frame
        elif frame["type"] == "msg" and frame["msg"].get("kind") == "link":
            msg = frame["msg"]
    assert ack["type"] == "ack" and ack["id"] == msg["id"]
    assert (msg["url"], msg["title"], msg["text"]) == (ORIGIN + "/kayaks?size=m", "Our kayaks", "Our kayaks")
    # an https link elsewhere may be in the library, but only the site's own pages are sent
    away = new_material(client, key, kind="link", title="Elsewhere", url="https://evil.example/x")
    ws.send_json({"type": "material", "chat": cid, "material": away, "ref": "m2"})
    assert "only pages of this site" in answer(ws, "m2")["message"]


def test_what_cannot_be_sent_is_an_error_that_says_why(client: TestClient, site: dict, in_a_chat) -> None:
    key = site["key"]
    ws, cid = in_a_chat
    other = client.post("/v1/sites", json={"name": "Other", "origins": ["https://other.example"]},
                        headers=admin()).json()["key"]
    theirs = document(client, other)
    reply = new_material(client, key, kind="reply", title="Hi", text="Hello {customer_name}")
    archived = document(client, key)
    client.delete(f"/v1/sites/{key}/materials/{archived}", headers=admin())
    empty = new_material(client, key, kind="document", title="No file yet")
    mine = document(client, key)
    cases = {theirs: "no such material", reply: "insert a reply into the message box instead",
             archived: "this material is archived", empty: "this document has no file yet",
             "no-such-material": "no such material", "../../etc/passwd": "no such material",
             "x" * 5000: "no such material", "ünïcødé-material": "no such material"}
    for n, (mid, why) in enumerate(cases.items()):
        ws.send_json({"type": "material", "chat": cid, "material": mid, "ref": f"e{n}"})
        got = answer(ws, f"e{n}")
        assert (got["type"], got["message"]) == ("error", why), mid[:40]
    for n, hostile in enumerate((None, 7, [mine], {"id": mine}, True)):
        ws.send_json({"type": "material", "chat": cid, "material": hostile, "ref": f"h{n}"})
        assert answer(ws, f"h{n}")["message"] == "no such material"
    # a chat that is not hers (a request nobody took yet), or no chat at all
    waiting = waiting_request(client, key, "visitor-0002")
    for n, chat in enumerate((waiting, "no-such-chat", None, "../x")):
        ws.send_json({"type": "material", "chat": chat, "material": mine, "ref": f"c{n}"})
        assert answer(ws, f"c{n}")["message"] in ("this chat is not yours", "no such chat")
    messages = client.portal.call(client.app.state.services.chats.history, key, cid)
    assert not [m for m in messages if m["kind"] in ("document", "link")]  # nothing was sent
