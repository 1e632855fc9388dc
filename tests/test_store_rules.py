"""The store's own rules, checked over every script: each Lua decision equals its Python
twin, every hash field a script touches is declared in store/keys.py, and every script's
KEYS live in one Redis Cluster slot (the site's hash tag)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from backend.core.policy import estimate_wait, page_present
from backend.store import keys
from backend.store.scripts import LUA_DIR, source
from backend.testing.cluster import sync_client
from backend.testing.servers import RedisServer

SCRIPTS = sorted(p.stem for p in LUA_DIR.glob("*.lua"))


@pytest.fixture(scope="module")
def r(redis_server: RedisServer):
    client = sync_client(redis_server.url, decode_responses=False)
    yield client
    client.close()


def lib(name: str) -> str:
    return (LUA_DIR / "lib" / f"{name}.lua").read_text()


def lua_args(*values: object) -> list[object]:
    return ["" if v is None else v for v in values]


times = st.one_of(st.none(), st.integers(0, 100_000))


@hsettings(max_examples=300, deadline=None)
@given(now=st.integers(100_000, 200_000), last=times, left=times, socket=times,
       live=st.integers(0, 60_000), grace=st.integers(0, 30_000), socket_ms=st.integers(0, 30_000))
def test_page_present_twins_agree(r, now, last, left, socket, live, grace, socket_ms) -> None:
    script = lib("present") + ("\nreturn page_present(tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), "
                               "tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])) "
                               "and 1 or 0")
    got = r.eval(script, 0, *lua_args(now, last, left, socket, live, grace, socket_ms))
    assert bool(got) == page_present(now, last, left, socket, live, grace, socket_ms)


@hsettings(max_examples=300, deadline=None)
@given(capacity=st.integers(0, 50), used=st.integers(0, 200),
       aht=st.one_of(st.integers(1, 3600), st.floats(0.001, 100, allow_nan=False)))
def test_estimate_wait_twins_agree(r, capacity, used, aht) -> None:
    script = lib("slots") + ("\nlocal w = estimate_wait(tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))"
                             "\nif w == nil then return 'none' end\nreturn string.format('%.17g', w)")
    got = r.eval(script, 0, capacity, used, aht).decode()
    want = estimate_wait(capacity, used, float(aht))
    assert (None if got == "none" else float(got)) == want


# --- every hash field a script touches is declared -------------------------------------------

HASH_CALL = re.compile(r"redis\.call\('(HGET|HMGET|HSET|HSETNX|HDEL|HEXISTS|HINCRBY)',")
FIELD_REGISTRIES = [keys.VisitorHash, keys.OfferHash, keys.RequestHash, keys.RepHash, keys.ProfileHash,
                    keys.SiteHash, keys.NeededHash]
DECLARED = set().union(*(f.names() for f in FIELD_REGISTRIES))


def literal_fields(command: str, rest: str) -> list[str]:
    """The quoted field names of one hash command (for HSET, every other argument)."""
    args = [a.strip() for a in split_args(rest)]
    fields = args[::2] if command == "HSET" else args[:1] if command in ("HGET", "HSETNX", "HEXISTS",
                                                                       "HINCRBY") else args
    return [f.strip("'") for f in fields if re.fullmatch(r"'[a-z_]+'", f)]


def split_args(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += ch in "({"
        depth -= ch in ")}"
        cur += ch
    return out + [cur]


def fields_used(src: str) -> set[str]:
    """Field names of every hash command in a script, calls spanning lines included."""
    used: set[str] = set()
    for m in HASH_CALL.finditer(src):
        depth, end = 1, m.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(src[end], 0)
            end += 1
        _key, *rest = split_args(src[m.end():end - 1])
        used.update(literal_fields(m.group(1), ",".join(rest)))
    return used


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_hash_field_a_script_uses_is_declared_in_keys(name: str) -> None:
    used = fields_used(source(name))
    assert used <= DECLARED, f"{name}.lua uses undeclared hash fields: {sorted(used - DECLARED)}"


def test_the_check_sees_fields_at_all() -> None:
    """Guard against a parser that silently finds nothing."""
    assert {"score", "reasons", "url", "vid", "status", "targets"} <= fields_used(source("respond"))


# --- one slot per call ---------------------------------------------------------------------------

def key_slot(key: str) -> int:
    from redis.crc import key_slot as slot

    return slot(key.encode())


SITE, VID, RID = "site-0001", "visitor-0001", "rep-0001"
CALLS = {
    "ingest": keys.ingest(SITE, VID, "127.0.0.1", 1, "20260101"),
    "availability": keys.availability(SITE),
    "broker": keys.broker(SITE, "20260101"),
    "withdraw": keys.withdraw(SITE, VID),
    "respond": keys.respond(SITE, VID, "req-1", "20260101"),
    "claim": keys.claim(SITE, "chat-1", RID, "20260101"),
    "end_chat": keys.end_chat(SITE, "chat-1", RID, VID, "20260101"),
    "transfer": keys.transfer(SITE, "chat-1", RID, "rep-0002"),
    "say": keys.say(SITE, "chat-1"),
    "expire_requests": keys.expire_requests(SITE),
    "dispatch": keys.dispatch(SITE, "req-1"),
    "outcome": keys.outcome(SITE, "chat-1", "20260101"),
}


def test_every_script_has_its_keys_listed() -> None:
    assert sorted(CALLS) == SCRIPTS


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_scripts_site_keys_share_one_cluster_slot(name: str) -> None:
    slots = {key_slot(k) for k in CALLS[name]}
    assert len(slots) == 1, f"{name}: {CALLS[name]}"
    prefixes = keys.broker_prefixes(SITE) + keys.expire_requests_prefixes(SITE) + keys.load_prefixes(SITE) + \
        keys.dispatch_prefixes(SITE) + [keys.results_prefix(SITE)]
    assert {key_slot(p + VID) for p in prefixes if p.startswith("bk:")} == slots
