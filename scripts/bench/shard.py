"""Shard benchmark: what one Redis holds and spends per visitor and per chat message, the
figures a sizing needs beside the web workers' (collector.py, push.py, chat.py).

Against real processes on 127.0.0.1 (a private redis-server and one uvicorn worker, started
here and stopped here), Redis read with ``INFO`` before and after each phase; its memory is
``used_memory`` less the clients' buffers (``mem_clients_normal``: the worker's pool grows
with concurrency, not with visitors):

1. Visits. The collector benchmark's realistic batches (``lib.make_batches``: browsers,
   shoppers, strugglers; page views, dwell, heartbeats, fields, errors, cart), each visitor's
   first batch fetching its token as a page's does, the rest presenting it, through the
   collector over HTTP. Twice: short visits (``--batches-per-visitor``, 4 by default, as
   collector.py sends them) and long ones (``--long-batches``, 40: ten minutes of a visible
   page at one batch per 15 s). Measured: Redis memory and keys per visitor; Redis CPU (its
   process, ``INFO cpu``) and commands (``INFO commandstats``, a script's own calls included) per
   batch; the web worker's CPU per batch beside it; the share of answers saying ``watch``
   (the page then holds a push socket).
2. Chats. ``--chats`` customers, each flagged by a struggling batch, offered help (reps made
   and set available through the site API, 20 chats each), accepting it, opening the page's
   push socket and sending ``--messages`` messages of chat length, each acknowledged before
   the next. Measured: Redis memory per customer with a chat request (visitor, offer, request)
   and per stored message; Redis CPU and commands per message.
3. The offer ticker. Each web worker runs the broker of every site with needy visitors each
   tick; its dearest case is a representative free and ``--needy`` visitors who all dismissed
   an offer (cooling down): every run reads them all and offers nothing. Measured: Redis CPU
   and commands per tick (ticks counted as the new site's broker runs, ``EVALSHA``) over a
   quiet ``--window``, less the same window before the site.

A web worker's memory at rest (VmRSS after start) is read too. Figures are per Redis process:
on a cluster each master holds its sites' share.

    .venv/bin/python scripts/bench/shard.py [--visitors 20000] [--chats 100] [--messages 40] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: import from the repository, not from scripts/bench/
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from scripts.bench.lib import (  # noqa: E402
    ADMIN, GATE_OFF, ORIGIN, BenchError, cpu_seconds, create_site, first_batches, hello, main, make_batches, parse,
    parser, post_all, push_url, rss_mb, run_async, say, start_redis, start_server, visitor_tokens, with_site,
    with_tokens,
)

QUICK = dict(visitors=1000, long_visitors=200, chats=20, messages=10, needy=50, window=5, max_seconds=180)
CHATS_PER_REP = 20  # the most a representative may hold (backend/domain/reps.py)
TEXTS = ["Hi, is the blue one waterproof?", "Yes, fully taped seams; it keeps you dry in heavy rain.",
         "Does it come in size 42? The page only shows 41 and 43 for me.",
         "It does: I have just added 42 to your cart, and delivery is free over 100 EUR.",
         "Great, thanks! Can I pay by invoice?", "Of course. Choose 'Invoice' at the payment step."]


@dataclass
class Snapshot:
    """Redis as INFO shows it, and the CPU seconds of its process and of the web worker."""
    memory: int
    keys: int
    calls: int
    scripts: int  # EVALSHA calls: the Lua scripts run
    redis_cpu: float
    worker_cpu: float

    def minus(self, before: "Snapshot") -> "Snapshot":
        return Snapshot(self.memory - before.memory, self.keys - before.keys, self.calls - before.calls,
                        self.scripts - before.scripts, self.redis_cpu - before.redis_cpu,
                        self.worker_cpu - before.worker_cpu)


def snapshot(redis_url: str, worker_pid: int) -> Snapshot:
    import redis as redis_py

    client = redis_py.Redis.from_url(redis_url)
    try:
        time.sleep(0.3)  # let lazy frees and the worker's last replies settle
        info = client.info("memory")
        memory = info["used_memory"] - info.get("mem_clients_normal", 0)
        keys = client.dbsize()
        stats = client.info("commandstats")
        calls = sum(v["calls"] for k, v in stats.items()
                    if k.startswith("cmdstat_") and k not in ("cmdstat_info", "cmdstat_dbsize"))
        scripts = stats.get("cmdstat_evalsha", {}).get("calls", 0)
        cpu = client.info("cpu")  # getrusage(): finer than /proc's clock ticks
    finally:
        client.close()
    return Snapshot(memory, keys, calls, scripts, cpu["used_cpu_user"] + cpu["used_cpu_sys"],
                    cpu_seconds([worker_pid]))


# --------------------------------------------------------------------------- 1. visits


def visits(args: argparse.Namespace, url: str, snap: Any, visitors: int, per_visitor: int, seed: int) -> dict:
    batches = with_site(make_batches(visitors * per_visitor, visitors, seed), create_site(url, f"Visits {seed}"))
    before = snap()
    tokens = run_async(visitor_tokens(url, first_batches(batches), label="first batches"))
    firsts = {body for _, body in first_batches(batches)}
    rest = [body for _, body in with_tokens([b for b in batches if b[1] not in firsts], tokens)]
    steady = snap()
    answers = run_async(post_all(url, rest))
    bad = [status for status, _ in answers if status != 200]
    if bad:
        raise BenchError(f"{len(bad)} of {len(rest)} batches answered {sorted(set(bad))}")
    after = snap()
    whole, later = after.minus(before), after.minus(steady)
    events = sum(n for n, _ in batches) / len(batches)
    # answers saying "watch": the share of visitors' time their page holds a push socket
    watched = sum(json.loads(body).get("watch") is True for _, body in answers) / len(answers)
    out = {"visitors": visitors, "batches": len(batches), "per_visitor": len(batches) / visitors,
           "events": events, "bytes": whole.memory / visitors, "keys": whole.keys / visitors,
           "redis_us": later.redis_cpu / len(rest) * 1e6, "worker_us": later.worker_cpu / len(rest) * 1e6,
           "calls": later.calls / len(rest), "watched": watched}
    say(f"  {visitors:,} visitors, {len(batches):,} batches ({out['per_visitor']:.1f} each, {events:.1f} events "
        f"per batch): {out['bytes']:,.0f} B and {out['keys']:.1f} keys per visitor in Redis; per batch "
        f"{out['redis_us']:.0f} µs Redis CPU, {out['calls']:.1f} commands, {out['worker_us']:.0f} µs worker CPU; "
        f"{watched:.0%} of answers say watch")
    return out


# --------------------------------------------------------------------------- 2. chats


def api(url: str, method: str, path: str, body: dict) -> dict:
    req = urllib.request.Request(url + path, method=method, data=json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def struggling(site: str, vid: str) -> bytes:
    """A batch that flags its visitor under the default rules (form errors, a field, a cart)."""
    return json.dumps({"v": 1, "site": site, "vid": vid, "pid": "pageview-" + vid[-8:], "events": [
        {"t": "pv", "url": ORIGIN + "/checkout/payment", "title": "Checkout – payment", "visits": 1},
        {"t": "err", "field": "card-number", "kind": "invalid", "msg": "The card number is incomplete."},
        {"t": "err", "field": "", "kind": "submit"},
        {"t": "field", "name": "card-number", "ms": 4000},
        {"t": "cart", "value": 250, "currency": "EUR"}]}).encode()


async def customers(url: str, site: str, vids: list[str], timeout: float,
                    action: str = "accept") -> dict[str, tuple[str, str]]:
    """Each visitor's struggling batch, heartbeats until an offer comes, and the offer
    answered (``accept``: HELP clicked; ``dismiss``): {vid: (token, chat request id or "")}."""
    import httpx

    headers = {"Origin": ORIGIN, "Content-Type": "text/plain;charset=UTF-8"}
    out: dict[str, tuple[str, str]] = {}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
        async def one(vid: str) -> None:
            tok = (await http.post("/v1/events", content=struggling(site, vid))).json()["tok"]
            deadline = time.monotonic() + timeout
            while True:
                beat = {"v": 1, "site": site, "vid": vid, "pid": "pageview-" + vid[-8:], "tok": tok,
                        "events": [{"t": "hb"}]}
                cmd = (await http.post("/v1/events", content=json.dumps(beat))).json().get("cmd")
                if cmd and cmd.get("type") == "offer":
                    break
                if time.monotonic() > deadline:
                    raise BenchError(f"no offer reached {vid} in {timeout:g} s")
                await asyncio.sleep(0.2)
            r = await http.post(f"/v1/offers/{cmd['id']}/{action}",
                                content=json.dumps({"site": site, "vid": vid, "tok": tok}))
            if r.status_code != 200:
                raise BenchError(f"{vid} answering its offer ({action}): {r.status_code} {r.text[:200]}")
            out[vid] = (tok, r.json().get("request", ""))

        await asyncio.gather(*(one(v) for v in vids))
    return out


async def converse(url: str, site: str, people: dict[str, tuple[str, str]], messages: int,
                   between: Any) -> int:
    """Opens every customer's push socket (hello first); ``between()`` is called once all are
    open; then each sends ``messages`` messages, one at a time, each acknowledged. Returns the
    messages stored."""
    from websockets.asyncio.client import connect

    sockets = {}
    ws_base = url.replace("http://", "ws://", 1)
    for vid, (tok, _) in people.items():
        ws = await connect(push_url(ws_base, site, vid), origin=ORIGIN, compression=None, open_timeout=20,
                           ping_interval=None, close_timeout=2)
        await ws.send(hello(tok))
        sockets[vid] = ws
    await asyncio.sleep(1.0)  # the hub subscribes and sends each page its chat state
    for ws in sockets.values():  # drop what arrived so far (the chat's state)
        with contextlib.suppress(asyncio.TimeoutError):
            while True:
                await asyncio.wait_for(ws.recv(), 0.01)
    between()
    rng = random.Random(7)

    async def talk(vid: str, ws: Any) -> int:
        stored = 0
        for i in range(messages):
            cid = f"{vid[-8:]}-{i:04d}"
            text = " ".join(rng.choice(TEXTS) for _ in range(1 + (i % 3 == 0)))
            await ws.send(json.dumps({"type": "say", "text": text, "cid": cid}))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if frame.get("type") == "error":
                    raise BenchError(f"{vid}'s message {i}: {frame}")
                if frame.get("type") == "ack" and frame.get("cid") == cid:
                    stored += 1
                    break
        return stored

    try:
        return sum(await asyncio.gather(*(talk(v, ws) for v, ws in sockets.items())))
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets.values()), return_exceptions=True)


def chats(args: argparse.Namespace, url: str, snap: Any) -> dict:
    site = create_site(url, "Chats")
    reps = -(-args.chats // CHATS_PER_REP)
    for i in range(reps):
        rid = api(url, "POST", f"/v1/sites/{site}/reps", {"name": f"Rep {i}", "email": f"rep{i}@shop.example",
                                                          "password": "a long bench password",
                                                          "capacity": CHATS_PER_REP})["id"]
        api(url, "PUT", f"/v1/sites/{site}/reps/{rid}/presence", {"status": "available"})
    vids = [f"chat-customer-{i:06d}" for i in range(args.chats)]
    before = snap()
    people = run_async(customers(url, site, vids, timeout=30))
    marks: dict[str, Snapshot] = {}
    t0 = time.monotonic()
    stored = run_async(converse(url, site, people, args.messages, lambda: marks.setdefault("open", snap())))
    after = snap()
    waiting, talk = marks["open"].minus(before), after.minus(marks["open"])
    out = {"chats": args.chats, "messages": stored, "per_customer": waiting.memory / args.chats,
           "bytes": talk.memory / stored, "redis_us": talk.redis_cpu / stored * 1e6,
           "calls": talk.calls / stored, "worker_us": talk.worker_cpu / stored * 1e6,
           "text": sum(len(t) for t in TEXTS) / len(TEXTS)}
    say(f"  {args.chats} chat requests, {stored:,} messages in {time.monotonic() - t0:.1f} s: "
        f"{out['per_customer']:,.0f} B per customer with a request; per message {out['bytes']:,.0f} B, "
        f"{out['redis_us']:.0f} µs Redis CPU, {out['calls']:.1f} commands, {out['worker_us']:.0f} µs worker CPU")
    return out


# --------------------------------------------------------------------------- 3. the offer ticker


def ticker(args: argparse.Namespace, url: str, snap: Any) -> dict:
    """Every web worker runs the broker of each site with needy visitors every tick
    (BECKON_OFFER_TICK_S, 0.5 s). Its dearest case: a representative free, and the needy
    visitors all ineligible (each dismissed an offer and cools down), so each run reads every
    candidate and offers nothing. Redis CPU over a quiet window, less the same window before
    the site was made."""
    def window() -> Snapshot:
        first = snap()
        time.sleep(args.window)
        return snap().minus(first)

    quiet = window()
    site = create_site(url, "Ticker")
    rid = api(url, "POST", f"/v1/sites/{site}/reps", {"name": "Rep", "email": "ticker@shop.example",
                                                      "password": "a long bench password",
                                                      "capacity": CHATS_PER_REP})["id"]
    api(url, "PUT", f"/v1/sites/{site}/reps/{rid}/presence", {"status": "available"})
    vids = [f"ticker-visitor-{i:06d}" for i in range(args.needy)]
    run_async(customers(url, site, vids, timeout=60, action="dismiss"))
    api(url, "PUT", f"/v1/sites/{site}/reps/{rid}/presence", {"status": "available"})
    time.sleep(1.0)  # the last answers' pokes
    busy = window()
    ticks = busy.scripts - quiet.scripts  # one broker run for the new site per tick
    if ticks <= 0:
        raise BenchError("the ticker did not run the new site's broker during the window")
    out = {"needy": args.needy, "ticks": ticks / args.window,
           "run_us": (busy.redis_cpu - quiet.redis_cpu) / ticks * 1e6, "calls": (busy.calls - quiet.calls) / ticks}
    say(f"  a site with a representative free and {args.needy} needy visitors cooling down: "
        f"{out['run_us']:.0f} µs Redis CPU and {out['calls']:.0f} commands per worker and tick "
        f"({out['ticks']:.1f} ticks/s)")
    return out


# --------------------------------------------------------------------------- run, report


def measure(args: argparse.Namespace):
    def run(stack: contextlib.ExitStack, deadline: float, results: dict) -> None:
        redis, server, snap = fresh(stack)
        results["rss_mb"] = rss_mb(server.workers()[0])
        say(f"bench/shard: web worker VmRSS {results['rss_mb']:.1f} MB at rest")
        say("\n## 1. visits")
        results["short"] = visits(args, server.url, snap, args.visitors, args.batches_per_visitor, args.seed)
        results["long"] = visits(args, server.url, snap, args.long_visitors, args.long_batches, args.seed + 1)
        say("\n## 2. chats")
        results["chats"] = chats(args, server.url, snap)
        server.stop()
        redis.stop()
        say("\n## 3. the offer ticker (a fresh Redis and worker)")
        _, server, snap = fresh(stack)
        results["ticker"] = ticker(args, server.url, snap)
    return run


def fresh(stack: contextlib.ExitStack) -> tuple[Any, Any, Any]:
    """A private Redis and one web worker on it, settled; and how to read both."""
    redis = start_redis(stack)
    server = start_server(stack, redis.url, env=GATE_OFF, ip_per_min=10**9, visitor_per_min=10**9)
    worker = server.workers()[0]
    time.sleep(1.0)
    return redis, server, lambda: snapshot(redis.url, worker)


def report(results: dict[str, Any]) -> bool:
    print("\n## What one Redis holds and spends\n")
    print("| measurement | memory | keys | Redis CPU | Redis commands | web worker CPU | answers saying watch |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in ("short", "long"):
        v = results.get(name)
        if v:
            print(f"| a visitor, {v['per_visitor']:.0f} batches of {v['events']:.1f} events "
                  f"({v['visitors']:,} visitors) | {v['bytes']:,.0f} B | {v['keys']:.1f} "
                  f"| {v['redis_us']:.0f} µs per batch | {v['calls']:.1f} per batch "
                  f"| {v['worker_us']:.0f} µs per batch | {v['watched']:.0%} |")
    c = results.get("chats")
    if c:
        print(f"| a customer with a chat request (visitor, offer, request; {c['chats']} customers) "
              f"| {c['per_customer']:,.0f} B | | | | | |")
        print(f"| a chat message from the customer ({c['messages']:,} messages, {c['text']:.0f} characters on "
              f"average) | {c['bytes']:,.0f} B | | {c['redis_us']:.0f} µs | {c['calls']:.1f} "
              f"| {c['worker_us']:.0f} µs | |")
    t = results.get("ticker")
    if t:
        print(f"| the offer ticker, per web worker and tick, for a site with a representative free and "
              f"{t['needy']} needy visitors none of whom may be offered | | | {t['run_us']:.0f} µs "
              f"| {t['calls']:.0f} | | |")
    if "rss_mb" in results:
        print(f"\nA web worker at rest: {results['rss_mb']:.1f} MB VmRSS.")
    return True


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = parser(__doc__, max_seconds=600)
    p.add_argument("--visitors", type=int, default=20000, help="visitors of the short visits")
    p.add_argument("--batches-per-visitor", type=int, default=4, help="batches of a short visit (as collector.py)")
    p.add_argument("--long-visitors", type=int, default=2000, help="visitors of the long visits")
    p.add_argument("--long-batches", type=int, default=40, help="batches of a long visit")
    p.add_argument("--chats", type=int, default=100, help="customers who ask for help")
    p.add_argument("--messages", type=int, default=40, help="messages each sends")
    p.add_argument("--needy", type=int, default=200, help="needy visitors of the ticker's site (the broker "
                   "reads at most 200 per run)")
    p.add_argument("--window", type=float, default=20, help="seconds the ticker is measured")
    return parse(p, argv, QUICK)


if __name__ == "__main__":
    args = parse_args(None)
    sys.exit(main("bench/shard", args, measure(args), report))
