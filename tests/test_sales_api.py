"""Sales settings over the site API, on real Redis: merged field by field, every error listed
and nothing stored on a bad write, hostile bodies a 400, another site's key refused."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings, strategies as st
from starlette.testclient import TestClient

from tests.helpers import admin, hostile_json


def url(key: str) -> str:
    return f"/v1/sites/{key}/sales-settings"


def test_sales_settings_merge_and_a_bad_write_stores_nothing(client: TestClient, site: dict) -> None:
    key = site["key"]
    assert client.get(url(key), headers=admin()).json() == {"attribution_days": 7, "commission_rate": "0",
                                                             "category_rates": {}}
    r = client.put(url(key), json={"commission_rate": "0.05", "category_rates": {"Kayaks": "0.1"}}, headers=admin())
    assert r.status_code == 200, r.text
    r = client.put(url(key), json={"attribution_days": 14}, headers=admin())
    assert r.json() == {"attribution_days": 14, "commission_rate": "0.05", "category_rates": {"kayaks": "0.1"}}
    r = client.put(url(key), json={"attribution_days": 0, "commission_rate": 1.5}, headers=admin())
    assert r.status_code == 400
    assert [e["field"] for e in r.json()["errors"]] == ["attribution_days", "commission_rate"]
    assert client.get(url(key), headers=admin()).json()["attribution_days"] == 14  # unchanged


def test_another_sites_key_cannot_read_or_change_them(client: TestClient, site: dict) -> None:
    other = client.post("/v1/sites", json={"name": "Other", "origins": ["https://other.example"]},
                        headers=admin()).json()
    token = client.post(f"/v1/sites/{other['key']}/api-keys", json={"label": "backend"}, headers=admin()).json()["key"]
    assert client.get(url(other["key"]), headers=admin(token)).status_code == 200  # its own site
    for method in ("GET", "PUT"):
        r = client.request(method, url(site["key"]), json={"commission_rate": "0.5"}, headers=admin(token))
        assert r.status_code in (401, 403, 404), r.text
    assert client.get(url(site["key"]), headers=admin()).json()["commission_rate"] == "0"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(hostile_json(), st.dictionaries(st.sampled_from(["attribution_days", "commission_rate",
                                                                       "category_rates"]), hostile_json())))
def test_hostile_bodies_are_a_400_never_a_500(client: TestClient, site: dict, body: object) -> None:
    try:
        content = json.dumps(body).encode()
    except (ValueError, UnicodeEncodeError):
        return
    r = client.put(url(site["key"]), content=content, headers={**admin(), "Content-Type": "application/json"})
    assert r.status_code in (200, 400), r.text
