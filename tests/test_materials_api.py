"""The materials library over HTTP, on real Redis and real files (each test's own media
folder): materials written through the site API with every error listed; documents uploaded
as the raw body, refused when too large, of the wrong type, or HTML/SVG in disguise, with
nothing left on disk; names with paths never used on disk; downloads a browser saves and
never runs; another site's people see nothing of them; the console's page for reps."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient

from tests.helpers import admin, console_login, make_rep

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" + b"x" * 3000 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
REPLY = {"kind": "reply", "title": "Sizing", "text": "Hi {customer_name}, the {product} comes in three sizes.",
         "tags": {"products": ["kayaks"], "reasons": ["field_dwell"], "languages": ["en"]}}


def files(client: TestClient) -> list[Path]:
    root = Path(client.app.state.services.settings.media_path)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def document(client: TestClient, key: str, title: str = "Price list") -> str:
    r = client.post(f"/v1/sites/{key}/materials", json={"kind": "document", "title": title}, headers=admin())
    assert r.status_code == 201, r.text
    return r.json()["id"]


def upload(client: TestClient, key: str, mid: str, body: bytes, filename: str, ctype: str = "application/pdf"):
    return client.put(f"/v1/sites/{key}/materials/{mid}/document", params={"filename": filename}, content=body,
                      headers={**admin(), "Content-Type": ctype})


def test_materials_are_written_with_every_error_listed(client: TestClient, site: dict) -> None:
    url = f"/v1/sites/{site['key']}/materials"
    r = client.post(url, json={"kind": "link", "title": "", "url": "http://shop.example/x",
                               "tags": {"reasons": ["nope"]}}, headers=admin())
    assert r.status_code == 400
    assert [e["field"] for e in r.json()["errors"]] == ["title", "url", "tags.reasons[0]"]
    assert client.get(url, headers=admin()).json() == {"materials": []}
    assert client.post(url, content=b"[" * 5000, headers=admin()).status_code == 400

    r = client.post(url, json=REPLY, headers=admin())
    assert r.status_code == 201, r.text
    mid = r.json()["id"]
    r = client.put(f"{url}/{mid}", json={"kind": "link"}, headers=admin())
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "kind"
    r = client.put(f"{url}/{mid}", json={"title": "Sizes"}, headers=admin())
    assert r.status_code == 200 and r.json()["title"] == "Sizes" and r.json()["text"] == REPLY["text"]
    assert client.delete(f"{url}/{mid}", headers=admin()).json()["status"] == "archived"
    assert client.get(url, headers=admin()).json() == {"materials": []}
    assert [m["id"] for m in client.get(url, params={"status": "archived"}, headers=admin()).json()["materials"]] \
        == [mid]
    assert client.get(f"{url}/nope-nope-nope", headers=admin()).status_code == 404


def test_a_document_is_stored_under_a_random_name_and_downloaded_safely(client: TestClient, site: dict) -> None:
    key = site["key"]
    mid = document(client, key)
    r = upload(client, key, mid, PDF, "../../etc/passwd.pdf")
    assert r.status_code == 200, r.text
    doc = r.json()["document"]
    assert doc["filename"] == "passwd.pdf" and doc["content_type"] == "application/pdf" and doc["size"] == len(PDF)
    [stored] = files(client)
    assert stored.name == doc["stored"] and stored.parent.name == key and stored.read_bytes() == PDF

    r = client.get(f"/v1/sites/{key}/materials/{mid}/document", headers=admin())
    assert r.status_code == 200 and r.content == PDF
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-disposition"] == 'attachment; filename="passwd.pdf"'
    assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert r.headers["cache-control"] == "no-store"

    # a new file replaces the old one, on disk too
    assert upload(client, key, mid, PNG, "C:\\Users\\x\\chart.png", "image/png").status_code == 200
    [stored] = files(client)
    assert stored.read_bytes() == PNG


def test_uploads_that_are_not_accepted_leave_nothing_on_disk(client: TestClient, site: dict) -> None:
    key = site["key"]
    mid = document(client, key)
    limit = client.app.state.services.settings.media_max_bytes
    big = PDF + b"x" * limit
    r = upload(client, key, mid, big, "big.pdf")
    assert r.status_code == 413
    r = client.put(f"/v1/sites/{key}/materials/{mid}/document", params={"filename": "big.pdf"},
                   content=(big[i:i + 65536] for i in range(0, len(big), 65536)),  # chunked: no Content-Length
                   headers={**admin(), "Content-Type": "application/pdf"})
    assert r.status_code == 413
    cases = [
        (b"<!doctype html><html><script>alert(document.cookie)</script></html>", "x.pdf", "application/pdf"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "x.png", "image/png"),
        (b"%PDF-1.4\n<html><body onload=alert(1)>", "x.pdf", "application/pdf"),
        (b"%PDF-1.4\n" + b"%" * 800 + b"<svg onload=alert(1)>", "x.pdf", "application/pdf"),
        (b"MZ\x90\x00 an executable", "setup.exe", "application/octet-stream"),
        (PDF, "x.png", "image/png"),
        (PNG, "x.png", "text/html"),
        (b"", "empty.pdf", "application/pdf"),
    ]
    for body, name, ctype in cases:
        r = upload(client, key, mid, body, name, ctype)
        assert r.status_code == 415, (name, r.text)
        assert r.json()["errors"], r.text
    for name in ["../../etc/passwd", "..\\x", "/etc/passwd", "a\x00b.pdf"]:
        assert upload(client, key, mid, PDF, name).status_code == 200
    [stored] = files(client)  # each replaced the one before; no file named as the client said
    assert re.fullmatch(r"[0-9a-f]{32}", stored.name)
    assert not Path("/etc/passwd").read_bytes().startswith(b"%PDF")
    reply = client.post(f"/v1/sites/{key}/materials", json=REPLY, headers=admin()).json()["id"]
    assert upload(client, key, reply, PDF, "x.pdf").status_code == 400  # a reply takes no file


def test_another_site_cannot_list_or_fetch_a_sites_documents(client: TestClient, site: dict) -> None:
    key = site["key"]
    other = client.post("/v1/sites", json={"name": "Other", "origins": ["https://other.example"]},
                        headers=admin()).json()
    mid = document(client, key)
    assert upload(client, key, mid, PDF, "prices.pdf").status_code == 200
    assert client.get(f"/v1/sites/{other['key']}/materials/{mid}/document", headers=admin()).status_code == 404
    assert client.get(f"/v1/sites/{other['key']}/materials", headers=admin()).json() == {"materials": []}

    make_rep(client, key, email="ria@shop.example")
    make_rep(client, other["key"], email="olga@other.example")
    url = f"/console/media/{key}/{mid}"
    client.cookies.clear()
    assert client.get(url, follow_redirects=False).status_code == 401  # logged out
    console_login(client, "olga@other.example")
    assert client.get(url).status_code == 404  # another site's rep
    assert client.get(f"/console/media/{other['key']}/{mid}").status_code == 404
    assert mid not in client.get("/console/materials").text
    console_login(client, "ria@shop.example")
    r = client.get(url)
    assert r.status_code == 200 and r.content == PDF
    assert r.headers["content-type"] == "application/pdf" and r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-disposition"] == 'attachment; filename="prices.pdf"'
    assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"


def test_a_rep_adds_materials_in_the_console_with_errors_beside_fields(client: TestClient, site: dict) -> None:
    key = site["key"]
    make_rep(client, key, email="ria@shop.example")
    csrf = console_login(client, "ria@shop.example")
    r = client.post("/console/materials", data={"csrf": csrf, "kind": "reply", "title": "<b>Hi</b>", "text": "",
                                                "reasons": "form_errors, nope"})
    assert r.status_code == 400
    assert re.search(r'id="text-errors"[^>]*>\s*<li>is required', r.text), r.text
    assert "tags.reasons[1]: unknown reason" in r.text and "&lt;b&gt;Hi&lt;/b&gt;" in r.text
    r = client.post("/console/materials", data={"csrf": csrf, "kind": "reply", "title": "<b>Hi</b>",
                                                "text": "Hello {customer_name}", "products": "Kayaks"},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/console/materials").text
    assert "&lt;b&gt;Hi&lt;/b&gt;" in page and "<b>Hi</b>" not in page and "kayaks" in page

    up = "/console/materials/document"
    query = {"title": "Prices", "filename": "prices.pdf", "products": "kayaks"}
    assert client.post(up, params=query, content=PDF, headers={"Content-Type": "application/pdf"}).status_code == 403
    headers = {"Content-Type": "application/pdf", "X-CSRF-Token": csrf}
    r = client.post(up, params=query, content=b"<html>", headers=headers)
    assert r.status_code == 415 and r.json()["errors"][0]["field"] == "file"
    r = client.post(up, params={**query, "title": ""}, content=PDF, headers=headers)
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "title"
    r = client.post(up, params=query, content=PDF, headers=headers)
    assert r.status_code == 201, r.text
    mid = r.json()["id"]
    assert [m["title"] for m in client.get(f"/v1/sites/{key}/materials", headers=admin()).json()["materials"]] \
        == ["Prices", "<b>Hi</b>"]  # the refused uploads left no material behind
    assert len(files(client)) == 1
    assert f'href="/console/media/{key}/{mid}"' in client.get("/console/materials").text
