"""Real Chromium: an independent representative approved by two enterprises' sites (and not
by a third) logs in once; the workspace lists the requests of both sites, each labelled with
its site's name (as text), never the third's; they accept one from each site and answer both
customers, each through their own site."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.helpers import (
    Customer, Live, approve_applicant, console, go_available, join_site, make_rep, presence,
)

pytestmark = pytest.mark.browser

INDIE = "indie@example.com"


def enterprise_site(live: Live, name: str, boss: str, key: str = "") -> str:
    """A site of an enterprise of its own, on the demo shop's origin, with its admin ``boss``."""
    if not key:
        key = live.api.post("/v1/sites", json={"name": name, "origins": [live.demo_url]}).json()["key"]
    else:
        live.api.put(f"/v1/sites/{key}", json={"name": name, "origins": [live.demo_url]}).raise_for_status()
    live.api.post("/v1/enterprises", json={"name": f"{name} Ltd", "sites": [key]}).raise_for_status()
    make_rep(live.api, key, email=boss, name="Boss", role="admin")
    return key


def test_an_independent_rep_serves_two_sites_from_one_workspace(live: Live, browser, page_errors) -> None:
    a1 = enterprise_site(live, "Alpine <Kayaks>", "boss@alpine.example", live.key)
    b1 = enterprise_site(live, "Bayside Boats", "boss@bayside.example")
    c1 = enterprise_site(live, "Cove Canoes", "boss@cove.example")
    with httpx.Client(base_url=live.url, timeout=10) as web:
        for key in (a1, b1, c1):
            join_site(web, key, "Indie", INDIE)
        approve_applicant(web, "boss@alpine.example", INDIE)
        approve_applicant(web, "boss@bayside.example", INDIE)  # Cove never decides
    boss_c = live.api.get(f"/v1/sites/{c1}/reps").json()["reps"][0]["id"]
    presence(live.api, c1, boss_c, "available")

    context, page, errors = console(live, browser, page_errors, INDIE)
    go_available(page)
    customers = {key: Customer(live, f"visitor-{n}-browser", key=key) for n, key in (("a", a1), ("b", b1), ("c", c1))}
    requests = {key: c.ask_for_help() for key, c in customers.items()}
    for key, label in ((a1, "Alpine <Kayaks>"), (b1, "Bayside Boats")):
        item = page.locator(f".request[data-id='{requests[key]}']")
        item.wait_for(timeout=8000)
        expect(item.locator(".site-label")).to_have_text(label)  # the name as text, never markup
    assert page.locator(f".request[data-id='{requests[c1]}']").count() == 0
    assert page.locator(".request").count() == 2
    assert c1 not in page.content()

    for key in (a1, b1):
        page.locator(f".request[data-id='{requests[key]}'] .accept").click()
        chat = page.locator(f".chat[data-id='{requests[key]}']")
        chat.wait_for(timeout=5000)
        expect(chat.locator(".site-label")).to_have_text("Alpine <Kayaks>" if key == a1 else "Bayside Boats")
    for key in (a1, b1):
        customers[key].connect()
        chat = page.locator(f".chat[data-id='{requests[key]}']")
        chat.locator("textarea").fill(f"Hello from {key}")
        chat.locator("form.say button[type=submit]").click()
        customers[key].expect(lambda m, k=key: m.get("type") == "msg" and m["msg"].get("text") == f"Hello from {k}")
    waiting_c = live.api.get(f"/v1/sites/{c1}/requests").json()["requests"]
    assert [r["id"] for r in waiting_c] == [requests[c1]]  # nobody outside C took it
    assert page.locator(".chat").count() == 2
    assert errors == []
    for c in customers.values():
        c.close()
    context.close()
