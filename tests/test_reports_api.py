"""The reports over the site API, on real Redis and the real collector, offers, claim and
order API: the funnel per arm, the uplift over the holdout with its interval and always-valid
p-value, each representative's day; dates validated; another site's key refused."""

from __future__ import annotations

from starlette.testclient import TestClient

from backend.core import counters
from tests.helpers import NEEDY, admin, ingest, make_rep, post_order, presence, secret_of, waiting_request


def report(client: TestClient, key: str, which: str, **params: str):
    return client.get(f"/v1/sites/{key}/reports/{which}", params=params, headers=admin())


def test_the_funnel_and_the_uplift_count_each_arm_and_the_reps_their_day(client: TestClient, site: dict) -> None:
    key = site["key"]
    client.put(f"/v1/sites/{key}/offer-settings", json={"holdout_share": 0.5}, headers=admin()).raise_for_status()
    rid = make_rep(client, key, capacity=20)
    presence(client, key, rid, "available")
    vids = [f"visitor-r{i:04d}" for i in range(16)]
    arms = {v: counters.arm(key, v, 0.5) for v in vids}
    for vid in vids:
        ingest(client, key, vid, NEEDY)
    treated = [v for v in vids if arms[v] == "treatment"]
    held = [v for v in vids if arms[v] == "holdout"]
    assert treated and held
    secret = secret_of(client, key)
    buyers = treated[:3] + held[:1]
    for i, vid in enumerate(buyers):
        body = {"order_id": f"SO-{i}", "value": "100.00", "currency": "EUR", "visitor_id": vid}
        assert post_order(client, key, secret, body, msg_id=f"msg_{i}").status_code == 201
    # one chat, taken and ended, for the rep's day
    chatter = next(v for v in (f"visitor-c{i:04d}" for i in range(50)) if counters.arm(key, v, 0.5) == "treatment")
    cid = waiting_request(client, key, vid=chatter)
    client.portal.call(client.app.state.services.chats.accept, key, cid, rid)
    client.portal.call(client.app.state.services.chats.end, key, cid, "rep", 0)

    funnel = report(client, key, "funnel").json()
    t, h = funnel["arms"]["treatment"], funnel["arms"]["holdout"]
    assert t["needing"] + h["needing"] == len(vids) + 1
    assert (t["purchased"], h["purchased"]) == (3, 1)
    assert t["revenue"] == {"EUR": "300.00"} and h["revenue"] == {"EUR": "100.00"}
    assert h["offered"] == 0 and t["offered"] >= 1 and funnel["visitors"] == len(vids) + 1
    assert funnel["days"][-1]["treatment"]["purchased"] == 3

    up = report(client, key, "uplift").json()
    n_t, n_h = len(treated) + 1, len(held)  # and the one who chatted
    assert (up["treatment"]["visitors"], up["treatment"]["orders"]) == (n_t, 3)
    assert (up["holdout"]["visitors"], up["holdout"]["orders"]) == (n_h, 1)
    assert abs(up["uplift"]["estimate"] - (3 / n_t - 1 / n_h)) < 1e-12
    assert up["uplift"]["low"] < up["uplift"]["estimate"] < up["uplift"]["high"]
    assert 0 < up["p_value"] <= 1 and set(up["bands"]) == {"b1", "b2", "b3"} and up["currency"] == "EUR"

    struggles = report(client, key, "struggles").json()
    errors = next(s for s in struggles["reasons"] if s["name"] == "form_errors")
    assert (errors["treatment"]["visitors"], errors["treatment"]["bought"]) == (n_t, 3)
    assert (errors["holdout"]["visitors"], errors["holdout"]["bought"]) == (n_h, 1)
    assert errors["uplift"]["estimate"] == up["uplift"]["estimate"]  # every visitor here struggled with the form
    quote = next(p for p in struggles["pages"] if p["name"] == "/quote")
    assert (quote["treatment"]["bought"], quote["holdout"]["bought"]) == (3, 1)

    reps = report(client, key, "reps").json()["reps"]
    assert [(r["rep"], r["chats"], r["ended"]) for r in reps] == [(rid, 1, 1)]
    assert reps[0]["mean_wait_s"] is not None and reps[0]["mean_handle_s"] is not None


def test_dates_are_checked_and_another_sites_key_sees_nothing(client: TestClient, site: dict) -> None:
    key = site["key"]
    for params, field in [({"from": "2026-13-01"}, "from"), ({"from": "2026-11-30", "to": "2026-11-01"}, "to"),
                          ({"from": "2020-01-01", "to": "2026-01-01"}, "from"), ({"to": "yesterday"}, "to")]:
        r = report(client, key, "funnel", **params)
        assert r.status_code == 400 and [e["field"] for e in r.json()["errors"]] == [field], (params, r.text)
    assert report(client, key, "uplift", currency="EURO").status_code == 400
    other = client.post("/v1/sites", json={"name": "Other", "origins": ["https://other.example"]},
                        headers=admin()).json()
    token = client.post(f"/v1/sites/{other['key']}/api-keys", json={"label": "x"}, headers=admin()).json()["key"]
    for which in ("funnel", "uplift", "reps"):
        r = client.get(f"/v1/sites/{key}/reports/{which}", headers=admin(token))
        assert r.status_code in (401, 403, 404), which
