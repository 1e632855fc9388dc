"""The Lua ingest script and the pure-Python twin agree on randomized inputs (real Redis)."""

from __future__ import annotations

import json

import redis
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from backend.config import Settings
from backend.core.scoring import RULE_NAMES, NUMERIC_RULES, VisitorState, decide, fold
from backend.domain.visitors import ingest_limits
from backend.store import keys
from backend.store.scripts import ingest_args, scored_from, source

names = st.sampled_from(["email", "zip", "phone", "notes"])
points = st.sampled_from(["checkout", "quote", "support"])
event = st.one_of(
    st.builds(lambda v: {"t": "pv", "url": "https://s.example/p", "title": "P", "ref": "", "visits": v},
              st.integers(0, 20)),
    st.just({"t": "hb"}),
    st.just({"t": "bye"}),
    st.builds(lambda ms: {"t": "dwell", "ms": ms}, st.integers(0, 200_000)),
    st.builds(lambda n, ms: {"t": "field", "name": n, "ms": ms}, names, st.integers(0, 60_000)),
    st.builds(lambda f, k: {"t": "err", "field": f, "kind": k, "msg": ""}, names,
              st.sampled_from(["invalid", "aria", "marked", "submit"])),
    st.builds(lambda p: {"t": "svc", "point": p}, points),
    st.builds(lambda c: {"t": "cart", "value": c / 100, "currency": "EUR"}, st.integers(0, 5_000_000)),
    st.builds(lambda i, e, v, t: {"t": "id", "id": i, "email": e, "name": "N", "verified": v, "trusted": t},
              st.sampled_from(["", "c1", "c2"]), st.sampled_from(["", "vip@example.com", "x@example.com"]),
              st.booleans(), st.booleans()),
)


@st.composite
def rule_sets(draw: st.DrawFn) -> dict:
    rules = {}
    for name in RULE_NAMES:
        if draw(st.booleans()):
            rule: dict = {"weight": draw(st.integers(0, 100)) / 100}
            if name in NUMERIC_RULES:
                rule["threshold"] = draw(st.integers(1, 500))
            if name == "service_point":
                rule["points"] = draw(st.lists(points, max_size=2, unique=True))
                rule["url_patterns"] = {}
            rules[name] = rule
    return {"threshold": draw(st.integers(1, 150)) / 100, "rules": rules}


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules=rule_sets(), batches=st.lists(st.lists(event, min_size=1, max_size=8), min_size=1, max_size=4),
       gaps=st.lists(st.integers(0, 120_000), min_size=4, max_size=4),
       flagged=st.sets(st.sampled_from(["c1", "vip@example.com"])))
def test_lua_and_python_reach_the_same_decision(redis_client: redis.Redis, rules, batches, gaps, flagged) -> None:
    redis_client.flushall()
    site, vid = "twin-site", "twin-visitor"
    redis_client.set(keys.rules(site), json.dumps(rules))
    if flagged:
        redis_client.sadd(keys.flagged(site), *flagged)
    run = redis_client.register_script(source("ingest"))
    limits = ingest_limits(Settings(rate_visitor_per_min=10_000, rate_ip_per_min=10_000))
    state = VisitorState()
    now = 1_700_000_000_000
    for events, gap in zip(batches, gaps):
        now += gap  # the server's clock bounds the dwell the browser claims
        lua = scored_from(json.loads(run(keys=keys.ingest(site, vid, "127.0.0.1", now // 60_000, "20231114"),
                                         args=ingest_args(limits, vid, events, now))))
        state = fold(state, events, flagged, now)
        py = decide(rules, state)
        assert lua.score == py.score
        assert lua.needs == py.needs
        assert lua.reasons == py.reasons
    stored = redis_client.hgetall(keys.visitor(site, vid))
    assert int(stored["errors"]) == state.errors
    assert int(stored["page_ms"]) == state.page_ms
    assert int(stored["field_max"]) == state.field_max
    assert int(stored["hbs"]) == state.heartbeats
    assert int(stored["page_at"]) == state.page_at
