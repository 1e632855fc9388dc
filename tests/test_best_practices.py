"""Winning conversations (real Redis and services, through the console's pages): a rep marks
part of their chat with a note; an admin sees it proposed, edits its tags and publishes it; it
shows in the training view for its product and not for another, customer text escaped and
card numbers gone; "use this example" counts a use under the chat's context. A rep cannot
mark another rep's chat nor publish; another site's admin cannot see it; an auditor reads and
changes nothing; a form without its CSRF token is refused; a practice cannot be made through
the generic materials API."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from backend.core import materials as core
from backend.store import keys
from tests.helpers import PASSWORD, admin, make_rep, presence, waiting_request

PAGES = {"pages": [{"pattern": "/quote*", "category": "insurance", "product": "Home cover"},
                   {"pattern": "/kayaks*", "category": "boats", "product": "Kayak"}], "rule_sets": []}
XSS = "<img src=x onerror=alert(1)>"
CARD = "4111 1111 1111 1111"


def log_in(client: TestClient, email: str) -> str:
    """Any role: the session's CSRF token, read from the page the console lands on."""
    client.cookies.clear()
    form = client.get("/console/login").text
    r = client.post("/console/login", data={"csrf": re.search(r'name="csrf" value="([^"]+)"', form).group(1),
                                            "email": email, "password": PASSWORD, "next": "/console/practices"})
    return re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)


def a_chat(client: TestClient, key: str, rid: str, vid: str = "visitor-0001") -> tuple[str, list[dict]]:
    """A chat on the quote page (product Home cover) held by ``rid``, with the customer's
    hostile text and card number in it; its messages."""
    presence(client, key, rid, "available")
    cid = waiting_request(client, key, vid=vid)
    svc = client.app.state.services
    client.portal.call(svc.chats.accept, key, cid, rid)
    for sender, text in (("visitor", f"Hi {XSS}"), ("rep", "Happy to help: which cover?"),
                         ("visitor", f"Here is my card {CARD} exp 12/27"), ("rep", "Please never send that.")):
        client.portal.call(svc.chats.say, key, cid, sender, "Ria" if sender == "rep" else "", text)
    return cid, client.portal.call(svc.chats.history, key, cid)


def records(client: TestClient, key: str, facet: str) -> dict:
    svc = client.app.state.services
    return client.portal.call(svc.practices.records, key, facet)


def tags_form(**typed: str) -> dict[str, str]:
    return {name: typed.get(name, "") for name in core.TAG_FIELDS}


def test_marked_reviewed_published_and_used_as_a_worked_example(client: TestClient, site: dict) -> None:
    key = site["key"]
    assert client.put(f"/v1/sites/{key}/matching", json=PAGES, headers=admin()).status_code == 200
    ria = make_rep(client, key, email="ria@shop.example", name="Ria")
    make_rep(client, key, email="bo@shop.example", name="Bo")
    make_rep(client, key, email="boss@shop.example", name="Boss", role="admin")
    make_rep(client, key, email="audit@shop.example", name="Audrey", role="auditor")
    cid, messages = a_chat(client, key, ria)
    joined, hello, question, card, warning = [m["id"] for m in messages]
    mark = f"/console/chats/{cid}/practice"

    csrf = log_in(client, "ria@shop.example")
    page = client.get(mark)
    assert page.status_code == 200
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text and XSS not in page.text
    assert page.text.count('name="m"') == 5 and page.text.count(" checked") == 4  # all but "Ria joined", by default
    assert 'value="' + joined + '" checked' not in page.text
    assert 'value="home cover"' in page.text and 'value="insurance"' in page.text  # tags from the chat's context

    assert client.post(mark, data={"m": hello, "text": "x"}).status_code == 403  # no CSRF token
    r = client.post(mark, data={"csrf": csrf, "text": "  ", **tags_form()})
    assert r.status_code == 400
    assert re.search(r'id="text-errors"[^>]*>\s*<li>is required', r.text)
    assert "choose at least one message" in r.text
    r = client.post(mark, data={"csrf": csrf, "m": hello, "text": "n" * (core.TEXT_MAX + 1), **tags_form()})
    assert r.status_code == 400 and f"must be at most {core.TEXT_MAX} characters" in r.text
    assert 'value="' + hello + '" checked' in r.text  # what was chosen stays chosen
    r = client.post(mark, data={"csrf": csrf, "m": "1-1", "text": "ok", **tags_form()})
    assert r.status_code == 400 and "not in this chat" in r.text
    r = client.post(mark, data={"csrf": csrf, "m": hello, "text": "ok", **tags_form(reasons="nope")})
    assert r.status_code == 400 and "unknown reason" in r.text

    data = {"csrf": csrf, "m": [hello, question, card], "text": "First draft", **tags_form(products="home cover")}
    assert client.post(mark, data=data, follow_redirects=False).status_code == 303
    data.update(text="Asked before offering <b>anything</b>", title="")
    r = client.post(mark, data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{mark}?saved=1"  # the same proposal, updated
    mid = core.practice_id(cid, ria)
    proposed = client.get(f"/v1/sites/{key}/materials?status=proposed", headers=admin()).json()["materials"]
    assert [m["id"] for m in proposed] == [mid]
    stored = proposed[0]
    assert stored["kind"] == "practice" and stored["title"] == "Asked before offering <b>anything</b>"
    assert [line["text"] for line in stored["excerpt"]] == [
        f"Hi {XSS}", "Happy to help: which cover?", f"Here is my card {core.CARD_MASK} exp 12/27"]
    assert stored["source_chat"] == cid and stored["proposed_by"] == ria and stored["status"] == "proposed"
    assert joined not in {line["id"] for line in stored["excerpt"]}

    # Not yet published: not in the training view; a rep neither reviews nor publishes.
    assert f"practice-{mid}" not in client.get("/console/practices").text
    assert client.get("/console/admin/practices").status_code == 403
    assert client.get(f"/console/admin/practices/{mid}").status_code == 403
    assert client.post(f"/console/admin/practices/{mid}", data={"csrf": csrf, "decision": "publish"}).status_code \
        == 403

    # Another rep may not mark Ria's chat, nor use an example in it.
    bo_csrf = log_in(client, "bo@shop.example")
    assert client.get(mark).status_code == 404
    assert client.post(mark, data={"csrf": bo_csrf, "m": hello, "text": "mine now"}).status_code == 404
    assert client.get(f"/console/practices?chat={cid}").status_code == 404

    # An auditor reads the review pages and changes nothing.
    audit_csrf = log_in(client, "audit@shop.example")
    assert f"practice-{mid}" in client.get("/console/admin/practices").text
    review = client.get(f"/console/admin/practices/{mid}")
    assert review.status_code == 200 and 'id="review-form"' not in review.text
    assert client.post(f"/console/admin/practices/{mid}", data={"csrf": audit_csrf, "decision": "publish",
                                                                 "text": "x", "title": "x"}).status_code == 403
    assert client.get(mark).status_code == 403

    # The admin reviews: the excerpt escaped, the card gone, tags edited, published.
    boss_csrf = log_in(client, "boss@shop.example")
    listing = client.get("/console/admin/practices")
    assert f'id="practice-{mid}"' in listing.text and "&lt;b&gt;anything&lt;/b&gt;" in listing.text
    review = client.get(f"/console/admin/practices/{mid}")
    assert "&lt;img src=x onerror=alert(1)&gt;" in review.text and XSS not in review.text
    assert CARD not in review.text and core.CARD_MASK in review.text
    target = f"/console/admin/practices/{mid}"
    form = {"csrf": boss_csrf, "title": "Ask first", "text": "Asked before offering anything",
            **tags_form(products="Home cover", reasons="form_errors")}
    assert client.post(target, data={**form, "csrf": ""}).status_code == 403
    r = client.post(target, data={**form, "decision": "maybe"})
    assert r.status_code == 400 and "choose Publish or Reject" in r.text
    r = client.post(target, data={**form, "decision": "publish", "languages": "no way"})
    assert r.status_code == 400 and "language tag" in r.text
    r = client.post(target, data={**form, "decision": "publish"}, follow_redirects=False)
    assert r.status_code == 303
    found = client.get(f"/v1/sites/{key}/materials/{mid}", headers=admin()).json()
    boss = found["reviewed_by"]
    assert found["status"] == "active" and found["title"] == "Ask first" and boss not in ("", ria)
    assert found["tags"]["products"] == ["home cover"] and found["tags"]["reasons"] == ["form_errors"]
    assert found["reviewed_ms"] > 0
    assert f"practice-{mid}" in client.get("/console/admin/practices?status=active").text
    assert f"practice-{mid}" not in client.get("/console/admin/practices").text  # no longer to review

    # The training view: for its product, not for another; escaped; a GET counts nothing.
    csrf = log_in(client, "ria@shop.example")
    shown = client.get("/console/practices", params={"product": "Home cover"})
    assert f'id="practice-{mid}"' in shown.text and "new: not used in a chat like this one yet" in shown.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in shown.text and XSS not in shown.text and CARD not in shown.text
    assert '<option value="kayak">' in shown.text  # the choices come from the site's page map
    assert f"practice-{mid}" not in client.get("/console/practices", params={"product": "Kayak"}).text
    assert f"practice-{mid}" not in client.get("/console/practices", params={"reason": "page_dwell"}).text
    assert f"practice-{mid}" in client.get("/console/practices", params={"reason": "form_errors"}).text
    mine = client.get(f"/console/practices?chat={cid}")
    assert 'value="home cover" selected' in mine.text and "Use this example in my chat" in mine.text
    assert records(client, key, "*") == {}

    use = f"/console/practices/{mid}/use"
    assert client.post(use, data={"chat": cid}).status_code == 403  # no CSRF token
    r = client.post(use, data={"csrf": csrf, "chat": cid}, follow_redirects=False)
    assert r.status_code == 303
    assert client.post(use, data={"csrf": csrf, "chat": cid}, follow_redirects=False).status_code == 303
    for facet in ("*", "product=home cover", "category=insurance", f"rep={ria}", "reason=form_errors"):
        assert records(client, key, facet)[mid].uses == 1, facet  # once per chat
    assert client.post("/console/practices/nosuchpractice1/use", data={"csrf": csrf, "chat": cid}).status_code \
        == 404
    shown = client.get("/console/practices", params={"product": "Home cover"}).text
    assert "sold in 0 of 1 chats about home cover" in shown

    # Archived (rejected) through the site API: gone from the training view, reviewer "api".
    r = client.put(f"/v1/sites/{key}/materials/{mid}", json={"status": "archived"}, headers=admin())
    assert r.status_code == 200 and r.json()["reviewed_by"] == "api" and r.json()["excerpt"]
    assert f"practice-{mid}" not in client.get("/console/practices").text


def test_another_site_cannot_see_or_review_it_and_the_api_cannot_make_one(client: TestClient, site: dict) -> None:
    key = site["key"]
    ria = make_rep(client, key, email="ria@shop.example", name="Ria")
    make_rep(client, key, email="boss@shop.example", name="Boss", role="admin")
    cid, messages = a_chat(client, key, ria)
    csrf = log_in(client, "boss@shop.example")  # an admin marks any chat of the site
    mark = f"/console/chats/{cid}/practice"
    r = client.post(mark, data={"csrf": csrf, "m": [m["id"] for m in messages], "text": "Calm and clear",
                                **tags_form()}, follow_redirects=False)
    assert r.status_code == 303, r.text
    mid = client.get(f"/v1/sites/{key}/materials?status=proposed", headers=admin()).json()["materials"][0]["id"]

    other = client.post("/v1/sites", json={"name": "Elsewhere", "origins": ["https://else.example"]},
                        headers=admin()).json()["key"]
    make_rep(client, other, email="them@else.example", name="Them", role="admin")
    theirs = log_in(client, "them@else.example")
    assert f"practice-{mid}" not in client.get("/console/admin/practices?status=all").text
    assert client.get(f"/console/admin/practices/{mid}").status_code == 404
    assert client.post(f"/console/admin/practices/{mid}", data={"csrf": theirs, "decision": "publish",
                                                                 "text": "x", "title": "x"}).status_code == 404
    assert client.get(mark).status_code == 404
    assert client.post(f"/console/practices/{mid}/use", data={"csrf": theirs, "chat": cid}).status_code == 404
    assert client.get(f"/v1/sites/{key}/materials/{mid}", headers=admin()).json()["status"] == "proposed"

    r = client.post(f"/v1/sites/{key}/materials", json={"kind": "practice", "title": "x", "text": "y"},
                    headers=admin())
    assert r.status_code == 400 and r.json()["errors"] == [{"field": "kind", "message": core.FROM_CHAT}]
    r = client.put(f"/v1/sites/{key}/materials/{mid}", json={"excerpt": []}, headers=admin())
    assert r.status_code == 400  # the excerpt is the chat's, not the API's
    r = client.post(f"/v1/sites/{key}/materials", json={"kind": "reply", "title": "x", "text": "y",
                                                        "status": "proposed"}, headers=admin())
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "status"


def test_expired_messages_are_said_and_hostile_ids_are_404(client: TestClient, site: dict) -> None:
    key = site["key"]
    ria = make_rep(client, key, email="ria@shop.example", name="Ria")
    presence(client, key, ria, "available")
    cid = waiting_request(client, key)
    client.portal.call(client.app.state.services.chats.accept, key, cid, ria)
    svc = client.app.state.services
    client.portal.call(svc.redis.delete, keys.messages(key, cid))  # as if expired
    csrf = log_in(client, "ria@shop.example")
    page = client.get(f"/console/chats/{cid}/practice")
    assert page.status_code == 200 and 'id="gone"' in page.text and 'id="practice-form"' not in page.text
    r = client.post(f"/console/chats/{cid}/practice", data={"csrf": csrf, "m": "1-0", "text": "x"})
    assert r.status_code == 400 and "not in this chat" in r.text
    for bad in ("x", "..%2F..", "%ED%A0%80", "a" * 65):
        assert client.get(f"/console/chats/{bad}/practice").status_code == 404
        assert client.get(f"/console/admin/practices/{bad}").status_code in (403, 404)
    assert client.get("/console/practices?chat=..").status_code == 404
    assert client.get("/console/practices?product=%ED%A0%80&category=%00&reason=" + "x" * 500).status_code == 200
