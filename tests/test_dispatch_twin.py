"""The dispatch script (lua/dispatch.lua with lua/lib/rank.lua) and its pure-Python twin
(core/matching.py:rank with core/dispatch.py) agree on generated representatives, rule sets
and sessions: the same reps ranked with the same scores and per-rule contributions, the same
targets at each stage, the same escalation time. The Lua runs in the test's real Redis, on
facts stored as the product stores them (accreditations, some expired or expiring before the
escalation, results under the rule set and the last chat
accepted included)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import redis
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from backend.core import dispatch as core_dispatch
from backend.core.accreditation import Accreditation, levels, stored
from backend.core.matching import RepFacts, Results, RuleSets, SessionFacts, rank, validate_rule_sets
from backend.core.rep_profile import Profile, validate_profile
from backend.domain.reps import PROFILE_FIELDS, profile_mapping
from backend.store import keys
from backend.store.keys import RepHash
from backend.store.scripts import dispatched_from, source

SITE = "twin-site"
NOW = 1_750_000_000_000
PRESENCE_MS = 30_000
PRODUCTS = ["kayaks", "tents", "bikes"]
LANGUAGES = ["fr", "en", "de", "pt-BR", "fr-CA", "en-GB"]
AREAS = ["75", "69", "SW1", "SW1A"]
NEVER = {"timezone": "UTC", "hours": {}, "days_off": []}  # a schedule with no hours: never on duty


@st.composite
def rep_specs(draw: st.DrawFn, rid: str) -> dict:
    capacity = draw(st.integers(1, 4))
    return {
        "id": rid,
        "active": draw(st.integers(0, 9)) > 0,
        "online": draw(st.integers(0, 9)) > 0,
        "status": draw(st.sampled_from(["available"] * 5 + ["away"])),
        "profile": {"capacity": capacity,
                    "skills": draw(st.dictionaries(st.sampled_from(PRODUCTS), st.integers(1, 5), max_size=3)),
                    "languages": draw(st.lists(st.sampled_from(LANGUAGES), max_size=3, unique=True)),
                    "areas": draw(st.lists(st.sampled_from(AREAS), max_size=2, unique=True)),
                    "schedule": NEVER if draw(st.integers(0, 4)) == 0 else None},
        "chats": draw(st.lists(st.integers(0, 2_000_000),  # ms since each was accepted; sometimes full
                               max_size=capacity if draw(st.integers(0, 5)) else 5)),  # ms since each was accepted
        # product -> (level, ms from NOW to expiry): some expired, some expiring before the escalation
        "accreditations": draw(st.dictionaries(st.sampled_from(PRODUCTS), st.tuples(
            st.integers(1, 5), st.one_of(st.integers(-100_000, 0), st.integers(1, 200_000), st.just(10**10))),
            max_size=3)),
        # ms since the last chat they accepted (lua/claim.lua), which they may no longer hold
        "last_chat": draw(st.one_of(st.none(), st.integers(-5_000, 3_000_000))),
        "results": draw(st.one_of(st.none(), st.integers(0, 500).flatmap(
            lambda n: st.tuples(st.just(n), st.integers(0, n))))),  # (chats, successes) in the rule set
    }


@st.composite
def documents(draw: st.DrawFn) -> dict:
    rules = {}
    for name in ("skill", "language", "area", "accreditation", "account_owner", "capacity", "fairness", "results"):
        if draw(st.booleans()):
            rule: dict = {"weight": draw(st.one_of(st.integers(0, 10), st.floats(0, 100, allow_nan=False)))}
            if name == "fairness":
                rule["horizon_s"] = draw(st.integers(1, 3600))
            if name == "results":
                rule["prior_rate"] = draw(st.floats(0, 1))
                rule["prior_chats"] = draw(st.integers(1, 200))
            rules[name] = rule
    mode = draw(st.sampled_from(["best", "top_n", "all"]))
    dispatch: dict = {"mode": mode}
    if mode == "best":
        dispatch.update(widen_by=draw(st.integers(1, 3)), escalate_after_s=draw(st.floats(5, 100)))
    elif mode == "top_n":
        dispatch.update(n=draw(st.integers(1, 4)), escalate_after_s=draw(st.integers(5, 100)))
    if draw(st.integers(0, 3)) == 0:
        dispatch.update(must_contact=True, escalate_after_s=draw(st.integers(5, 100)))
    filters = {"language": draw(st.booleans()), "accredited": draw(st.integers(0, 5)) == 0,
               "on_schedule": draw(st.booleans())}
    return {"rule_sets": [{"name": "Twin", "filters": filters, "rules": rules, "dispatch": dispatch}]}


sessions = st.builds(SessionFacts, product=st.sampled_from(["", *PRODUCTS]),
                     language=st.sampled_from(["", "", "fr", "en-GB", "de", "pt"]),
                     area=st.sampled_from(["", "75011", "SW1A 1AA", "69002"]),
                     account_owner=st.sampled_from(["", "r1", "r3"]))


def last_accepted(rep: dict) -> int | None:
    """When the rep last accepted a chat (or took one over): what claim.lua and transfer.lua
    store, never before a chat they hold."""
    times = [NOW - a for a in rep["chats"]] + ([NOW - rep["last_chat"]] if rep["last_chat"] is not None else [])
    return max(times) if times else None


def results_of(rep: dict) -> dict[str, Results]:
    return {"Twin": Results(*rep["results"])} if rep["results"] else {}


def held(rep: dict, now: int) -> dict[str, int]:
    """The rep's accreditations matching reads at ``now`` (expired ones are not held)."""
    return levels({p: stored(Accreditation(p, level, NOW + expires_in)) for p, (level, expires_in)
                   in rep["accreditations"].items()}, now)


def store(r: redis.Redis, reps: list[dict]) -> list[RepFacts]:
    """The reps written as the product writes them; the facts core/matching.py reads from them."""
    facts = []
    for rep in reps:
        rid = rep["id"]
        profile = validate_profile(rep["profile"])
        assert isinstance(profile, Profile), profile
        r.hset(keys.rep(SITE, rid), mapping={"name": rid, "active": int(rep["active"]),
                                             **profile_mapping(profile, tuple(PROFILE_FIELDS))})
        r.sadd(keys.reps(SITE), rid)
        r.zadd(keys.presence(SITE), {rid: NOW if rep["online"] else NOW - 10 * PRESENCE_MS})
        r.hset(keys.rep_status(SITE), rid, rep["status"])
        for i, ago in enumerate(rep["chats"]):
            chat = f"{rid}-chat{i}"
            r.hset(keys.request(SITE, chat), mapping={"status": "active", "rep": rid, "accepted": NOW - ago})
            r.sadd(keys.rep_chats(SITE, rid), chat)
        r.hset(keys.load(SITE), rid, len(rep["chats"]))  # as claim.lua and end_chat.lua keep it
        if rep["active"]:  # the site's capacities list active reps only, as domain/reps.py keeps them
            r.hset(keys.capacity(SITE), rid, profile.capacity)
        if last_accepted(rep) is not None:
            r.hset(keys.rep(SITE, rid), RepHash.LAST_CHAT, last_accepted(rep))
        if rep["results"]:
            r.hset(keys.results(SITE, "Twin"), mapping={keys.result_field(rid, keys.RESULT_CHATS): rep["results"][0],
                                                        keys.result_field(rid, keys.RESULT_OK): rep["results"][1]})
        for product, (level, expires_in) in rep["accreditations"].items():
            r.hset(keys.accreditations(SITE, rid), product,
                   stored(Accreditation(product, level, NOW + expires_in, NOW - 1000, "t1")))
        online = rep["online"] and rep["active"]
        last = last_accepted(rep)
        since = max(0, NOW - last) / 1000 if last is not None else None
        facts.append(RepFacts(id=rid, name=rid, profile=profile, active=rep["active"],
                              status=rep["status"] if online else "offline", load=len(rep["chats"]),
                              since_last_chat_s=since, results=results_of(rep),
                              accreditations=held(rep, NOW)))
    return facts


def with_since(facts: list[RepFacts], reps: list[dict], now: int) -> list[RepFacts]:
    out = []
    for f, rep in zip(facts, reps):
        last = last_accepted(rep)
        since = max(0, now - last) / 1000 if last is not None else None
        out.append(RepFacts(id=f.id, name=f.name, profile=f.profile, active=f.active, status=f.status,
                            load=f.load, since_last_chat_s=since, results=f.results,
                            accreditations=held(rep, now)))
    return out


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), doc=documents(), session=sessions)
def test_lua_dispatch_ranks_and_targets_as_python_does(redis_client: redis.Redis, data, doc, session) -> None:
    redis_client.flushall()
    ids = data.draw(st.lists(st.sampled_from([f"r{i}" for i in range(7)]), min_size=1, max_size=6, unique=True))
    reps = [data.draw(rep_specs(rid)) for rid in ids]
    facts = store(redis_client, reps)
    found = validate_rule_sets(doc)
    assert isinstance(found, RuleSets), found
    rule_set = found.sets[0]
    when = datetime.fromtimestamp(NOW / 1000, timezone.utc)
    off_duty = [f.id for f in facts if f.profile.schedule is not None]
    spec = json.dumps(core_dispatch.spec(rule_set, session))
    req = "req-1"
    redis_client.hset(keys.request(SITE, req), mapping={"status": "waiting", "vid": "v1", "targets": "[]"})
    run = redis_client.register_script(source("dispatch"))

    def call(action: str, now: int):
        raw = run(keys=keys.dispatch(SITE, req), args=[req, now, PRESENCE_MS, *keys.dispatch_prefixes(SITE), action,
                                                        spec if action == "route" else "", json.dumps(off_duty),
                                                        "", 1, keys.results_prefix(SITE),
                                                        keys.accreditations(SITE, "")])
        return dispatched_from(json.loads(raw))

    lua = call("route", NOW)
    py = rank(rule_set, session, facts, when)
    assert [(r.rep, r.score) for r in py.ranked] == [(rid, score) for rid, score, _ in lua.ranked]
    assert [tuple((c.rule, c.weight, c.score, c.contribution) for c in r.contributions) for r in py.ranked] == \
        [parts for _, _, parts in lua.ranked]
    ranked = [r.rep for r in py.ranked]
    want = core_dispatch.step(ranked, rule_set.dispatch, 0, (), False, NOW)
    assert (lua.targets, lua.final, lua.escalate_at_ms, lua.stage) == (want.targets, want.final,
                                                                       want.escalate_at_ms, 0)
    stored = json.loads(redis_client.hget(keys.request(SITE, req), "why"))
    assert {rid: {"score": v["score"], "top": v["top"] or []} for rid, v in stored.items()} == \
        json.loads(json.dumps(core_dispatch.why(py, want.targets)))
    if want.escalate_at_ms is None:
        return
    later = want.escalate_at_ms
    for rep in reps:  # the consoles kept their heartbeats going
        redis_client.zadd(keys.presence(SITE), {rep["id"]: later if rep["online"] else NOW - 10 * PRESENCE_MS})
    lua2 = call("escalate", later)
    py2 = rank(rule_set, session, with_since(facts, reps, later), when)
    want2 = core_dispatch.step([r.rep for r in py2.ranked], rule_set.dispatch, 1, want.targets, False, later)
    assert (lua2.targets, lua2.final, lua2.escalate_at_ms, lua2.stage) == (want2.targets, want2.final,
                                                                           want2.escalate_at_ms, 1)
