"""Which materials sell, over the site API and in the console (real Redis and services; uses
and the sale go through the console socket as a rep makes them): the rows of every chat, of a
product and of each representative, the same rows as CSV with nothing a spreadsheet would run,
a material never used after two weeks flagged, titles shown as text; another site's key and a
plain representative read nothing; hostile facets are a 400, never a 500."""

from __future__ import annotations

import csv
import io
import json
import re
from urllib.parse import quote_from_bytes

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from starlette.testclient import TestClient

from backend.store import keys
from tests.helpers import NEEDY, admin, console_login, expect, make_rep, presence, recv, waiting_request

WS = "ws://beckon.test/console/ws"
PAGES = {"pages": [{"pattern": "/quote*", "category": "insurance", "product": "Home cover"}], "rule_sets": []}
HOSTILE_TITLE = '=HYPERLINK("http://x") <b>Old</b> leaflet'
DAY_MS = 86_400_000


def answered(ws, ref: str) -> None:
    """The message with ``ref`` was acknowledged (an error fails with its words)."""
    while True:
        frame = recv(ws)
        if frame["type"] in ("ack", "error") and frame.get("ref") == ref:
            assert frame["type"] == "ack", frame
            return


def make(client: TestClient, key: str, body: dict) -> str:
    r = client.post(f"/v1/sites/{key}/materials", json=body, headers=admin())
    assert r.status_code == 201, r.text
    return r.json()["id"]


def age(client: TestClient, key: str, mid: str, days: float) -> None:
    """The material as if made ``days`` ago: its stored JSON rewritten."""
    redis = client.app.state.services.redis
    stored = json.loads(client.portal.call(redis.hget, keys.materials(key), mid))
    stored["created_ms"] -= int(days * DAY_MS)
    client.portal.call(redis.hset, keys.materials(key), mid, json.dumps(stored))


def chat(client: TestClient, ws, key: str, vid: str, uses: list[tuple[str, str]], sale: str = "") -> None:
    """A chat the socket's rep accepts, uses materials in (("say", reply) or ("material", link)),
    perhaps records a sale in, and ends."""
    cid = waiting_request(client, key, vid, NEEDY)
    ws.send_json({"type": "accept", "id": cid, "ref": "a"})
    expect(ws, "chats", lambda f: any(c.get("id") == cid for c in f["chats"]))
    for i, (how, mid) in enumerate(uses):
        if how == "say":
            ws.send_json({"type": "say", "chat": cid, "text": "hello", "cid": f"c{i}", "material": mid,
                          "ref": f"m{i}"})
        else:
            ws.send_json({"type": "material", "chat": cid, "material": mid, "ref": f"m{i}"})
        answered(ws, f"m{i}")
    if sale:
        ws.send_json({"type": "sale", "chat": cid, "value": sale, "currency": "EUR", "cid": "sale" + vid[-4:] + "000",
                      "ref": "s"})
        answered(ws, "s")
    ws.send_json({"type": "end", "chat": cid})
    expect(ws, "ended")


def setup(client: TestClient, key: str) -> dict[str, str]:
    assert client.put(f"/v1/sites/{key}/matching", json=PAGES, headers=admin()).status_code == 200
    ids = {"greet": make(client, key, {"kind": "reply", "title": "Greeting", "text": "Hello {customer_name}"}),
           "guide": make(client, key, {"kind": "link", "title": "Cover guide", "url": "/guide"}),
           "stale": make(client, key, {"kind": "reply", "title": HOSTILE_TITLE, "text": "Nobody reads this"}),
           "fresh": make(client, key, {"kind": "reply", "title": "Brand new", "text": "Not tried yet"})}
    age(client, key, ids["stale"], 15)
    age(client, key, ids["fresh"], 13)
    ids["ria"] = make_rep(client, key, email="ria@shop.example", name="Ria <i>R</i>", capacity=2)
    ids["bo"] = make_rep(client, key, email="bo@shop.example", name="Bo", capacity=2)
    make_rep(client, key, email="boss@shop.example", name="Boss", role="admin")
    make_rep(client, key, email="audit@shop.example", name="Audrey", role="auditor")
    for rep, chats in (("ria@shop.example", [("visitor-0001", [("say", ids["greet"]), ("material", ids["guide"])],
                                              "59.90"),
                                             ("visitor-0002", [("material", ids["guide"])], "")]),
                       ("bo@shop.example", [("visitor-0003", [("say", ids["greet"])], "")])):
        csrf = console_login(client, rep)
        with client.websocket_connect(f"{WS}?csrf={csrf}", headers={"Origin": "http://beckon.test"}) as ws:
            ws.send_json({"type": "presence", "status": "available"})
            expect(ws, "presence")
            for vid, uses, sale in chats:
                chat(client, ws, key, vid, uses, sale)
        presence(client, key, ids["ria"] if rep.startswith("ria") else ids["bo"], "offline")
    return ids


def report(client: TestClient, key: str, facet: str = "*", token: str | None = None, **params: str):
    return client.get(f"/v1/sites/{key}/materials-report", params={"facet": facet, **params},
                      headers=admin(token) if token else admin())


def by_id(body: dict) -> dict[str, dict]:
    return {m["id"]: m for m in body["materials"]}


def test_the_report_per_facet_and_its_csv(client: TestClient, site: dict) -> None:
    key = site["key"]
    ids = setup(client, key)
    every = report(client, key).json()
    rows = by_id(every)
    greet, guide = rows[ids["greet"]], rows[ids["guide"]]
    assert (greet["uses"], greet["sales"], greet["revenue"], greet["average"]) == (2, 1, {"EUR": "59.90"}, "59.90")
    assert (guide["uses"], guide["sales"], guide["conversion"]) == (2, 1, 0.5)
    assert abs(greet["estimate"] - (1 + 1) / 12) < 1e-6  # (sales + 0.1 x 10) / (uses + 10)
    assert greet["why"] == "sold in 1 of 2 chats like this one; 59.90 EUR on average"
    assert (rows[ids["stale"]]["flag"], rows[ids["fresh"]]["flag"]) == ("never used", "")
    assert [m["id"] for m in every["materials"]][:2] == sorted([ids["greet"], ids["guide"]])  # a tie: by id
    facets = {f["facet"]: f["label"] for f in every["facets"]}
    assert facets[f"rep={ids['ria']}"] == "Representative: Ria <i>R</i>" and facets["*"] == "Every chat"
    assert {"product=home cover", "category=insurance", "reason=form_errors", "sp=quote"} <= set(facets)

    product = by_id(report(client, key, "product=home cover").json())
    assert (product[ids["greet"]]["uses"], product[ids["greet"]]["sales"]) == (2, 1)
    assert "chats about home cover" in product[ids["greet"]]["why"]

    ria = report(client, key, f"rep={ids['ria']}").json()
    assert ria["label"] == "Representative: Ria <i>R</i>"
    rr = by_id(ria)
    assert [(rr[ids[m]]["uses"], rr[ids[m]]["sales"]) for m in ("greet", "guide")] == [(1, 1), (2, 1)]
    assert rr[ids["greet"]]["why"] == "sold in 1 of 1 chats of Ria <i>R</i>; 59.90 EUR on average"
    bo = by_id(report(client, key, f"rep={ids['bo']}").json())
    assert [(bo[ids[m]]["uses"], bo[ids[m]]["sales"]) for m in ("greet", "guide")] == [(1, 0), (0, 0)]
    assert bo[ids["stale"]]["flag"] == "never used"  # the flag reads every chat

    r = report(client, key, f"rep={ids['ria']}", format="csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == f'attachment; filename="materials-rep-{ids["ria"]}.csv"'
    got = list(csv.reader(io.StringIO(r.text)))
    assert got[0][:6] == ["Material", "Kind", "Status", "Created", "Uses", "Sales"] and got[0][-1] == "Flag"
    assert {row[0]: row[4:6] for row in got[1:]}["Greeting"] == ["1", "1"]
    stale = next(row for row in got[1:] if "leaflet" in row[0])
    assert stale[0] == "'" + HOSTILE_TITLE and stale[-1] == "never used"

    for params, status in (({"facet": "product=canoe"}, 400), ({"facet": "x" * 5000}, 400),
                           ({"facet": "*", "format": "xml"}, 400)):
        r = client.get(f"/v1/sites/{key}/materials-report", params=params, headers=admin())
        assert r.status_code == status and r.json()["error"], (params, r.text)


def test_another_sites_key_reads_nothing(client: TestClient, site: dict) -> None:
    key = site["key"]
    make(client, key, {"kind": "reply", "title": "Greeting", "text": "Hi"})
    other = client.post("/v1/sites", json={"name": "Other", "origins": ["https://other.example"]},
                        headers=admin()).json()["key"]
    token = client.post(f"/v1/sites/{other}/api-keys", json={"label": "x"}, headers=admin()).json()["key"]
    assert report(client, other, token=token).json()["materials"] == []
    for fmt in ("json", "csv"):
        assert report(client, key, token=token, format=fmt).status_code == 404
    assert client.get(f"/v1/sites/{key}/materials-report").status_code == 401
    assert report(client, key, token="bks.nope").status_code == 401


def test_the_console_page_for_admins_and_auditors_only(client: TestClient, site: dict) -> None:
    key = site["key"]
    ids = setup(client, key)
    console_login(client, "ria@shop.example")
    for path in ("/console/materials/report", "/console/materials/report.csv"):
        assert client.get(path).status_code == 403, path
    assert "/console/materials/report" not in client.get("/console/").text
    for email in ("boss@shop.example", "audit@shop.example"):
        client.cookies.clear()
        if email.startswith("boss"):
            console_login(client, email)
        else:
            form = client.get("/console/login").text
            client.post("/console/login", data={"csrf": re.search(r'name="csrf" value="([^"]+)"', form).group(1),
                                                "email": email, "password": "a long password"})
        page = client.get("/console/materials/report")
        assert page.status_code == 200, page.text
        html = page.text
        assert '<a href="/console/materials/report" aria-current="page">' in html  # in the nav
        assert "<b>Old</b>" not in html and "&lt;b&gt;Old&lt;/b&gt;" in html  # a title is text, table and chart
        assert html.count("<svg") == 1 and "<script" not in html.split("</header>")[1]
        row = re.search(rf'<tr id="material-{ids["stale"]}" class="flagged">(.*?)</tr>', html, re.S).group(1)
        assert '<span class="badge">never used</span>' in row
        assert "never used" not in re.search(rf'<tr id="material-{ids["fresh"]}"[^>]*>(.*?)</tr>', html, re.S).group(1)
        per_rep = re.search(r'<p id="per-rep">(.*?)</p>', html, re.S).group(1)
        assert "Ria &lt;i&gt;R&lt;/i&gt;" in per_rep and ">Bo</a>" in per_rep
        assert f'href="/console/materials/report?facet=rep%3D{ids["bo"]}"' in per_rep
        assert '<optgroup label="Per representative">' in html and '<optgroup label="Per product">' in html

        mine = client.get("/console/materials/report", params={"facet": f"rep={ids['bo']}"})
        assert mine.status_code == 200 and "Which materials sell · Representative: Bo" in mine.text
        assert f'<option value="rep={ids["bo"]}" selected>' in mine.text
        csv_ = client.get("/console/materials/report.csv", params={"facet": f"rep={ids['bo']}"})
        api = report(client, key, f"rep={ids['bo']}", format="csv")
        assert csv_.status_code == 200 and csv_.text == api.text  # the page's CSV is the API's
        assert csv_.headers["content-security-policy"].startswith("default-src 'self'")
        bad = client.get("/console/materials/report", params={"facet": "rep=nobody"})
        assert bad.status_code == 400 and "no such facet" in bad.text and "<optgroup" in bad.text
        assert client.get("/console/materials/report.csv", params={"facet": "\x00"}).status_code == 400


def test_another_sites_admin_sees_only_their_own(client: TestClient, site: dict) -> None:
    make(client, site["key"], {"kind": "reply", "title": "Secret greeting", "text": "Hi"})
    other = client.post("/v1/sites", json={"name": "Other", "origins": ["https://other.example"]},
                        headers=admin()).json()["key"]
    make_rep(client, other, email="boss@other.example", name="Other boss", role="admin")
    console_login(client, "boss@other.example")
    page = client.get("/console/materials/report")
    assert page.status_code == 200 and "Secret greeting" not in page.text and "No materials yet." in page.text


# Facets as they arrive on the wire: any text (lone surrogates encoded anyway), huge ones,
# control characters, and bytes that are not UTF-8.
facet_bytes = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=50).map(
        lambda s: s.encode("utf-8", "surrogatepass")),
    st.sampled_from(["\ud800", "product=\udfff", "rep=\x00", "\r\n=1", "*\x00", "product=kayak" * 500]).map(
        lambda s: s.encode("utf-8", "surrogatepass")),
    st.binary(max_size=40),
    st.integers(0, 20_000).map(lambda n: b"x" * n),
)


def test_hostile_facets_are_a_400_never_a_500(client: TestClient, site: dict) -> None:
    key = site["key"]
    make_rep(client, key, email="boss@shop.example", name="Boss", role="admin")
    console_login(client, "boss@shop.example")

    @hsettings(deadline=None, max_examples=120, suppress_health_check=list(HealthCheck))
    @given(facet_bytes, st.sampled_from(["json", "csv", "page", "page.csv"]))
    def run(raw: bytes, where: str) -> None:
        query = "facet=" + quote_from_bytes(raw, safe="")
        if where in ("json", "csv"):
            r = client.get(f"/v1/sites/{key}/materials-report?{query}&format={where}", headers=admin())
        else:
            r = client.get(f"/console/materials/report{'.csv' if where == 'page.csv' else ''}?{query}")
        if raw == b"*":
            assert r.status_code == 200
            return
        assert r.status_code == 400, (raw[:80], r.status_code, r.text[:300])
        if where in ("json", "csv"):
            assert r.json()["error"]

    run()
