"""The scripts that rate, mark resolved and end a chat (lua/outcome.lua, lua/end_chat.lua with
lua/lib/results.lua) decide as their pure-Python twin, core/results.py, on generated chats:
the same refusal, the same fields written once, the same chats and successes added to the
rep's results under the chat's rule set. Real Redis."""

from __future__ import annotations

import json

import redis
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from backend.core import results as core
from backend.store import keys
from backend.store.keys import RequestHash as R
from backend.store.scripts import source

SITE, CHAT, NOW, WINDOW_MS = "twin-site", "chat-0001", 1_750_000_000_000, 3_600_000

stored_chats = st.builds(
    core.Stored,
    status=st.sampled_from(["", "waiting", "active", "ended", "ended"]),
    visitor=st.sampled_from(["v1", "v2"]),
    rep=st.sampled_from(["", "r1", "r2"]),
    rule_set=st.sampled_from(["", "Kayaks", "Tents & {tarps}", "Vélos"]),
    ended_ms=st.integers(NOW - 2 * WINDOW_MS, NOW),
    rating=st.sampled_from([0, 0, 1, 3, 4, 5]),
    resolved=st.booleans(),
    counted=st.booleans(),
)


def write(r: redis.Redis, s: core.Stored, before: tuple[int, int]) -> None:
    if s.status:
        fields = {R.STATUS: s.status, R.VISITOR: s.visitor, R.CREATED: NOW - 5 * WINDOW_MS,
                  R.ACCEPTED: NOW - 3 * WINDOW_MS, R.RULE_SET: s.rule_set, R.REP: s.rep}
        if s.status == "ended":
            fields[R.ENDED] = s.ended_ms
        if s.rating:
            fields[R.RATING] = s.rating
        if s.resolved:
            fields[R.RESOLVED] = NOW - 10
        if s.counted:
            fields[R.COUNTED] = 1
        r.hset(keys.request(SITE, CHAT), mapping=fields)
    if s.rule_set and s.rep:
        r.hset(keys.results(SITE, s.rule_set), mapping={keys.result_field(s.rep, keys.RESULT_CHATS): before[0],
                                                        keys.result_field(s.rep, keys.RESULT_OK): before[1]})


def counts(r: redis.Redis, s: core.Stored) -> tuple[int, int]:
    if not (s.rule_set and s.rep):
        return (0, 0)
    got = r.hmget(keys.results(SITE, s.rule_set), [keys.result_field(s.rep, keys.RESULT_CHATS),
                                                     keys.result_field(s.rep, keys.RESULT_OK)])
    return int(got[0] or 0), int(got[1] or 0)


def answer(raw: str) -> tuple[str, bool]:
    data = json.loads(raw)
    return data.get("error", ""), bool(data.get("success"))


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(s=stored_chats, action=st.sampled_from(["rate", "resolve", "end"]), who=st.sampled_from(["v1", "r1", "r2"]),
       stars=st.integers(1, 5), before=st.tuples(st.integers(0, 30), st.integers(0, 30)))
def test_rating_resolving_and_ending_count_as_python_says(redis_client: redis.Redis, s, action, who, stars,
                                                          before) -> None:
    redis_client.flushall()
    write(redis_client, s, before)
    request = keys.request(SITE, CHAT)
    if action == "end":
        if s.status not in ("waiting", "active"):
            return  # end_chat.lua's own refusals: not this twin's
        raw = redis_client.register_script(source("end_chat"))(
            keys=keys.end_chat(SITE, CHAT, s.rep, s.visitor, "20260101"),
            args=[CHAT, NOW, "rep", keys.SAMPLES_KEPT, 86400, 0, keys.request(SITE, ""), keys.results_prefix(SITE),
                  86400])
        want = core.end(s)
        data = json.loads(raw)
        assert (bool(data["chat"]), bool(data["success"])) == (want.chat, want.success)
    else:
        raw = redis_client.register_script(source("outcome"))(
            keys=keys.outcome(SITE, CHAT, "20260101"),
            args=[action, who, NOW, WINDOW_MS, stars, "fine", keys.results_prefix(SITE), 86400])
        want = (core.rate(s, who, stars, NOW, WINDOW_MS) if action == "rate"
                else core.resolve(s, who, NOW, WINDOW_MS))
        assert answer(raw) == (want.error, want.success)
        after = redis_client.hgetall(request)
        if action == "rate" and not want.error:
            assert (after[R.RATING], after[R.COMMENT]) == (str(stars), "fine")
        elif action == "rate":  # refused: the rating as it was
            assert after.get(R.RATING) == (str(s.rating) if s.status and s.rating else None)
        if action == "resolve" and not want.error:
            assert R.RESOLVED in after
    assert counts(redis_client, s) == (before[0] + want.chat, before[1] + want.success) if s.rule_set and s.rep \
        else counts(redis_client, s) == (0, 0)
    if want.success:
        assert redis_client.hget(request, R.COUNTED) == "1"
