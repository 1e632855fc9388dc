"""Availability per customer: the offer broker's reservation per pool of eligible reps
(lua/broker.lua) and its pure-Python twin (core/offer_pools.py:plan) agree on generated reps,
pools, offers out, requests waiting and candidates: the same visitors offered, the same kind
(help or leave a message), the same estimated wait. The Lua runs in the test's real Redis on
state stored as the product stores it."""

from __future__ import annotations

import json

import redis
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from backend.core.counters import BANDS, OFFERED, TREATMENT, field_name
from backend.core.offer_pools import Pools, Slot, plan
from backend.store import keys
from backend.store.scripts import PageWindows, source

SITE = "twin-broker"
NOW = 1_750_000_000_000
PRESENCE_MS = 30_000
WINDOWS = PageWindows(60_000, 10_000, 60_000)
REPS = [f"r{i}" for i in range(6)]


@st.composite
def setups(draw: st.DrawFn) -> dict:
    reps = {}
    for rid in draw(st.lists(st.sampled_from(REPS), max_size=6, unique=True)):
        capacity = draw(st.integers(0, 3))
        reps[rid] = {"capacity": capacity, "load": draw(st.integers(0, capacity + 1)),
                     "available": draw(st.integers(0, 4)) > 0, "online": draw(st.integers(0, 6)) > 0}
    members = draw(st.lists(st.lists(st.sampled_from(REPS), max_size=4, unique=True).map(sorted),
                            min_size=1, max_size=4))
    candidates = [f"c{i}" for i in range(draw(st.integers(0, 8)))]
    # each candidate's arm and need band (ingest.lua's); the holdout is never a candidate
    arms = {vid: (draw(st.sampled_from(["treatment", "treatment", "holdout"])), draw(st.sampled_from(BANDS)))
            for vid in candidates}
    offered = [f"o{i}" for i in range(draw(st.integers(0, 3)))]
    waiting = [f"w{i}" for i in range(draw(st.integers(0, 3)))]
    pool = st.one_of(st.none(), st.integers(0, len(members) - 1))  # None: drawn before this visitor came
    of = {vid: p for vid in candidates + offered + waiting if (p := draw(pool)) is not None}
    return {"reps": reps, "pools": Pools(tuple(tuple(m) for m in members), of), "candidates": candidates,
            "offered": offered, "waiting": waiting, "aht": draw(st.sampled_from([10, 30, 45, 240])),
            "acceptable": draw(st.sampled_from([0, 20, 60, 600])), "leave_message": draw(st.booleans()),
            "arms": arms}


def store(r: redis.Redis, s: dict) -> dict[str, Slot]:
    """The site's state written as the product writes it; the available reps' slots."""
    slots = {}
    for rid, rep in s["reps"].items():
        r.zadd(keys.presence(SITE), {rid: NOW if rep["online"] else NOW - 10 * PRESENCE_MS})
        r.hset(keys.rep_status(SITE), rid, "available" if rep["available"] else "away")
        r.hset(keys.capacity(SITE), rid, rep["capacity"])
        for i in range(rep["load"]):
            chat = f"{rid}-chat{i}"
            r.hset(keys.request(SITE, chat), mapping={"status": "active", "rep": rid})
            r.sadd(keys.rep_chats(SITE, rid), chat)
        if rep["online"] and rep["available"]:
            slots[rid] = Slot(rep["capacity"], rep["load"])
    for vid in s["offered"]:
        r.zadd(keys.offers(SITE), {vid: NOW + 30_000})
    for i, vid in enumerate(s["waiting"]):
        r.hset(keys.request(SITE, f"req{i}"), mapping={"status": "waiting", "vid": vid})
        r.zadd(keys.requests(SITE), {f"req{i}": NOW - 1000})
    for i, vid in enumerate(s["candidates"]):  # most needed first
        arm, band = s["arms"][vid]
        r.hset(keys.visitor(SITE, vid), mapping={"last": NOW, "needy_at": NOW - 5000, "arm": arm, "band": band})
        r.zadd(keys.needy(SITE), {vid: 100 - i})
    return slots


@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(s=setups())
def test_lua_broker_offers_per_pool_as_python_does(redis_client: redis.Redis, s: dict) -> None:
    redis_client.flushall()
    slots = store(redis_client, s)
    cfg = {"variant": "button", "min_cart_value": 0, "require_access_code": False, "short_for_first_visit": False,
           "leave_message": s["leave_message"]}
    run = redis_client.register_script(source("broker"))
    raw = run(keys=keys.broker(SITE, "20250615"),
              args=[NOW, PRESENCE_MS, s["aht"], s["acceptable"], 30_000, *keys.broker_prefixes(SITE), json.dumps(cfg),
                    200, *WINDOWS.args(), "id-", *keys.load_prefixes(SITE), json.dumps(s["pools"].as_json()),
                    86400])
    # cjson writes 14 significant digits: the waits compare to 9 decimals
    lua = [(m["vid"], m["kind"], round(float(m["wait"]), 9)) for m in json.loads(raw)["made"]]
    treated = [vid for vid in s["candidates"] if s["arms"][vid][0] == "treatment"]
    py = plan(slots, s["pools"], s["offered"] + s["waiting"], treated, s["aht"], s["acceptable"],
              s["leave_message"])
    assert lua == [(p.vid, p.kind, round(float(p.wait), 9)) for p in py]
    # the day's funnel counts each help offer, whole and in its visitor's band
    helped = [s["arms"][p.vid][1] for p in py if p.kind == "help"]
    want = {field_name(TREATMENT, OFFERED, b): str(helped.count(b)) for b in BANDS if b in helped}
    if helped:
        want[field_name(TREATMENT, OFFERED)] = str(len(helped))
    assert redis_client.hgetall(keys.day_counts(SITE, "20250615")) == want


def test_a_visitor_whose_pool_has_a_free_rep_is_offered_help_while_another_pool_is_full() -> None:
    """Amélie (French) is free, Bob (English) holds all his slots: the French visitor gets
    help at once, the English one only "leave a message", the one nobody speaks for nothing."""
    slots = {"amelie": Slot(2, 0), "bob": Slot(1, 1)}
    pools = Pools((("amelie",), ("bob",), ()), {"fr": 0, "en": 1, "nobody": 2})
    made = plan(slots, pools, [], ["en", "fr", "nobody"], 30, 20, leave_message=True)
    assert [(m.vid, m.kind) for m in made] == [("en", "message"), ("fr", "help"), ("nobody", "message")]
    assert made[1].wait == 0
    # Amélie has two slots: the second French visitor is offered help too; a third would wait
    # 15 s (a slot frees every 30 s / 2), over the 10 s acceptable.
    pools = Pools((("amelie",),), {"fr1": 0, "fr2": 0, "fr3": 0})
    made = plan(slots, pools, [], ["fr1", "fr2", "fr3"], 30, 10, leave_message=False)
    assert [m.vid for m in made] == ["fr1", "fr2"]


@hsettings(max_examples=100, deadline=None)
@given(data=st.data())
def test_pools_drawn_per_kind_of_session_are_each_visitors_qualified_reps(data) -> None:
    """pools() checks each kind of session once; every visitor's pool is still exactly the
    reps who pass their own rule set's hard filters (qualified)."""
    from datetime import datetime, timezone

    from backend.core.matching import RepFacts, RuleSet, SessionFacts
    from backend.core.offer_pools import pools, qualified
    from backend.core.rep_profile import Profile

    langs = ["fr", "fr-CA", "en", "de", ""]
    reps = [RepFacts(id=f"r{i}", active=data.draw(st.booleans()),
                     profile=Profile(languages=tuple(data.draw(st.lists(st.sampled_from(langs[:4]), max_size=2,
                                                                         unique=True)))),
                     accreditations=data.draw(st.dictionaries(st.sampled_from(["kayaks", "tents"]),
                                                              st.integers(1, 5), max_size=2)))
            for i in range(data.draw(st.integers(0, 6)))]
    sets = [RuleSet("A", filters=("language",)), RuleSet("B", filters=("accredited",)),
            RuleSet("C", filters=("language", "accredited", "on_schedule")), RuleSet("D", filters=())]
    chosen = {f"v{i}": (data.draw(st.sampled_from(sets)),
                        SessionFacts(language=data.draw(st.sampled_from(langs)),
                                     product=data.draw(st.sampled_from(["", "kayaks", "tents"]))))
              for i in range(data.draw(st.integers(0, 12)))}
    now = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
    found = pools(chosen, reps, now)
    for vid, (rule_set, session) in chosen.items():
        want = tuple(sorted(r.id for r in reps if qualified(rule_set, session, r, now)))
        assert found.members[found.of[vid]] == want
