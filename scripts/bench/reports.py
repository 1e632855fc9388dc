"""Reports benchmark: how long the owner waits for a report over 90 days of a busy site.

A private redis-server and one uvicorn worker of the backend (started and stopped here). The
site's daily counters are seeded as the scripts write them (``core/counters.py``): ``--days``
days (90) of ``--visitors`` visitors a day (100,000) in the day's HyperLogLog, the funnel per
arm and need band, revenue in two currencies, and ``--reps`` representatives' days (chats,
waits, handle time, ratings, sales). Then each report is asked ``--requests`` times over HTTP
with the site's API key, one at a time: the funnel, the uplift (with a look per day for the
always-valid p-value), the representatives, and the console's reports page (all six tables,
with their charts), beside the bare Starlette endpoint on the same machine for scale.

    .venv/bin/python scripts/bench/reports.py [--days 90] [--visitors 100000] [--reps 50] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: import from the repository, not from scripts/bench/
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from scripts.bench.lib import (  # noqa: E402
    ADMIN, chart, create_site, main, parse, parser, pct, say, start_redis, start_server, verdict,
)

QUICK = dict(days=10, visitors=5000, reps=10, requests=20, max_seconds=180)
GOAL_P95_MS = 1000.0  # "well under a second" for 90 days
BARE_APP = "scripts.bench.bare_app:create_app"


def seed(redis_url: str, site: str, days: int, visitors: int, reps: int, seed_: int) -> None:
    """The site's counters as the scripts would have left them after ``days`` days."""
    import redis

    from backend.core import counters
    from backend.store import keys

    rng = random.Random(seed_)
    r = redis.Redis.from_url(redis_url)
    today = date.today()
    for back in range(days):
        day = (today - timedelta(back)).strftime("%Y%m%d")
        fields: dict[str, int] = {}
        for arm, share in (("treatment", 0.9), ("holdout", 0.1)):
            needing = int(visitors * 0.08 * share)
            for band, part in zip(counters.BANDS, (0.6, 0.3, 0.1)):
                n = int(needing * part)
                steps = {"needing": n, "offered": n * 7 // 10 if arm == "treatment" else 0,
                         "accepted": n * 2 // 10 if arm == "treatment" else 0,
                         "chatted": n * 15 // 100 if arm == "treatment" else 0,
                         "purchased": int(n * (0.09 if arm == "treatment" else 0.06))}
                for stage, count in steps.items():
                    fields[counters.field_name(arm, stage, band)] = count
                    fields[counters.field_name(arm, stage)] = fields.get(counters.field_name(arm, stage), 0) + count
                for currency in ("EUR", "GBP"):
                    minor = steps["purchased"] * rng.randint(5_000, 15_000)
                    fields[counters.revenue_field(arm, currency, band)] = minor
                    name = counters.revenue_field(arm, currency)
                    fields[name] = fields.get(name, 0) + minor
        for i in range(reps):
            rid = f"rep{i:03d}"
            chats = rng.randint(5, 40)
            fields.update({counters.rep_field(rid, counters.CHATS): chats,
                           counters.rep_field(rid, counters.WAIT_MS): chats * rng.randint(3_000, 30_000),
                           counters.rep_field(rid, counters.ENDED): chats,
                           counters.rep_field(rid, counters.HANDLE_MS): chats * rng.randint(60_000, 600_000),
                           counters.rep_field(rid, counters.RATED): chats // 3,
                           counters.rep_field(rid, counters.STARS): chats // 3 * 4,
                           counters.rep_field(rid, counters.CONVERSIONS): chats // 8,
                           counters.rep_field(rid, counters.REVENUE, "EUR"): chats // 8 * 9_900,
                           counters.rep_field(rid, counters.COMMISSION, "EUR"): chats // 8 * 495})
        r.hset(keys.day_counts(site, day), mapping=fields)
        hll = keys.day_visitors(site, day)
        for first in range(0, visitors, 10_000):
            r.pfadd(hll, *(f"v{day}-{n}" for n in range(first, min(first + 10_000, visitors))))
        if back % 10 == 9:
            say(f"  seeded {back + 1} of {days} days")


def timed(url: str, n: int, headers: dict[str, str]) -> tuple[list[float], int]:
    """``n`` GETs one after another: their times (ms) and the last answer's size."""
    out, size = [], 0
    for _ in range(n):
        t = time.perf_counter()
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as resp:
            size = len(resp.read())
        out.append((time.perf_counter() - t) * 1000)
    return out, size


def console_cookie(base: str, site: str) -> dict[str, str]:
    """An admin's console session, logged in through the form: the Cookie header."""
    import http.cookiejar
    import re
    import urllib.parse

    body = json.dumps({"name": "Bench admin", "email": "admin@bench.example", "password": "bench-password-1",
                       "role": "admin"}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{base}/v1/sites/{site}/reps", data=body, method="POST", headers={
        "Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}), timeout=30).read()
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{base}/console/login", timeout=30).read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode({"csrf": csrf, "email": "admin@bench.example", "password": "bench-password-1",
                                   "next": "/console/"}).encode()
    opener.open(f"{base}/console/login", data=data, timeout=30).read()
    return {"Cookie": "; ".join(f"{c.name}={c.value}" for c in jar)}


def measure(args: argparse.Namespace):
    def run(stack: contextlib.ExitStack, deadline: float, results: dict) -> None:
        redis = start_redis(stack)
        server = start_server(stack, redis.url)
        bare = start_server(stack, redis.url, factory=BARE_APP)
        site = create_site(server.url)
        say(f"bench/reports: seeding {args.days} days of {args.visitors:,} visitors a day, {args.reps} reps")
        seed(redis.url, site, args.days, args.visitors, args.reps, args.seed)
        first = (date.today() - timedelta(args.days - 1)).isoformat()
        query = f"?from={first}&to={date.today().isoformat()}"
        api = {"Authorization": f"Bearer {ADMIN}"}
        cases = {
            "funnel": (f"{server.url}/v1/sites/{site}/reports/funnel{query}", api),
            "uplift": (f"{server.url}/v1/sites/{site}/reports/uplift{query}", api),
            "reps": (f"{server.url}/v1/sites/{site}/reports/reps{query}", api),
            "console page (all six, with charts)": (f"{server.url}/console/reports{query}",
                                                      console_cookie(server.url, site)),
            "bare Starlette endpoint": (f"{bare.url}/healthz", {}),
        }
        for name, (url, headers) in cases.items():
            timed(url, 2, headers)  # warm: connections, caches, the first parse
            times, size = timed(url, args.requests, headers)
            results[name] = {"p50": pct(times, 50), "p95": pct(times, 95), "bytes": size}
            say(f"  {name}: p50 {pct(times, 50):.1f} ms, p95 {pct(times, 95):.1f} ms, {size:,} bytes")
        results["days"] = args.days
    return run


def report(results: dict[str, Any]) -> bool:
    rows = [(k, v) for k, v in results.items() if isinstance(v, dict)]
    if not rows:
        return False
    print(f"\n## A report over {results.get('days')} days (one request at a time)\n")
    print("| request | p50 | p95 | answer |")
    print("|---|---:|---:|---:|")
    for name, v in rows:
        print(f"| {name} | {v['p50']:.1f} ms | {v['p95']:.1f} ms | {v['bytes']:,} B |")
    print()
    print(chart("p95 (ms)", [(name, v["p95"]) for name, v in rows], unit=" ms", fmt="{:,.1f}", goal=GOAL_P95_MS))
    worst = max(v["p95"] for name, v in rows if not name.startswith("bare"))
    ok = worst < GOAL_P95_MS
    print(f"\nslowest report p95 {worst:.1f} ms (goal: well under {GOAL_P95_MS:g} ms): {verdict(ok)}")
    return ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = parser(__doc__, max_seconds=900)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--visitors", type=int, default=100_000, help="distinct visitors a day")
    p.add_argument("--reps", type=int, default=50)
    p.add_argument("--requests", type=int, default=50, help="requests of each report")
    return parse(p, argv, QUICK)


if __name__ == "__main__":
    args = parse_args(None)
    sys.exit(main("bench/reports", args, measure(args), report))
