"""What the console's pages say, as a representative reads them."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.helpers import PASSWORD, admin, make_rep, waiting_request


def log_in(client: TestClient, email: str) -> None:
    client.cookies.clear()
    form = client.get("/console/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    r = client.post("/console/login", data={"csrf": csrf, "email": email, "password": PASSWORD},
                    follow_redirects=False)
    assert r.status_code == 303


def test_the_visitor_history_shows_why_in_words_and_units(client: TestClient, site: dict) -> None:
    rep = make_rep(client, site["key"], email="ria@shop.example")
    presence_ok = client.put(f"/v1/sites/{site['key']}/reps/{rep}/presence", json={"status": "available"},
                             headers=admin())
    assert presence_ok.status_code == 200
    waiting_request(client, site["key"], "visitor-0001")
    log_in(client, "ria@shop.example")
    html = client.get("/console/visitors/visitor-0001").text
    assert "Form errors</span>: 2 <span class=\"muted\">(threshold 2)" in html
    assert re.search(r"Time in one field</span>: \d s <span class=\"muted\">\(threshold 20 s\)", html), html
