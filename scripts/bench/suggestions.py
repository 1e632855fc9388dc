"""Suggestions benchmark: what the materials beside a chat cost, over the console's socket.

A private redis-server and one uvicorn worker of the backend (started and stopped here). The
site has a page map (50 products, one page pattern each) and a library of ``--materials``
materials (2,000, the per-site cap ``core.materials.MAX_MATERIALS``): replies with
placeholders, links and documents without files, each tagged for one of the 50 products
(some also for its category, the product pages, a language), one in twenty untagged; one in a
hundred holds the search word. Their counts are seeded as ``domain/practices.py`` keeps them
(``keys.material_stats``, fields ``<mid>|uses`` ...) under ``*`` and under the chat's product
facet: uses, sales, ratings, stars and revenue (in EUR, some also in GBP).

One representative logs in to the console (the login form, the session cookie) and accepts
one chat on a kayak page: the visitor's batches go through the collector, the offer is
accepted over HTTP, the request over the console socket, as pages and the console do. Then,
one at a time, ``--requests`` of each, the time from sending a frame to its answer:

- ``suggest`` (``q`` empty): the materials that suit the chat, answered by ``suggestions``;
- a search (``q`` a word in 1% of the library);
- ``say`` with a ``material`` (a different reply each time, so each use is counted) against
  a plain ``say``: what counting a use adds;
- a frame the socket answers with an error and no work (the socket's own round trip), and
  the bare Starlette endpoint's HTTP round trip on the same machine, for scale;

with the server's CPU (and Redis's) per request. Afterwards the same suggestion is taken
apart in this process against the same Redis (``--breakdown`` times): the chat's context,
the library (read, and parsed only where a stored text changed), choosing what suits, the
counts of those that suit under the two facets, ranking;
``--profile`` adds cProfile's top functions.

    .venv/bin/python scripts/bench/suggestions.py [--materials 2000] [--requests 300] [--profile] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import string
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: import from the repository, not from scripts/bench/
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from scripts.bench.lib import (  # noqa: E402
    ADMIN, ORIGIN, BenchError, chart, cpu_seconds, create_site, main, parse, parser, pct, post_all, redis_pids,
    run_async, say, start_redis, start_server, verdict, visitor_tokens,
)
from scripts.bench.reports import timed  # noqa: E402
from backend.core.materials import MAX_MATERIALS  # noqa: E402 - the per-site cap, 2,000

QUICK = dict(materials=300, requests=50, breakdown=20, max_seconds=120)
GOAL_P95_MS = 50.0  # suggest with a full library (MAX_MATERIALS)
BARE_APP = "scripts.bench.bare_app:create_app"
PASSWORD = "bench-password-1"
SEARCH_WORD = "waterproof"  # in 1% of the library, nowhere else
PRODUCTS = ["kayak", "canoe", "paddle", "life vest", "dry bag", "tent", "tarp", "sleeping bag", "sleeping mat",
            "stove", "cookset", "water filter", "headlamp", "lantern", "backpack", "daypack", "trekking pole",
            "hiking boot", "trail shoe", "sandal", "rain jacket", "softshell", "fleece", "down jacket",
            "base layer", "hiking trouser", "short", "sock", "glove", "beanie", "sun hat", "sunglasses", "compass",
            "gps", "watch", "map case", "first aid kit", "knife", "multitool", "hammock", "camp chair",
            "camp table", "cooler", "water bottle", "thermos", "climbing rope", "harness", "helmet", "carabiner",
            "chalk bag"]
CATEGORIES = ["water", "camping", "clothing", "footwear", "climbing"]
CHAT_PRODUCT = "kayak"
PAGE = f"{ORIGIN}/product/kayak/sea-touring-kayak-470?colour=red"
LOREM = ("the hull is stable in waves and tracks well, with room for two dry bags in the hatches; "
         "delivery takes two to four days and returns are free for 60 days; the size guide "
         "lists the measurements of every model so that you can compare them side by side").split()


def slug(name: str) -> str:
    return name.replace(" ", "-")


def page_map() -> dict[str, Any]:
    """One page pattern per product, its category one of five."""
    return {"pages": [{"pattern": f"/product/{slug(p)}/*", "category": CATEGORIES[i % len(CATEGORIES)],
                       "product": p} for i, p in enumerate(PRODUCTS)], "rule_sets": []}


def make_library(n: int, rng: random.Random) -> list[Any]:
    """``n`` valid materials (core.materials.validate): 60% replies, 25% links, 15% documents."""
    from backend.core import materials as core

    now = int(time.time() * 1000)
    out = []
    for i in range(n):
        roll = rng.random()
        kind = "reply" if roll < 0.6 else "link" if roll < 0.85 else "document"
        product = rng.choice(PRODUCTS)
        words = " ".join(rng.choices(LOREM, k=rng.randint(15, 70)))
        title = f"{product.title()} {rng.choice(['sizes', 'care', 'delivery', 'returns', 'guide', 'offer'])} {i}"
        if i % 100 == 7:
            title += f" ({SEARCH_WORD})"
        tags: dict[str, list[str]] = {}
        if rng.random() >= 0.05:  # one in twenty untagged: suits every chat
            tags["products"] = [product]
            if rng.random() < 0.2:
                tags["categories"] = [CATEGORIES[PRODUCTS.index(product) % len(CATEGORIES)]]
            if rng.random() < 0.1:
                tags["url_patterns"] = ["/product/*"]
            if rng.random() < 0.05:
                tags["languages"] = [rng.choice(["en", "de", "fr"])]
        data: dict[str, Any] = {"kind": kind, "title": title, "tags": tags}
        if kind == "reply":
            data["text"] = f"Hello {{customer_name}}, about the {{product}}: {words}. {{rep_name}} at {{site_name}}"
        elif kind == "link":
            data.update(url=f"{ORIGIN}/guides/{slug(product)}/{i}" if i % 2 else f"/guides/{slug(product)}-{i}",
                        text=words[:200])
        else:
            data["text"] = f"{product} data sheet: {words[:150]}"  # no file uploaded: document is None
        mid = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(16))
        found = core.validate(data, mid, "api", now - (n - i) * 60_000)
        if isinstance(found, list):
            raise BenchError(f"material {i} does not validate: {found}")
        out.append(found)
    return out


def stats_fields(mids: list[str], rng: random.Random, used_share: float, scale: int) -> dict[str, int]:
    """Counts as ``core.practices.records`` reads them: ``<mid>|uses`` ... ``<mid>|rev|EUR``."""
    fields: dict[str, int] = {}
    for mid in mids:
        if rng.random() >= used_share:
            continue
        uses = rng.randint(1, scale)
        sales = sum(1 for _ in range(uses) if rng.random() < 0.12)
        ratings = uses // 3
        fields.update({f"{mid}|uses": uses, f"{mid}|sales": sales, f"{mid}|ratings": ratings,
                       f"{mid}|stars": ratings * rng.randint(3, 5)})
        if sales:
            fields[f"{mid}|rev|EUR"] = sales * rng.randint(2_000, 25_000)
            if rng.random() < 0.1:
                fields[f"{mid}|rev|GBP"] = rng.randint(1_000, 20_000)
    return fields


def seed(redis_url: str, site: str, n: int, seed_: int) -> dict[str, Any]:
    """The library and its counts, written as domain/materials.py and domain/practices.py do."""
    import redis

    from backend.core import practices as core
    from backend.store import keys

    rng = random.Random(seed_)
    library = make_library(n, rng)
    r = redis.Redis.from_url(redis_url)
    with r.pipeline(transaction=False) as pipe:
        for m in library:
            pipe.hset(keys.materials(site), m.id, json.dumps(m.as_json()))
        pipe.execute()
    ctx = core.Context(product=CHAT_PRODUCT, category=CATEGORIES[0], path=urllib.parse.urlsplit(PAGE).path,
                       language="en")
    suits = [m.id for m in library if core.suits(m.tags, ctx)]
    where = core.facet("product", CHAT_PRODUCT)
    everywhere = stats_fields([m.id for m in library], rng, 0.8, 400)
    here = stats_fields(suits, rng, 0.8, 60)
    r.hset(keys.material_stats(site, core.ALL), mapping=everywhere)
    if here:
        r.hset(keys.material_stats(site, where), mapping=here)
    r.sadd(keys.material_facets(site), core.ALL, where)
    r.sadd(keys.material_currencies(site), "EUR", "GBP")
    r.close()
    return {"materials": n, "suit": len(suits), "replies": [m.id for m in library if m.kind == "reply"],
            "search": sum(1 for m in library if core.matches(m, SEARCH_WORD)),
            "fields_all": len(everywhere), "fields_here": len(here),
            "kinds": {k: sum(1 for m in library if m.kind == k) for k in ("reply", "link", "document")}}


# --------------------------------------------------------------------------- the chat


def api(url: str, body: Any, method: str = "POST") -> Any:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method=method, headers={
        "Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def console_login(base: str, email: str) -> tuple[str, str]:
    """The console's login form, as a browser fills it: (Cookie header, CSRF token for the socket)."""
    import http.cookiejar

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{base}/console/login", timeout=30).read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode({"csrf": csrf, "email": email, "password": PASSWORD, "next": "/console/"}).encode()
    opener.open(f"{base}/console/login", data=data, timeout=30).read()
    page = opener.open(f"{base}/console/", timeout=30).read().decode()
    found = re.search(r'data-csrf="([^"]+)"', page)
    if not found:
        raise BenchError("no data-csrf on /console/ after logging in")
    return "; ".join(f"{c.name}={c.value}" for c in jar), found.group(1)


class Console:
    """The console's socket: send a frame, wait for the answer that matches (other frames,
    such as the chat's own messages and the chats list, are skipped)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def until(self, match: Any, timeout: float = 30) -> dict[str, Any]:
        async def wait() -> dict[str, Any]:
            while True:
                frame = json.loads(await self.ws.recv())
                if match(frame):
                    return frame
        return await asyncio.wait_for(wait(), timeout)


async def open_chat(base: str, site: str, console: Console) -> str:
    """A needy visitor on the kayak page, offered help, who accepts; the rep accepts the request."""
    vid = "bench-visitor-" + "".join(random.choices(string.ascii_lowercase, k=8))
    events = [{"t": "pv", "url": PAGE, "title": "Sea touring kayak 470", "visits": 1, "lang": "en"},
              {"t": "id", "name": "Zoë Ng"},
              {"t": "err", "field": "zip", "kind": "invalid"}, {"t": "err", "field": "zip", "kind": "submit"},
              {"t": "field", "name": "zip", "ms": 25_000}, {"t": "cart", "value": 1290, "currency": "EUR"}]
    first = json.dumps({"v": 1, "site": site, "vid": vid, "pid": "pageview-0001", "events": events}).encode()
    tok = (await visitor_tokens(base, [(vid, first)]))[vid]
    offer = None
    for _ in range(100):  # heartbeats until the offer ticker (every 0.5 s) makes an offer
        hb = json.dumps({"v": 1, "site": site, "vid": vid, "pid": "pageview-0001", "tok": tok,
                         "events": [{"t": "hb"}]}).encode()
        (status, body), = await post_all(base, [hb])
        answer = json.loads(body) if status == 200 else {}
        if answer.get("cmd"):
            offer = answer["cmd"]["id"]
            tok = answer.get("tok") or tok
            break
        await asyncio.sleep(0.1)
    if offer is None:
        raise BenchError(f"no offer reached the visitor in 10 s (last answer: {status} {body[:300]!r})")
    accept = json.dumps({"site": site, "vid": vid, "tok": tok}).encode()
    (status, body), = await post_all(base, [accept], path=f"/v1/offers/{offer}/accept")
    if status != 200:
        raise BenchError(f"accepting the offer: {status} {body[:200]!r}")
    cid = json.loads(body)["request"]
    await console.send({"type": "accept", "id": cid})
    got = await console.until(lambda f: f.get("type") == "accepted" and f.get("id") == cid
                              or f.get("type") == "error" and f.get("ref") == cid)
    if got["type"] == "error":
        raise BenchError(f"accepting the chat: {got['message']}")
    return cid


# --------------------------------------------------------------------------- measurement


async def round_trips(console: Console, n: int, frame: Any, match: Any, cpu: Any, first: int = 0) -> dict[str, Any]:
    """``n`` frames one after another: their round trips (ms), the server's and Redis's CPU
    per frame (ms), the last answer's size."""
    times: list[float] = []
    size = 0
    c0 = cpu()
    for i in range(first, first + n):
        out = frame(i)
        t = time.perf_counter()
        await console.send(out)
        got = await console.until(lambda f: match(f, out))
        times.append((time.perf_counter() - t) * 1000)
        if got.get("type") == "error" and match is not is_error:
            raise BenchError(f"{out['type']}: {got.get('message')}")
        size = len(json.dumps(got))
    c1 = cpu()
    return {"times": times, "server_ms": (c1[0] - c0[0]) / n * 1000, "redis_ms": (c1[1] - c0[1]) / n * 1000,
            "bytes": size, "items": len(got.get("items", []))}


def is_error(frame: dict[str, Any], sent: dict[str, Any]) -> bool:
    return frame.get("type") == "error" and frame.get("ref") == sent.get("ref")


async def drive(base: str, site: str, cookie: str, csrf: str, args: argparse.Namespace, seeded: dict[str, Any],
                cpu: Any, results: dict[str, Any]) -> str:
    from websockets.asyncio.client import connect

    ws_url = "ws" + base[len("http"):] + f"/console/ws?csrf={urllib.parse.quote(csrf)}"
    async with connect(ws_url, origin=base, additional_headers={"Cookie": cookie}, compression=None,
                       open_timeout=30, ping_interval=None, close_timeout=2, max_size=16 * 1024 * 1024,
                       max_queue=None) as ws:
        console = Console(ws)
        await console.send({"type": "presence", "status": "available"})
        await console.until(lambda f: f.get("type") == "presence")
        cid = await open_chat(base, site, console)
        say(f"  chat {cid} accepted")

        def suggestion(q: str) -> Any:
            return lambda f, sent: f.get("type") in ("suggestions", "error") and f.get("chat", f.get("ref")) == cid \
                and (f["type"] == "error" or f.get("q") == q)

        def ack(f: dict[str, Any], sent: dict[str, Any]) -> bool:
            return f.get("type") in ("ack", "error") and f.get("ref", "") == sent["cid"]

        replies = seeded["replies"]
        plan = {
            "console socket, no work (an unknown frame, answered by an error)":
                (lambda i: {"type": "bench-noop", "ref": f"noop{i}"}, is_error),
            "suggest": (lambda i: {"type": "suggest", "chat": cid, "q": ""}, suggestion("")),
            f"search ({SEARCH_WORD!r})": (lambda i: {"type": "suggest", "chat": cid, "q": SEARCH_WORD},
                                          suggestion(SEARCH_WORD)),
            "say": (lambda i: {"type": "say", "chat": cid, "text": f"plain message {i}", "cid": f"plain-{i}"}, ack),
            "say with a material (a use counted)":
                (lambda i: {"type": "say", "chat": cid, "text": f"from the library {i}", "cid": f"mat-{i}",
                            "material": replies[i % len(replies)]}, ack),
        }
        if args.requests + 5 > len(replies):
            say(f"  note: {args.requests} says with a material but {len(replies)} replies: some count no use")
        for name, (frame, match) in plan.items():
            # warm (caches, the first parse), with frames of their own: other cids, other materials
            await round_trips(console, min(5, args.requests), frame, match, cpu, first=args.requests)
            got = await round_trips(console, args.requests, frame, match, cpu)
            results.setdefault("rows", {})[name] = got
            t = got["times"]
            say(f"  {name}: p50 {pct(t, 50):.2f} ms, p95 {pct(t, 95):.2f} ms, server CPU {got['server_ms']:.2f} ms,"
                f" Redis CPU {got['redis_ms']:.2f} ms per request")
    return cid


async def breakdown(redis_url: str, site: str, cid: str, n: int, profile: bool, results: dict[str, Any]) -> None:
    """Practices.suggestions taken apart in this process, against the same Redis: each step as
    the method does it (domain/practices.py), timed on its own; the whole method too."""
    from backend.config import Settings
    from backend.core import practices as core
    from backend.domain.services import Services

    svc = Services.build(Settings(redis_url=redis_url, admin_token=ADMIN))
    await svc.open()
    try:
        p = svc.practices
        chat = await svc.chats.get(site, cid)
        if chat is None:
            raise BenchError(f"chat {cid} not found in-process")
        steps: dict[str, list[float]] = {}

        def lap(name: str, t: float) -> float:
            now = time.perf_counter()
            steps.setdefault(name, []).append((now - t) * 1000)
            return now

        for _ in range(3):
            await p.suggestions(site, chat)
        for _ in range(n):
            t = time.perf_counter()
            await p.suggestions(site, chat)
            lap("the whole of Practices.suggestions", t)
            t = time.perf_counter()
            chat = await svc.chats.get(site, cid)
            t = lap("chats.get (the handler reads the chat)", t)
            ctx = await p.context(site, chat)
            t = lap("context (site, visitor detail, page map)", t)
            library = [m for m in await svc.materials.list(site) if m.kind in ("reply", "link", "document")]
            t = lap("the library (HGETALL; parsed only where a stored text changed)", t)
            found = [m for m in library if core.suits(m.tags, ctx)]
            t = lap("choosing what suits (core.practices.suits)", t)
            where = core.similar(ctx)
            everywhere, here = await p._records_of(site, [m.id for m in found], (core.ALL, where))
            t = lap("the counts of those that suit (HMGET under two facets, read)", t)
            core.rank(ctx, found, here, everywhere, where, p.rng, core.SUGGESTED)
            lap("ranking (core.practices.rank)", t)
        results["breakdown"] = steps
        if profile:
            import cProfile
            import io
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            for _ in range(n):
                await p.suggestions(site, chat)
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
            results["profile"] = out.getvalue()
    finally:
        await svc.stop()


def measure(args: argparse.Namespace):
    def run(stack: contextlib.ExitStack, deadline: float, results: dict) -> None:
        redis = start_redis(stack)
        server = start_server(stack, redis.url, env={"BECKON_HOLDOUT_DEFAULT": "0"})  # the chat's visitor is offered
        bare = start_server(stack, redis.url, factory=BARE_APP)
        site = create_site(server.url)
        api(f"{server.url}/v1/sites/{site}/matching", page_map(), method="PUT")
        say(f"bench/suggestions: seeding {args.materials:,} materials and their counts")
        t0 = time.monotonic()
        seeded = seed(redis.url, site, args.materials, args.seed)
        results["seeded"] = {k: v for k, v in seeded.items() if k != "replies"}
        say(f"  {seeded['kinds']}, {seeded['suit']} suit the chat, {seeded['search']} match the search; "
            f"{seeded['fields_all']:,} + {seeded['fields_here']:,} stats fields  ({time.monotonic() - t0:.1f} s)")
        api(f"{server.url}/v1/sites/{site}/reps", {"name": "Bench rep", "email": "rep@bench.example",
                                                     "password": PASSWORD, "capacity": 2, "role": "rep"})
        cookie, csrf = console_login(server.url, "rep@bench.example")
        workers, rpids = server.workers(), redis_pids(redis)

        def cpu() -> tuple[float, float]:
            return cpu_seconds(workers), cpu_seconds(rpids)

        cid = run_async(drive(server.url, site, cookie, csrf, args, seeded, cpu, results))
        timed(f"{bare.url}/healthz", 5, {})
        times, size = timed(f"{bare.url}/healthz", args.requests, {})
        results.setdefault("rows", {})["bare Starlette endpoint (HTTP GET, a new connection each)"] = {
            "times": times, "bytes": size}
        say(f"  bare Starlette endpoint: p50 {pct(times, 50):.2f} ms")
        problems = server.problems()
        if problems:
            say("  the server logged:\n    " + "\n    ".join(problems[:10]))
        if time.monotonic() < deadline:
            say(f"  taking suggest apart in this process ({args.breakdown} times)")
            run_async(breakdown(redis.url, site, cid, args.breakdown, args.profile, results))
    return run


def report(results: dict[str, Any]) -> bool:
    rows = results.get("rows", {})
    if not rows:
        return False
    s = results.get("seeded", {})
    bare = next((v for k, v in rows.items() if k.startswith("bare")), None)
    bare50 = pct(bare["times"], 50) if bare else float("nan")
    print(f"\n## Suggestions beside a chat: {s.get('materials', 0):,} materials, {s.get('suit', 0)} suit the chat "
          f"(one request at a time)\n")
    print("| request | p50 | p95 | p99 | p50 / bare p50 | server CPU | Redis CPU | answer |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, v in rows.items():
        t = v["times"]
        cpu = f"{v['server_ms']:.2f} ms" if "server_ms" in v else ""
        rcpu = f"{v['redis_ms']:.2f} ms" if "redis_ms" in v else ""
        print(f"| {name} | {pct(t, 50):.2f} ms | {pct(t, 95):.2f} ms | {pct(t, 99):.2f} ms | "
              f"{pct(t, 50) / bare50:.1f} | {cpu} | {rcpu} | {v['bytes']:,} B |")
    plain, counted = rows.get("say"), rows.get("say with a material (a use counted)")
    if plain and counted:
        print(f"\ncounting a use adds {pct(counted['times'], 50) - pct(plain['times'], 50):.2f} ms at p50, "
              f"{pct(counted['times'], 95) - pct(plain['times'], 95):.2f} ms at p95, "
              f"{counted['server_ms'] - plain['server_ms']:.2f} ms of server CPU to a say")
    print()
    short = {"console socket, no work (an unknown frame, answered by an error)": "socket, no work",
             "say with a material (a use counted)": "say + material",
             "bare Starlette endpoint (HTTP GET, a new connection each)": "bare HTTP"}
    print(chart("p95 (ms)", [(short.get(k, k), pct(v["times"], 95)) for k, v in rows.items()], unit="ms",
                fmt="{:,.2f}", goal=GOAL_P95_MS))
    steps = results.get("breakdown")
    if steps:
        print(f"\n### Where a suggestion's time goes (in this process, same Redis, {len(next(iter(steps.values())))}"
              " times)\n")
        print("| step | p50 | mean |")
        print("|---|---:|---:|")
        for name, v in steps.items():
            print(f"| {name} | {pct(v, 50):.2f} ms | {sum(v) / len(v):.2f} ms |")
        print()
        print(chart("mean (ms)", [(name.split(" (")[0], sum(v) / len(v)) for name, v in steps.items()
                                  if not name.startswith("the whole")], unit="ms", fmt="{:,.2f}"))
    if results.get("profile"):
        print("\ncProfile of Practices.suggestions, top 15 by own time:\n")
        print(results["profile"])
    sug = rows.get("suggest")
    if not sug:
        return False
    p95 = pct(sug["times"], 95)
    n = s.get("materials", 0)
    if n < MAX_MATERIALS:  # the goal is for a full library: a smaller one is not judged
        print(f"\nsuggest p95 {p95:.2f} ms with {n:,} materials (the goal, under {GOAL_P95_MS:g} ms, is for "
              f"{MAX_MATERIALS:,}: not judged)")
        return True
    ok = p95 < GOAL_P95_MS
    print(f"\nsuggest p95 {p95:.2f} ms with {n:,} materials (goal: under {GOAL_P95_MS:g} ms "
          f"with {MAX_MATERIALS:,}): {verdict(ok)}")
    return ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = parser(__doc__, max_seconds=600)
    p.add_argument("--materials", type=int, default=MAX_MATERIALS,
                   help="materials in the site's library (at most the per-site cap)")
    p.add_argument("--requests", type=int, default=300, help="requests of each kind, one at a time")
    p.add_argument("--breakdown", type=int, default=100, help="suggestions taken apart in this process")
    p.add_argument("--profile", action="store_true", help="also profile suggest in this process (cProfile)")
    return parse(p, argv, QUICK)


if __name__ == "__main__":
    args = parse_args(None)
    sys.exit(main("bench/suggestions", args, measure(args), report))
