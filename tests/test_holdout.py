"""The holdout through the real collector, broker, respond and claim: a share of the visitors
who need help is never offered it, the same visitors every time, and the day's funnel
counts needing, offered, accepted and chatted per arm and need band."""

from __future__ import annotations

import time

import redis
from starlette.testclient import TestClient

from backend.core import counters
from backend.core.counters import HOLDOUT, TREATMENT
from backend.domain.counters import Counters
from backend.store import keys
from tests.helpers import admin, chat_service, ingest, let_the_ticker_run, make_rep, offered, presence, respond


def set_share(client: TestClient, key: str, share: float) -> None:
    r = client.put(f"/v1/sites/{key}/offer-settings", json={"holdout_share": share}, headers=admin())
    assert r.status_code == 200, r.text


def one_of(key: str, arm: str, share: float = 0.5) -> str:
    """A visitor id the split puts in ``arm`` on this site."""
    return next(v for v in (f"visitor-{i:04d}" for i in range(1, 1000)) if counters.arm(key, v, share) == arm)


def test_the_holdout_share_is_a_setting_from_0_to_half(client: TestClient, site: dict) -> None:
    url = f"/v1/sites/{site['key']}/offer-settings"
    assert client.get(url, headers=admin()).json()["holdout_share"] == 0  # the suite's default (Settings)
    for bad in (0.51, -0.1, "10%", True, None):
        r = client.put(url, json={"holdout_share": bad}, headers=admin())
        assert r.status_code == 400, bad
        assert r.json()["errors"] == [{"field": "holdout_share", "message": "must be a number from 0 to 0.5"}]
    assert client.put(url, json={"holdout_share": 0.5}, headers=admin()).json()["holdout_share"] == 0.5
    assert client.put(url, json={"holdout_share": 0.1}, headers=admin()).json()["holdout_share"] == 0.1


def test_a_new_sites_share_is_the_operators_default(redis_client: redis.Redis, settings) -> None:
    import asyncio
    import dataclasses

    from backend import store
    from backend.domain.sites import Sites

    async def new_site() -> float:
        connection = store.connect(settings)
        try:
            sites = Sites(connection, dataclasses.replace(settings, holdout_default=0.25))
            site = await sites.create("Shop", ["https://shop.example"])
            return site.offer.holdout_share
        finally:
            await connection.aclose()

    assert asyncio.run(new_site()) == 0.25


def test_the_split_is_fixed_per_visitor_and_about_the_share() -> None:
    """The same ids on the same site always split the same way; raising the share only moves
    visitors from treatment into the holdout, never back."""
    ids = [f"visitor-{i:04d}" for i in range(1, 1001)]
    half = {v for v in ids if counters.arm("shop-0001", v, 0.5) == HOLDOUT}
    tenth = {v for v in ids if counters.arm("shop-0001", v, 0.1) == HOLDOUT}
    assert (len(half), len(tenth)) == (508, 101)
    assert tenth < half
    assert not any(counters.arm("shop-0001", v, 0.0) == HOLDOUT for v in ids)


def test_about_half_of_the_needy_visitors_are_held_out_at_half(client: TestClient, site: dict,
                                                                 redis_client: redis.Redis) -> None:
    key = site["key"]
    set_share(client, key, 0.5)
    vids = [f"visitor-{i:04d}" for i in range(1, 41)]
    for vid in vids:
        ingest(client, key, vid)
    arms = {vid: redis_client.hget(keys.visitor(key, vid), keys.VisitorHash.ARM) for vid in vids}
    assert arms == {vid: counters.arm(key, vid, 0.5) for vid in vids}  # the script's split is the twin's
    held = sum(a == HOLDOUT for a in arms.values())
    assert 8 <= held <= 32  # Binomial(40, 1/2), the site key new each run: outside 1 run in 23,000
    ingest(client, key, "visitor-calm", [{"t": "pv", "url": "https://shop.example/", "title": "Home"}])
    assert redis_client.hget(keys.visitor(key, "visitor-calm"), keys.VisitorHash.ARM) is None  # needs no help


def test_a_held_out_visitor_is_never_offered_help_while_one_in_treatment_is(
        client: TestClient, site: dict, settings, redis_client: redis.Redis) -> None:
    key = site["key"]
    set_share(client, key, 0.5)
    presence(client, key, make_rep(client, key, capacity=3), "available")
    held, treated = one_of(key, HOLDOUT), one_of(key, TREATMENT)
    ingest(client, key, held)
    ingest(client, key, treated)
    assert offered(client, key, treated)["cmd"]["kind"] == "help"
    let_the_ticker_run(settings.offer_tick_s)
    assert ingest(client, key, held, [{"t": "hb"}])["cmd"] is None
    seen = client.get(f"/v1/sites/{key}/visitors/{held}", headers=admin()).json()
    assert seen["needs_assistance"] and seen["score"] > 0  # scored and tracked as anyone
    # the arm is the visit's: no holdout any more, and still none for them
    set_share(client, key, 0)
    ingest(client, key, held, [{"t": "err", "field": "zip", "kind": "invalid"}])
    let_the_ticker_run(settings.offer_tick_s)
    assert ingest(client, key, held, [{"t": "hb"}])["cmd"] is None
    assert redis_client.hget(keys.visitor(key, held), keys.VisitorHash.ARM) == HOLDOUT


def period(settings, key: str) -> counters.Period:
    now = int(time.time() * 1000)
    first, last = counters.day(now - 120_000), counters.day(now)  # a test that runs over midnight
    return chat_service(settings.redis_url, lambda chats, r: Counters(r).period(key, first, last))


def test_the_days_funnel_counts_each_step_per_arm_and_band(client: TestClient, site: dict, settings,
                                                           redis_client: redis.Redis) -> None:
    key = site["key"]
    set_share(client, key, 0.5)
    rid = make_rep(client, key, capacity=3)
    presence(client, key, rid, "available")
    held, treated, left = one_of(key, HOLDOUT), one_of(key, TREATMENT), [
        v for v in (f"visitor-{i:04d}" for i in range(1, 1000)) if counters.arm(key, v, 0.5) == TREATMENT][1]
    for vid in (held, treated, left):
        ingest(client, key, vid)
    band = redis_client.hget(keys.visitor(key, treated), keys.VisitorHash.BAND)
    visitor = client.get(f"/v1/sites/{key}/visitors/{treated}", headers=admin()).json()
    assert band == counters.band(visitor["score"], 0.6)  # the default rules' threshold
    # the treated visitor accepts and a rep takes the chat; the other treated one dismisses
    answer = offered(client, key, treated)
    request = respond(client, key, treated, answer["tok"], answer["cmd"]["id"], "accept").json()["request"]
    other = offered(client, key, left)
    assert respond(client, key, left, other["tok"], other["cmd"]["id"], "dismiss").status_code == 200
    chat_service(settings.redis_url, lambda chats, r: chats.accept(key, request, rid))

    got = period(settings, key)
    assert got.visitors == 3
    t, h = got.treatment, got.holdout
    assert (t.total.needing, t.total.offered, t.total.accepted, t.total.chatted) == (2, 2, 1, 1)
    assert (h.total.needing, h.total.offered, h.total.accepted, h.total.chatted) == (1, 0, 0, 0)
    mine = t.band(band)
    assert (mine.accepted, mine.chatted) == (1, 1)
    assert sum(b.needing for b in t.bands) == 2 and sum(b.offered for b in t.bands) == 2
    assert sum(b.needing for b in h.bands) == 1
    # heartbeats and a second need in the same visit count nothing again
    ingest(client, key, held, [{"t": "err", "field": "zip", "kind": "invalid"}])
    assert period(settings, key).holdout.total.needing == 1


def test_days_reads_every_day_of_a_range_in_order(client: TestClient, site: dict, settings,
                                                  redis_client: redis.Redis) -> None:
    key = site["key"]
    redis_client.hset(keys.day_counts(key, "20260102"), mapping={"treatment:needing": 4, "treatment:b3:needing": 1,
                                                                  "holdout:purchased": 2,
                                                                  "holdout:revenue:EUR": 12_50})
    redis_client.pfadd(keys.day_visitors(key, "20260102"), "a", "b", "c")
    redis_client.pfadd(keys.day_visitors(key, "20260103"), "c", "d")
    days = chat_service(settings.redis_url, lambda chats, r: Counters(r).days(key, "20260101", "20260103"))
    assert [d.day for d in days] == ["20260101", "20260102", "20260103"]
    assert days[0] == counters.DayCounts("20260101")
    assert (days[1].visitors, days[1].treatment.total.needing, days[1].treatment.band("b3").needing) == (3, 4, 1)
    assert days[1].holdout.total.purchased == 2 and days[1].holdout.total.revenue_in("EUR") == 1250
    summed = chat_service(settings.redis_url, lambda chats, r: Counters(r).period(key, "20260101", "20260103"))
    assert summed.visitors == 4  # distinct over the period: c once
    assert summed.treatment.total.needing == 4 and len(summed.days) == 3
