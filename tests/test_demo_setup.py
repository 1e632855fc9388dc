"""The demo shop's setup (backend/demo/setup.py, run by scripts/start after the demo's people
exist): rules and offer settings, a page map naming its products, their records, Ria as the
kayak salesperson linked to her console login, and a small library whose kayak reply suits a
chat on the kayak page; run again, it keeps what the owner changed."""

from __future__ import annotations

import asyncio
import dataclasses

from starlette.testclient import TestClient

from backend.core import practices
from backend.core.matching import page_of
from tests.helpers import admin, make_rep


def test_the_demo_is_set_up_for_every_path_and_a_second_run_keeps_the_owners_changes(
        client: TestClient, settings, monkeypatch) -> None:
    from backend.demo import setup

    key = "demo-shop-0001"
    svc = client.app.state.services
    client.portal.call(svc.sites.create, "Demo shop", ["http://127.0.0.1:8001"], False, key)
    rid = make_rep(client, key, email="ria@demo.beckon", name="Ria Rep")
    monkeypatch.setattr(setup.Settings, "from_env", classmethod(
        lambda cls: dataclasses.replace(settings, demo_site_key=key)))
    asyncio.run(setup.main())

    assert client.get(f"/v1/sites/{key}/offer-settings", headers=admin()).json()["leave_message"] is True
    rule_sets = client.portal.call(svc.matching.rule_sets, key)
    assert page_of(rule_sets, "/product/kayak").product == "kayak"
    staff = client.get(f"/v1/sites/{key}/records/staff/ria", headers=admin()).json()
    assert staff["rep"] == rid and "console" in staff["alerts"]["channels"]
    kayak = client.get(f"/v1/sites/{key}/records/products/kayak", headers=admin()).json()
    assert kayak["related"]["attachments"] == ["paddle"]
    library = client.portal.call(svc.materials.list, key)
    suits = [m.title for m in library if practices.suits(m.tags, practices.Context(product="kayak", category="boats"))]
    assert "Kayak: which length" in suits and "Free delivery" in suits and "Quote form: postcode" not in suits

    client.post(f"/v1/sites/{key}/materials", json={"kind": "reply", "title": "Mine", "text": "x"}, headers=admin())
    asyncio.run(setup.main())  # a restart
    assert len(client.portal.call(svc.materials.list, key)) == len(setup.DEMO_MATERIALS) + 1
