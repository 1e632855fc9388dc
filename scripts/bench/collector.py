"""Collector benchmark: the real ``POST /v1/events`` against the stack's ceiling.

Starts a private redis-server and, one after the other, two uvicorn servers with the same
settings: (a) ``scripts/bench/bare_app.py``, a Starlette endpoint that reads the body and
answers 204, and (b) the collector (``backend.app:create_app``) with a site and rate limits
raised so nothing is throttled. Both are driven over loopback with the same realistic batches
(text/plain, the site's Origin, page views, dwell, field dwell, form errors, cart; 1-10
events per batch; many visitors) at the same concurrency, for two measurements:

* max throughput, closed loop (wrk, a C load generator, with a Lua script that varies the
  bodies and checks every status): requests/s, events/s, p50/p99 latency. wrk 4 adds
  synthetic samples to its latency histogram before its script sees it (a coordinated-
  omission "correction" derived from the mean), so its own percentiles are not the ones
  measured; the script dumps the histogram, removes those samples exactly and checks that
  one sample per response is left. wrk's own p50/p99 are printed beside for comparison;
* a fixed 1,000 requests/s, open loop (asyncio, keep-alive connections, a thread that
  wakes when each request is due): latency counted from each request's scheduled send
  time, so a stall shows as latency instead of as requests not sent. The time from due to
  written is shown too: the client's own lag, or waiting for a free connection.

The batches come from visitor personas (browsers, shoppers, a few strugglers with forms);
how many visitors the collector ends up scoring as needing assistance is printed, since
that share changes its cost.

Every response's status is checked; a non-2xx or a socket error fails the run. It ends with
a markdown table, a chart of requests/s and a verdict against the goals (collector >= 50%
of the bare endpoint's request rate; p99 < 25 ms at 1,000 requests/s).

    .venv/bin/python scripts/bench/collector.py [--seconds 20] [--workers 1] [--connections 64] [--quick]

It installs wrk with apt-get when it is missing (as scripts/bootstrap does for Redis), or
drives the closed loop from Python with ``--loadgen python``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.util
import json
import os
import random
import shutil
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: import from the repository, not from scripts/bench/
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from scripts.bench.lib import ORIGIN, BenchError, CpuMeter, chart, create_site, main, parse, parser, say  # noqa: E402
from scripts.bench.lib import start_redis, start_server  # noqa: E402

PATH = "/v1/events"
BARE_APP = "scripts.bench.bare_app:create_app"
GOAL_RATIO = 0.50  # collector requests/s as a share of the bare endpoint's
GOAL_P99_MS = 25.0  # p99 at the fixed rate
QUICK = dict(seconds=2, warmup=1, visitors=500, batches=2000, max_seconds=120)


# --------------------------------------------------------------------------- the measurement


def measure(args: argparse.Namespace, wrk: str | None):
    def run(stack: contextlib.ExitStack, deadline: float, results: dict) -> None:
        batches = make_batches(args.batches, args.visitors, args.seed)
        sizes = sorted(len(b) for _, b in batches)
        mean_events = sum(n for n, _ in batches) / len(batches)
        say(f"bench: {len(batches):,} batches from {args.visitors:,} visitors, "
            f"{mean_events:.1f} events per batch, "
            f"body {sizes[len(sizes) // 2]} B median / {sizes[-1]} B max; {args.connections} connections, "
            f"{args.workers} worker(s), {args.seconds} s per phase\nbench: events {event_mix(batches)}")
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="beckon-bench-")))
        (work / "bench.lua").write_text(WRK_LUA)
        redis = start_redis(stack)
        bare = run_app("bare", 1, args, redis, batches, work, wrk, stack)
        collector = run_app("collector", 3, args, redis, batches, work, wrk, stack)
        results.update(bare=bare, collector=collector, args=args)  # both or nothing: report compares them
    return run


def run_app(app: str, no: int, args: argparse.Namespace, redis: Any, batches: list[tuple[int, bytes]],
            work: Path, wrk: str | None, stack: contextlib.ExitStack) -> dict[str, Result]:
    """The two phases against one app, on its own server, stopped before the next app starts."""
    if app == "collector":
        server = start_server(stack, redis.url, workers=args.workers, ip_per_min=10**9, visitor_per_min=10**9)
        site = create_site(server.url)
    else:
        server = start_server(stack, redis.url, factory=BARE_APP, workers=args.workers)
        site = "bench-bare-0001"
    batches = with_site(batches, site)
    (work / "bodies.txt").write_bytes(b"".join(b"%d\t%s\n" % (n, body) for n, body in batches))
    out: dict[str, Result] = {}

    def closed(seconds: int) -> Result:
        if wrk:
            return run_wrk(wrk, server.url, seconds, args.connections, args.wrk_threads, work)[0]
        return run_python(server.port, batches, seconds, args.connections, None)

    def meter() -> CpuMeter:
        # "loadgen": this process and the wrk it ran (reaped within the phase)
        return CpuMeter({"server": server.pids(), "redis": redis.pid, "loadgen": os.getpid()})

    if args.warmup:
        closed(args.warmup).check(f"{app} warm-up")
    gen = "wrk" if wrk else "python"
    phase(no, f"{app}: max throughput, closed loop ({gen})")
    with meter() as cpu:
        res = closed(args.seconds)
    res.check(f"{app}, closed loop")
    res.other_cpu = cpu.pct["other"]
    say(f"{fmt_int(res.rps)} req/s, {fmt_int(res.eps)} events/s, p50 {fmt_ms(res.pct(50))} ms, "
        f"p99 {fmt_ms(res.pct(99))} ms; cpu: {cpu.line()}")
    out["closed"] = res

    phase(no + 1, f"{app}: {fmt_int(args.rate)} req/s, open loop (python)")
    with meter() as cpu:
        res = run_python(server.port, batches, args.seconds, args.connections, args.rate)
    res.check(f"{app}, open loop")
    res.other_cpu = cpu.pct["other"]
    unanswered = f" ({res.unfinished} unanswered at the end)" if res.unfinished else ""
    say(f"{fmt_int(res.rps)} req/s achieved, p50 {fmt_ms(res.pct(50))} ms, p99 {fmt_ms(res.pct(99))} ms"
        f"{unanswered}; due-to-sent p50/p99 "
        f"{fmt_ms(res.pct(50, res.lag_us))}/{fmt_ms(res.pct(99, res.lag_us))} ms; cpu: {cpu.line()}")
    out["open"] = res
    if app == "collector":
        active, needy = redis_counts(redis.url, site)
        res.note = (f"after the run Redis tracks {active:,} visitors, {needy:,} ({needy / max(active, 1):.0%}) "
                    f"scored as needing assistance")
    server.stop()
    return out


def phase(no: int, text: str) -> None:
    say(f"[{no}/4] {text:<52} ", end="")


def redis_counts(redis_url: str, site: str) -> tuple[int, int]:
    import redis as redis_py

    from backend.store import keys

    client = redis_py.Redis.from_url(redis_url)
    try:
        return client.zcard(keys.active(site)), client.zcard(keys.needy(site))
    finally:
        client.close()


# --------------------------------------------------------------------------- report


def fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def fmt_ms(x: float) -> str:
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def report(results: dict[str, Any]) -> bool:
    args = results["args"]
    rate = fmt_int(args.rate)
    print()
    stack = "+".join(m for m in ("uvloop", "httptools") if importlib.util.find_spec(m)) or "asyncio+h11"
    print(
        f"## Collector benchmark ({args.seconds} s per phase, {args.connections} connections, "
        f"{args.workers} uvicorn worker{'s' if args.workers > 1 else ''} ({stack}), {os.cpu_count()} CPUs)"
    )
    print()
    print(f"| app | req/s | events/s | p50 ms | p99 ms | p50 ms @ {rate} rps | p99 ms @ {rate} rps | achieved rps |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for app in ("bare", "collector"):
        c, o = results[app]["closed"], results[app]["open"]
        unfinished = f" ({o.unfinished} unanswered)" if o.unfinished else ""
        print(
            f"| {app} | {fmt_int(c.rps)} | {fmt_int(c.eps)} | {fmt_ms(c.pct(50))} | {fmt_ms(c.pct(99))} "
            f"| {fmt_ms(o.pct(50))} | {fmt_ms(o.pct(99))}{unfinished} | {fmt_int(o.rps)} |"
        )
    bare, coll = results["bare"], results["collector"]
    ratio = coll["closed"].rps / bare["closed"].rps if bare["closed"].rps else 0.0
    p99 = coll["open"].pct(99)
    ok_ratio = ratio >= GOAL_RATIO
    ok_p99 = p99 < GOAL_P99_MS and coll["open"].unfinished == 0 and coll["open"].rps >= 0.95 * args.rate
    print()
    print(f"collector/bare requests/s: {ratio:.2f} ({ratio:.0%})")
    print()
    print("```")
    print(chart("requests/s, closed loop", [("bare", bare["closed"].rps), ("collector", coll["closed"].rps)],
                fmt=fmt_int))
    print()
    print(chart(f"p99 ms at {rate} req/s (goal: under {GOAL_P99_MS:.0f})",
                [("bare", bare["open"].pct(99)), ("collector", coll["open"].pct(99)), ("goal", GOAL_P99_MS)],
                fmt=fmt_ms))
    print("```")
    print()
    for app in ("bare", "collector"):
        for loop in ("closed", "open"):
            if results[app][loop].note:
                print(f"- {app}: {results[app][loop].note}")
    other = max(r.other_cpu for app in (bare, coll) for r in app.values())
    if other > 15:
        print(
            f"- WARNING: other processes used up to {other:.0f}% of a core during a phase; the machine was "
            f"not quiet, run again"
        )
    lag = [results[app]["open"].pct(99, results[app]["open"].lag_us) for app in ("bare", "collector")]
    print(
        f"- open loop: p99 from due to sent (client lag, or no free connection) {fmt_ms(lag[0])} ms (bare), "
        f"{fmt_ms(lag[1])} ms (collector); it is part of the latencies above"
    )
    print()
    verdict = "PASS" if ok_ratio and ok_p99 else "FAIL"
    print(
        f"verdict: {verdict} - collector at {ratio:.0%} of the bare endpoint's request rate "
        f"(goal >= {GOAL_RATIO:.0%}: {'met' if ok_ratio else 'missed'}); p99 {fmt_ms(p99)} ms at "
        f"{fmt_int(coll['open'].rps)} of {rate} req/s "
        f"(goal < {GOAL_P99_MS:.0f} ms: {'met' if ok_p99 else 'missed'})"
    )
    return ok_ratio and ok_p99


# --------------------------------------------------------------------------- the batches


SECTIONS = ["shoes", "jackets", "trousers", "bags", "socks", "hats", "gloves", "tents"]
FIELDS = ["email", "first-name", "last-name", "street", "postcode", "city", "phone", "card-number",
          "card-expiry", "card-cvc", "coupon", "company", "vat-id", "delivery-note"]
ERRORS = [
    ("email", "invalid", "Please enter a valid e-mail address."),
    ("postcode", "invalid", "The postcode must have 5 digits."),
    ("card-number", "aria", "The card number is incomplete."),
    ("card-expiry", "marked", "The card has expired."),
    ("phone", "invalid", "Please enter a phone number."),
    ("", "submit", "Please correct the marked fields."),
]
CURRENCIES = ["EUR", "EUR", "EUR", "USD", "GBP", "SEK"]
EVENTS_PER_BATCH = list(range(1, 11))
EVENTS_WEIGHTS = [30, 18, 12, 9, 7, 6, 5, 5, 4, 4]  # most batches are small, as the snippet sends them
VISITS, VISITS_WEIGHTS = [0, 1, 2, 3, 5], [70, 15, 7, 5, 3]  # earlier views of the same page
# Who visits a shop: most browse, some shop, a few struggle with a form. Each persona draws
# the events after a batch's optional page view from its own weights.
PERSONAS = {
    # name: (share of visitors, chance a batch starts a new page view, event weights)
    "browser": (0.70, 0.40, {"dwell": 45, "hb": 45, "cart": 10}),
    "shopper": (0.20, 0.30, {"dwell": 30, "hb": 25, "field": 25, "cart": 18, "err": 2}),
    "struggler": (0.10, 0.25, {"dwell": 20, "hb": 15, "field": 40, "err": 20, "cart": 5}),
}


def _id(rng: random.Random, n: int = 16) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(n))


def _page(rng: random.Random) -> tuple[str, str]:
    section = rng.choice(SECTIONS)
    roll = rng.random()
    if roll < 0.15:
        return "https://shop.example/", "Outdoor Shop – Home"
    if roll < 0.40:
        return f"https://shop.example/c/{section}?page={rng.randint(1, 5)}", f"{section.title()} | Outdoor Shop"
    if roll < 0.75:
        n = rng.randint(100, 999)
        return (f"https://shop.example/p/{section}/trail-{section}-{n}?colour=blue&size=42",
                f"Trail {section.title()} {n} – free delivery | Outdoor Shop")
    if roll < 0.85:
        return "https://shop.example/cart", "Your cart | Outdoor Shop"
    step = rng.choice(["address", "shipping", "payment", "review"])
    return f"https://shop.example/checkout/{step}", f"Checkout – {step} | Outdoor Shop"


def _event(rng: random.Random, kind: str, persona: str) -> dict[str, Any]:
    ev: dict[str, Any] = {"t": kind}
    if kind == "dwell":
        ev["ms"] = rng.randint(200, 12_000)
    elif kind == "field":
        ev["name"] = rng.choice(FIELDS)
        ev["ms"] = rng.randint(300, 25_000 if persona == "struggler" else 8_000)
    elif kind == "err":
        name, err_kind, msg = rng.choice(ERRORS)
        ev.update(field=name, kind=err_kind, msg=msg)
    elif kind == "cart":
        ev.update(value=round(min(rng.lognormvariate(4.0, 0.8), 5000.0), 2), currency=rng.choice(CURRENCIES))
    return ev


def make_batches(count: int, visitors: int, seed: int) -> list[tuple[int, bytes]]:
    """``count`` batches from ``visitors`` visitors, each a page view's worth of events as the
    snippet queues them: (number of events, JSON body). Every visitor has at least one."""
    rng = random.Random(seed)
    names = list(PERSONAS)
    people = [(_id(rng, rng.randint(16, 24)), rng.choices(names, [PERSONAS[n][0] for n in names])[0])
              for _ in range(visitors)]
    state: dict[str, dict[str, Any]] = {}
    out = []
    ts = 1_767_225_600_000
    for i in range(count):
        vid, persona = people[i] if i < visitors else rng.choice(people)
        _, new_page, weights = PERSONAS[persona]
        st = state.get(vid)
        n = rng.choices(EVENTS_PER_BATCH, EVENTS_WEIGHTS)[0]
        events: list[dict[str, Any]] = []
        ts += rng.randint(1, 3000)
        if st is None or rng.random() < new_page:
            url, title = _page(rng)
            st = state[vid] = {"pid": _id(rng, 16), "pages": (st or {}).get("pages", 0) + 1}
            ref = "https://www.search.example/?q=outdoor+shop" if st["pages"] == 1 else "https://shop.example/"
            events.append({"t": "pv", "url": url, "title": title, "ref": ref,
                           "visits": rng.choices(VISITS, VISITS_WEIGHTS)[0], "ts": ts - 500})
        kinds = rng.choices(list(weights), list(weights.values()), k=n - len(events))
        events.extend({**_event(rng, kind, persona), "ts": ts + k * 137} for k, kind in enumerate(kinds))
        body = {"v": 1, "site": "SITE_KEY", "vid": vid, "pid": st["pid"], "consent": True, "events": events}
        out.append((len(events), json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()))
    return out


def event_mix(batches: list[tuple[int, bytes]]) -> str:
    kinds: Counter = Counter()
    for _, body in batches:
        kinds.update(ev["t"] for ev in json.loads(body)["events"])
    total = sum(kinds.values())
    return ", ".join(f"{kind} {n / total:.0%}" for kind, n in kinds.most_common())


def with_site(batches: list[tuple[int, bytes]], site: str) -> list[tuple[int, bytes]]:
    return [(n, body.replace(b'"site":"SITE_KEY"', b'"site":' + json.dumps(site).encode(), 1)) for n, body in batches]

# --------------------------------------------------------------------------- results


@dataclass
class Result:
    requests: int = 0
    events: int = 0
    seconds: float = 0.0
    latencies_us: Counter = field(default_factory=Counter)  # latency (µs) -> count
    codes: Counter = field(default_factory=Counter)
    socket_errors: dict[str, int] = field(default_factory=dict)
    unfinished: int = 0  # open loop: still outstanding when the phase ended (latency is a lower bound)
    # open loop: due -> written (the client's own lag, or no connection was free)
    lag_us: Counter = field(default_factory=Counter)
    note: str = ""
    other_cpu: float = 0.0  # % of one core used by other processes during the phase

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def eps(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def pct(self, p: float, hist: Counter | None = None) -> float:
        """Nearest-rank percentile in ms."""
        hist = self.latencies_us if hist is None else hist
        total = sum(hist.values())
        if not total:
            return float("nan")
        rank = max(1, -(-total * p // 100))
        seen = 0
        for value in sorted(hist):
            seen += hist[value]
            if seen >= rank:
                return value / 1000
        return max(hist) / 1000

    def check(self, what: str) -> None:
        bad = {code: n for code, n in self.codes.items() if not 200 <= code <= 299}
        errors = {k: v for k, v in self.socket_errors.items() if v}
        if bad or errors or not self.requests:
            raise BenchError(f"{what}: {self.requests} responses, non-2xx {bad or 'none'}, "
                             f"socket errors {errors or 'none'}; a benchmark of errors is worthless")


# --------------------------------------------------------------------------- closed loop: wrk

WRK_LUA = r"""
-- Written by scripts/bench/collector.py. Varies the bodies, counts every status and dumps
-- the latency histogram (wrk applies its coordinated-omission correction to it; the
-- Python side undoes that).
local reqs, nevents, idx = {}, {}, 0
local threads = {}
sent, sent_events, codes = 0, 0, {}

function setup(thread)
  thread:set("thread_no", #threads)
  threads[#threads + 1] = thread
end

function init(args)
  local headers = {["Content-Type"] = "text/plain;charset=UTF-8", ["Origin"] = os.getenv("BENCH_ORIGIN")}
  for line in io.lines(os.getenv("BENCH_BODIES")) do
    local n, body = line:match("^(%d+)\t(.*)$")
    nevents[#nevents + 1] = tonumber(n)
    reqs[#reqs + 1] = wrk.format("POST", nil, headers, body)
  end
  idx = (thread_no * 7919) % #reqs
end

function request()
  idx = idx % #reqs + 1
  sent = sent + 1
  sent_events = sent_events + nevents[idx]
  return reqs[idx]
end

function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
  local total, total_events, all = 0, 0, {}
  for _, t in ipairs(threads) do
    total = total + t:get("sent")
    total_events = total_events + t:get("sent_events")
    for code, n in pairs(t:get("codes")) do all[code] = (all[code] or 0) + n end
  end
  local f = assert(io.open(os.getenv("BENCH_HIST"), "w"))
  for i = 1, #latency do
    local v, c = latency(i)
    f:write(string.format("%d %d\n", v, c))
  end
  f:close()
  local parts = {}
  for code, n in pairs(all) do parts[#parts + 1] = string.format('"%d":%d', code, n) end
  local e = summary.errors
  io.write(string.format('BENCH {"requests":%d,"duration_us":%d,"sent":%d,"sent_events":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"wrk_p50_us":%d,"wrk_p99_us":%d,"codes":{%s}}\n',
    summary.requests, summary.duration, total, total_events,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), table.concat(parts, ",")))
end
"""


def undo_wrk_correction(hist: dict[int, int], expected: int) -> Counter:
    """wrk 4 "corrects" its latency histogram for coordinated omission before done() sees it:
    every recorded value n >= 2*expected also adds a synthetic sample at n - k*expected for
    each k while that is > expected (stats_correct in wrk's stats.c). Those samples are not
    measurements; remove them, largest value first."""
    raw: Counter = Counter()
    carried: dict[int, int] = {}  # m -> sum of raw[m + k*expected], k >= 1
    for m in sorted(hist, reverse=True):
        extra = 0
        if expected > 0 and m > expected:
            extra = raw.get(m + expected, 0) + carried.get(m + expected, 0)
        if extra:
            carried[m] = extra
        count = hist[m] - extra
        if count < 0:
            raise BenchError("wrk's latency histogram does not match its correction; cannot undo it")
        if count:
            raw[m] = count
    return raw


def run_wrk(wrk: str, url: str, seconds: int, connections: int, threads: int, work: Path) -> tuple[Result, dict]:
    hist_path = work / "wrk-hist.txt"
    env = {
        **os.environ,
        "BENCH_BODIES": str(work / "bodies.txt"),
        "BENCH_ORIGIN": ORIGIN,
        "BENCH_HIST": str(hist_path),
    }
    cmd = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
           "-s", str(work / "bench.lua"), url + PATH]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=seconds + 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCH ")), None)
    if proc.returncode != 0 or line is None:
        raise BenchError(f"wrk failed (exit {proc.returncode}):\n{out}\n{err}")
    summary = json.loads(line[6:])
    hist: dict[int, int] = {}
    for row in hist_path.read_text().split("\n"):
        if row:
            value, count = row.split()
            hist[int(value)] = int(count)
    complete = summary["requests"]
    expected = summary["duration_us"] // (complete // connections) if complete // connections else 0
    raw = undo_wrk_correction(hist, expected)
    recorded = complete - summary["errors"]["timeout"]
    if sum(raw.values()) != recorded:
        raise BenchError(f"wrk's histogram holds {sum(raw.values())} samples after undoing its correction, "
                         f"expected {recorded}")
    res = Result(requests=complete, seconds=summary["duration_us"] / 1e6, latencies_us=raw,
                 codes=Counter({int(k): v for k, v in summary["codes"].items()}))
    # events of the responses: the requests sent, scaled to those that completed in time
    res.events = round(summary["sent_events"] * complete / summary["sent"]) if summary["sent"] else 0
    res.socket_errors = {k: v for k, v in summary["errors"].items() if k != "status"}
    if sum(res.codes.values()) != complete:
        res.socket_errors["responses without a status seen by the script"] = complete - sum(res.codes.values())
    res.note = (f"wrk's own p50/p99, with its synthetic samples: {fmt_ms(summary['wrk_p50_us'] / 1000)}/"
                f"{fmt_ms(summary['wrk_p99_us'] / 1000)} ms (measured: {fmt_ms(res.pct(50))}/{fmt_ms(res.pct(99))})")
    return res, summary


def ensure_wrk() -> str | None:
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if not apt:
        return None
    print("bench: installing wrk with apt-get", file=sys.stderr)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run([*sudo, apt, "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL, timeout=300)
        subprocess.run([*sudo, apt, "install", "-y", "-qq", "--no-install-recommends", "wrk"], check=True, env=env,
                       stdout=subprocess.DEVNULL, timeout=300)
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"bench: could not install wrk ({exc})", file=sys.stderr)
        return None
    return shutil.which("wrk")


# --------------------------------------------------------------------------- open (and closed) loop: asyncio


async def read_status(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            raise BenchError("unexpected chunked response")
    if length:
        await reader.readexactly(length)
    return status


def build_requests(batches: list[tuple[int, bytes]], port: int) -> list[bytes]:
    head = (f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/plain;charset=UTF-8\r\n"
            f"Origin: {ORIGIN}\r\nUser-Agent: beckon-bench\r\n")
    return [f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body for _, body in batches]


async def drive(port: int, batches: list[tuple[int, bytes]], seconds: float, connections: int,
                rate: float | None) -> Result:
    """``rate`` None: closed loop, each connection sends its next request when the last is
    answered. Otherwise open loop: request i is due at start + i/rate, whatever the answers
    so far; it waits for a free connection if none is, and its latency counts from when it
    was due."""
    loop = asyncio.get_running_loop()
    reqs = build_requests(batches, port)
    nevents = [n for n, _ in batches]
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]
    res = Result(socket_errors={"connection": 0})
    lat, lag = res.latencies_us, res.lag_us
    queue: asyncio.Queue = asyncio.Queue()
    pending: dict[int, float] = {}  # open loop: due time of requests not answered yet
    start = time.monotonic() + 0.05
    end = start + seconds
    counter = iter(range(10**12))
    in_window = events = 0

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal in_window, events
        while True:
            if rate is None:
                now = time.monotonic()
                if now >= end:
                    return
                if now < start:
                    await asyncio.sleep(start - now)
                i = next(counter)
                due = time.monotonic()
            else:
                item = await queue.get()
                if item is None:
                    return
                i, due = item
                lag[int((time.monotonic() - due) * 1e6)] += 1
            k = i % len(reqs)
            writer.write(reqs[k])
            try:
                status = await read_status(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                res.socket_errors["connection"] += 1
                pending.pop(i, None)
                return
            done = time.monotonic()
            pending.pop(i, None)
            lat[int((done - due) * 1e6)] += 1
            res.codes[status] += 1
            if done <= end:
                in_window += 1
                events += nevents[k]

    def enqueue(items: list[tuple[int, float]] | None) -> None:
        if items is None:
            for _ in conns:
                queue.put_nowait(None)
            return
        for i, due in items:
            pending[i] = due
            queue.put_nowait((i, due))

    def producer() -> None:
        """A thread: time.sleep() wakes within ~0.1 ms, the event loop's timers only to the
        millisecond, and every late wake-up would count as latency."""
        assert rate is not None
        total = int(rate * seconds)
        i = 0
        while i < total and not stopping.is_set():
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            now = time.monotonic()
            items = []
            while i < total and start + i / rate <= now:
                items.append((i, start + i / rate))
                i += 1
            loop.call_soon_threadsafe(enqueue, items)
        loop.call_soon_threadsafe(enqueue, None)

    tasks = [asyncio.create_task(worker(r, w)) for r, w in conns]
    stopping = threading.Event()
    thread = threading.Thread(target=producer, daemon=True) if rate is not None else None
    if thread:
        thread.start()
    drain = min(10.0, max(2.0, seconds / 2))
    try:
        _, late = await asyncio.wait(tasks, timeout=end + drain - time.monotonic())
    finally:
        stopping.set()
        if thread:
            thread.join()
    cutoff = time.monotonic()
    for task in late:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if not task.cancelled() and task.exception():
            raise task.exception()  # type: ignore[misc]
    for due in pending.values():  # never answered: latency at least this long
        lat[int((cutoff - due) * 1e6)] += 1
    res.unfinished = len(pending)
    for _, writer in conns:
        writer.close()
    res.requests, res.events, res.seconds = in_window, events, seconds
    return res


def run_python(port: int, batches: list[tuple[int, bytes]], seconds: float, connections: int,
               rate: float | None) -> Result:
    gc_was = gc.isenabled()
    gc.disable()  # a collection in the client would show as the server's latency
    try:
        return asyncio.run(drive(port, batches, seconds, connections, rate))
    finally:
        if gc_was:
            gc.enable()

# --------------------------------------------------------------------------- arguments


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = parser(__doc__, max_seconds=600)
    p.add_argument("--seconds", type=int, default=20, help="length of each of the four measured phases")
    p.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load before each app's closed loop")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (both apps)")
    p.add_argument("--connections", type=int, default=64, help="keep-alive connections (both loops, both apps)")
    p.add_argument("--rate", type=float, default=1000.0, help="requests/s of the open loop")
    p.add_argument("--visitors", type=int, default=5000, help="distinct visitor ids")
    p.add_argument("--batches", type=int, default=20000, help="distinct bodies, sent round robin")
    p.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (the machine is shared with the server)")
    p.add_argument("--loadgen", choices=["wrk", "python"], default="wrk",
                   help="closed-loop load generator; wrk is installed with apt-get when missing")
    args = parse(p, argv, QUICK)
    if args.seconds < 1 or args.connections < 1 or args.workers < 1 or args.rate <= 0 or args.warmup < 0:
        p.error("--seconds, --connections, --workers and --rate must be positive")
    if args.batches < args.visitors:
        p.error("--batches must be at least --visitors")
    return args


if __name__ == "__main__":
    args = parse_args(None)
    wrk = ensure_wrk() if args.loadgen == "wrk" else None
    if args.loadgen == "wrk" and not wrk:
        print("bench: wrk is not available; install it or use --loadgen python", file=sys.stderr)
        sys.exit(2)
    sys.exit(main("bench/collector", args, measure(args, wrk), report))
