"""Records an enterprise's sites share (issue 13, "records per site or enterprise"): the
operator turns sharing on, and then a customer or salesperson recorded through one shop is
known to every shop of the enterprise and routes its leads; a site outside sees nothing;
turning sharing off, or a site leaving, shows each site its own records again, untouched."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.helpers import PASSWORD, admin, console_login, enterprise, new_site

ANN = {"id": "ann", "name": "Ann Seller", "email": "ann@shop.example", "areas": ["SW1"], "products": ["kayaks"]}


def upsert(client: TestClient, key: str, kind: str, rows: list) -> list[str]:
    r = client.post(f"/v1/sites/{key}/records/{kind}", json={"records": rows}, headers=admin())
    assert r.status_code == 200, r.text
    return [x["status"] for x in r.json()["results"]]


def customers(client: TestClient, key: str) -> list[str]:
    r = client.get(f"/v1/sites/{key}/records/customers", headers=admin())
    assert r.status_code == 200, r.text
    return [c["email"] for c in r.json()["records"]]


def share(client: TestClient, eid: str, shared: object) -> dict:
    r = client.put(f"/v1/enterprises/{eid}/records", json={"shared": shared}, headers=admin())
    assert r.status_code == 200, r.text
    return r.json()


def test_an_enterprise_that_shares_its_records_knows_a_customer_in_every_shop(client: TestClient) -> None:
    a1, a2, b1 = new_site(client, "A1"), new_site(client, "A2"), new_site(client, "B1")
    assert upsert(client, a1, "customers", [{"id": "old", "email": "old@example.com"}]) == ["created"]
    acme = enterprise(client, "Acme", a1, a2)
    assert customers(client, a2) == []  # an enterprise alone shares nothing
    assert share(client, acme, True)["shared_records"] is True
    assert customers(client, a1) == []  # A1's own records are set aside, not merged
    assert upsert(client, a2, "staff", [ANN]) == ["created"]
    assert upsert(client, a2, "customers", [{"id": "c1", "email": "cy@example.com", "name": "Cy",
                                             "assigned_staff": "ann", "consent": {"sales": True}}]) == ["created"]
    # recorded through A2, known to A1: by id, by e-mail, in the list
    assert client.get(f"/v1/sites/{a1}/records/customers/c1", headers=admin()).json()["name"] == "Cy"
    assert customers(client, a1) == ["cy@example.com"]
    # one set: A1 updating the customer updates it for A2, and the e-mail stays one customer's
    assert upsert(client, a1, "customers", [{"id": "c1", "phone": "+44 20 7946 0000"}]) == ["updated"]
    assert client.get(f"/v1/sites/{a2}/records/customers/cy@example.com", headers=admin()).json()["phone"] \
        == "+44 20 7946 0000"
    r = client.post(f"/v1/sites/{a1}/records/customers", json={"records": [{"id": "c2", "email": "cy@example.com"}]},
                    headers=admin())
    assert r.json()["results"][0]["status"] == "error"
    # the admin of A1 is told, where they import
    r = client.post(f"/v1/sites/{a1}/reps", headers=admin(), json={
        "name": "Boss", "email": "boss@a1.example", "password": PASSWORD, "role": "admin", "sites": [a1]})
    assert r.status_code == 201, r.text
    console_login(client, "boss@a1.example")
    page = client.get("/console/admin/records")
    assert "These records are shared by every site of Acme" in page.text
    assert '<tr id="count-customers">\n      <td>Customers</td>\n      <td class="n">1</td>' in page.text
    # a lead on A1 goes to the salesperson recorded through A2
    r = client.post(f"/v1/sites/{a1}/leads", json={"email": "cy@example.com", "comment": "Call me"}, headers=admin())
    assert r.status_code == 201, r.text
    assert (r.json()["routed"]["staff"], r.json()["customer"]) == ("ann", "c1")
    # a site outside the enterprise sees none of it
    assert customers(client, b1) == []
    assert client.get(f"/v1/sites/{b1}/records/customers/c1", headers=admin()).status_code == 404
    # a site that leaves sees its own again; so do all when sharing stops; nothing was lost
    r = client.put(f"/v1/enterprises/{acme}/sites", json={"sites": [a2]}, headers=admin())
    assert r.status_code == 200, r.text
    assert customers(client, a1) == ["old@example.com"] and customers(client, a2) == ["cy@example.com"]
    assert "shared by every site" not in client.get("/console/admin/records").text
    share(client, acme, False)
    assert customers(client, a2) == []
    share(client, acme, True)
    assert customers(client, a2) == ["cy@example.com"]


def test_only_the_operator_turns_sharing_on_and_a_bad_body_is_told(client: TestClient) -> None:
    a1 = new_site(client, "A1")
    acme = enterprise(client, "Acme", a1)
    for body in ({"shared": "yes"}, {"shared": 1}, {}, {"shared": True, "x": 1}):
        r = client.put(f"/v1/enterprises/{acme}/records", json=body, headers=admin())
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == "shared", (body, r.text)
    for raw in (b"[true]", b"null", b'{"shared": tru', b"\xed\xa0\x80"):
        r = client.put(f"/v1/enterprises/{acme}/records", content=raw,
                       headers={**admin(), "Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"], (raw, r.text)
    assert client.put("/v1/enterprises/nosuchenterprise/records", json={"shared": True},
                      headers=admin()).status_code == 404
    token = client.post(f"/v1/sites/{a1}/api-keys", json={"label": "x"}, headers=admin()).json()["key"]
    assert client.put(f"/v1/enterprises/{acme}/records", json={"shared": True},
                      headers={"Authorization": f"Bearer {token}"}).status_code == 403
    assert client.get(f"/v1/enterprises/{acme}", headers=admin()).json()["shared_records"] is False
