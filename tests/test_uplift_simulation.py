"""A simulation through the real collector and order API (issue 11): a few thousand visitors
need help on a site holding out 20%; each buys with a known true rate for its arm (12% with
help, 8% without), decided by a seeded draw. The report counts every visitor and order in its
arm, its interval is Newcombe's on exactly those counts, its estimate lies near the true 4
points, and the holdout holds the share set, within what chance allows.

Which visitors a site holds out hangs on its key, new every run, so the draws differ run to
run: the bounds below are ones chance breaks about once in 15,000 runs (4 standard errors),
not a 95% interval's 1 in 20. That the interval covers the truth 95% of the time is shown
on the pure statistics over hundreds of seeded experiments (test_uplift.py)."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from typing import Iterator

import pytest
import redis
from starlette.testclient import TestClient

from backend.app import create_app
from backend.config import Settings
from backend.core import counters, uplift
from tests.helpers import NEEDY, ORIGIN, TEXT, admin, batch, post_order, secret_of

VISITORS = 3000
SHARE = 0.2
RATES = {"treatment": 0.12, "holdout": 0.08}


@pytest.fixture()
def busy(settings: Settings, redis_client: redis.Redis) -> Iterator[TestClient]:
    """A client whose one address may send thousands of visitors' batches a minute."""
    with TestClient(create_app(dataclasses.replace(settings, rate_ip_per_min=10**6)),
                    base_url="http://beckon.test") as c:
        yield c


def test_the_reported_interval_covers_the_true_uplift_and_the_holdout_holds_its_share(busy: TestClient) -> None:
    client = busy
    key = client.post("/v1/sites", json={"name": "Sim", "origins": [ORIGIN]}, headers=admin()).json()["key"]
    client.put(f"/v1/sites/{key}/offer-settings", json={"holdout_share": SHARE}, headers=admin()).raise_for_status()
    secret = secret_of(client, key)
    rng = random.Random(20261130)
    bought = {"treatment": 0, "holdout": 0}
    for i in range(VISITORS):
        vid = f"visitor-s{i:05d}"
        r = client.post("/v1/events", content=json.dumps(batch(key, NEEDY, vid=vid)), headers=TEXT)
        assert r.status_code == 200, r.text
        arm = counters.arm(key, vid, SHARE)
        if rng.random() < RATES[arm]:
            bought[arm] += 1
            order = {"order_id": f"SIM-{i}", "value": "50.00", "currency": "EUR", "visitor_id": vid}
            assert post_order(client, key, secret, order, msg_id=f"sim_{i}").status_code == 201

    up = client.get(f"/v1/sites/{key}/reports/uplift", headers=admin()).json()
    held, treated = up["holdout"]["visitors"], up["treatment"]["visitors"]
    assert held + treated == VISITORS
    assert (up["treatment"]["orders"], up["holdout"]["orders"]) == (bought["treatment"], bought["holdout"])
    # the split: within 4 standard errors of the share
    assert abs(held / VISITORS - SHARE) < 4 * math.sqrt(SHARE * (1 - SHARE) / VISITORS)
    expected = uplift.difference(bought["treatment"], treated, bought["holdout"], held)
    assert (up["uplift"]["estimate"], up["uplift"]["low"], up["uplift"]["high"]) == pytest.approx(
        (expected.estimate, expected.low, expected.high))
    # the estimate: within 4 standard errors of the true difference
    true = RATES["treatment"] - RATES["holdout"]
    se = math.sqrt(sum(RATES[a] * (1 - RATES[a]) / n for a, n in (("treatment", treated), ("holdout", held))))
    assert abs(up["uplift"]["estimate"] - true) < 4 * se, up["uplift"]
    assert up["incremental_revenue"] is not None and 0 < up["p_value"] <= 1
