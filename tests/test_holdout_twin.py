"""The holdout split and the need band that lua/ingest.lua decides when a visitor first needs
help equal their Python twins (core/counters.py:arm, band), on generated sites, visitors,
shares and scores, in the test's real Redis; and what the script counts is named as
core/counters.py names it."""

from __future__ import annotations

import json

import redis
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from backend.config import Settings
from backend.core import counters
from backend.domain.visitors import ingest_limits
from backend.store import keys
from backend.store.scripts import ingest_args, scored_from, source

NOW = 1_750_000_000_000
DAY = counters.day(NOW)
ERRORS = [{"t": "err", "field": "zip", "kind": "invalid", "msg": ""}]

ids = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-_"), min_size=1, max_size=40)


def ingest(r: redis.Redis, site: str, vid: str, share: float, now: int = NOW) -> dict:
    run = r.register_script(source("ingest"))
    limits = ingest_limits(Settings(rate_visitor_per_min=10_000, rate_ip_per_min=10_000))
    raw = run(keys=keys.ingest(site, vid, "127.0.0.1", now // 60_000, counters.day(now)),
              args=ingest_args(limits, vid, ERRORS, now, site=site, holdout_share=share))
    return json.loads(raw)


@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(site=ids, vid=ids, share=st.one_of(st.integers(0, 500).map(lambda n: n / 1000), st.floats(0, 0.5)),
       weight=st.integers(1, 400).map(lambda n: n / 100), threshold=st.integers(1, 150).map(lambda n: n / 100))
def test_lua_splits_and_bands_as_python_does(redis_client: redis.Redis, site, vid, share, weight, threshold) -> None:
    redis_client.flushall()
    # one form error scores exactly the rule's weight
    redis_client.set(keys.rules(site), json.dumps({"threshold": threshold,
                                                   "rules": {"form_errors": {"weight": weight, "threshold": 1}}}))
    scored = scored_from(ingest(redis_client, site, vid, share))
    stored = redis_client.hgetall(keys.visitor(site, vid))
    day = redis_client.hgetall(keys.day_counts(site, DAY))
    if not scored.needs:
        assert keys.VisitorHash.ARM not in stored and day == {}
        return
    arm, band = counters.arm(site, vid, share), counters.band(scored.score, threshold)
    assert (stored[keys.VisitorHash.ARM], stored[keys.VisitorHash.BAND]) == (arm, band)
    assert day == {counters.field_name(arm, counters.NEEDING): "1",
                   counters.field_name(arm, counters.NEEDING, band): "1",
                   counters.reason_field("form_errors", arm, counters.NEEDING): "1"}  # the struggle that fired


def test_the_arm_and_band_are_kept_for_the_visit_and_needing_is_counted_once(redis_client: redis.Redis) -> None:
    """Once decided, a visitor's arm and band stay, whatever the share or the score does later
    in the visit."""
    site = "kept-site"
    vid = next(v for v in (f"visitor-{i:04d}" for i in range(100)) if counters.arm(site, v, 0.5) == "holdout")
    rules = {"threshold": 0.5, "rules": {"form_errors": {"weight": 0.6, "threshold": 1},
                                         "cart_value": {"weight": 1.0, "threshold": 10}}}
    redis_client.set(keys.rules(site), json.dumps(rules))
    ingest(redis_client, site, vid, 0.5)
    assert redis_client.hmget(keys.visitor(site, vid), "arm", "band") == ["holdout", "b1"]
    run = redis_client.register_script(source("ingest"))
    limits = ingest_limits(Settings(rate_visitor_per_min=10_000, rate_ip_per_min=10_000))
    for events, share in (([{"t": "cart", "value": 50, "currency": "EUR"}], 0.0),  # score 1.6: band b3 now
                          ([{"t": "cart", "value": 0, "currency": "EUR"}], 0.0)):
        run(keys=keys.ingest(site, vid, "127.0.0.1", NOW // 60_000, DAY),
            args=ingest_args(limits, vid, events, NOW, site=site, holdout_share=share))
    assert redis_client.hmget(keys.visitor(site, vid), "arm", "band") == ["holdout", "b1"]
    assert redis_client.hgetall(keys.day_counts(site, DAY)) == {"holdout:needing": "1", "holdout:b1:needing": "1",
                                                                "reason:form_errors:holdout:needing": "1"}


def test_the_days_distinct_visitors_are_counted_and_the_day_keys_expire(redis_client: redis.Redis) -> None:
    site = "visitors-site"
    redis_client.set(keys.rules(site), json.dumps({"threshold": 0.5, "rules": {"form_errors": {"weight": 1,
                                                                                                "threshold": 1}}}))
    for vid in ("a", "b", "a", "c", "b"):
        ingest(redis_client, site, vid, 0.0)
    assert redis_client.pfcount(keys.day_visitors(site, DAY)) == 3
    retention = ingest_limits(Settings()).counter_ttl_s
    assert retention == 400 * 86400
    for key in (keys.day_visitors(site, DAY), keys.day_counts(site, DAY)):
        assert retention - 5 <= redis_client.ttl(key) <= retention
