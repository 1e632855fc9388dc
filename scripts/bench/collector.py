"""Collector benchmark: the real ``POST /v1/events`` against the stack's ceiling.

Starts a private redis-server and, one after the other, two uvicorn servers with the same
settings: (a) ``scripts/bench/bare_app.py``, a Starlette endpoint that reads the body and
answers 204, and (b) the collector (``backend.app:create_app``) with a site, rate limits
raised so nothing is throttled, and its load gate effectively off (``lib.GATE_OFF``: at
saturation on a busy machine it would turn some batches away with 503, and what is measured
here is what a batch costs; chat.py measures the gate). Both are driven over loopback with the same realistic batches
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

The batches come from visitor personas (browsers, shoppers, a few strugglers with forms,
``lib.make_batches``); how many visitors the collector ends up scoring as needing assistance
is printed, since that share changes its cost. As pages do, every batch presents its
visitor's token (which the collector answers with offers and ``watch``, and only then): before
the warm-up, each visitor's first batch is sent once to get it (setup, not measured). The bare
endpoint gets the same bodies, with made-up tokens of the same length.

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
import os
import secrets
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

from scripts.bench.lib import (  # noqa: E402
    GATE_OFF, ORIGIN, BenchError, CpuMeter, Wrk, chart, create_site, ensure_wrk, event_mix, first_batches, main,
    make_batches, parse, parser, pct_hist, run_async, say, start_redis, start_server, visitor_tokens, with_site,
    with_tokens, write_bodies,
)

PATH = "/v1/events"
BARE_APP = "scripts.bench.bare_app:create_app"
GOAL_RATIO = 0.50  # collector requests/s as a share of the bare endpoint's
GOAL_P99_MS = 25.0  # p99 at the fixed rate
QUICK = dict(seconds=2, warmup=1, visitors=500, batches=2000, max_seconds=120)


# --------------------------------------------------------------------------- the measurement


def measure(args: argparse.Namespace, wrk: str | None):
    def run(stack: contextlib.ExitStack, deadline: float, results: dict) -> None:
        batches = make_batches(args.batches, args.visitors, args.seed)
        # sizes as sent: with the site's key and a visitor token (24 characters) in each
        sized = with_tokens(with_site(batches, "x" * 16), {vid: "x" * 24 for vid, _ in first_batches(batches)})
        sizes = sorted(len(b) for _, b in sized)
        mean_events = sum(n for n, _ in batches) / len(batches)
        say(f"bench: {len(batches):,} batches from {args.visitors:,} visitors, "
            f"{mean_events:.1f} events per batch, "
            f"body {sizes[len(sizes) // 2]} B median / {sizes[-1]} B max; {args.connections} connections, "
            f"{args.workers} worker(s), {args.seconds} s per phase\nbench: events {event_mix(batches)}")
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="beckon-bench-")))
        redis = start_redis(stack)
        bare = run_app("bare", 1, args, redis, batches, work, wrk, stack)
        collector = run_app("collector", 3, args, redis, batches, work, wrk, stack)
        results.update(bare=bare, collector=collector, args=args)  # both or nothing: report compares them
    return run


def run_app(app: str, no: int, args: argparse.Namespace, redis: Any, batches: list[tuple[int, bytes]],
            work: Path, wrk: str | None, stack: contextlib.ExitStack) -> dict[str, Result]:
    """The two phases against one app, on its own server, stopped before the next app starts."""
    if app == "collector":
        server = start_server(stack, redis.url, workers=args.workers, ip_per_min=10**9, visitor_per_min=10**9,
                              env=GATE_OFF)
        site = create_site(server.url)
        batches = with_site(batches, site)
        t0 = time.monotonic()
        tokens = run_async(visitor_tokens(server.url, first_batches(batches)))
        say(f"bench: {len(tokens):,} visitor tokens from each visitor's first batch in "
            f"{time.monotonic() - t0:.1f} s (setup)")
    else:
        server = start_server(stack, redis.url, factory=BARE_APP, workers=args.workers)
        site = "bench-bare-0001"
        batches = with_site(batches, site)
        tokens = {vid: secrets.token_urlsafe(18) for vid, _ in first_batches(batches)}
    batches = with_tokens(batches, tokens)
    write_bodies(work / "bodies.txt", batches)
    out: dict[str, Result] = {}

    def closed(seconds: int) -> Result:
        if wrk:
            return run_wrk(wrk, server.url, seconds, args.connections, args.wrk_threads, work)
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
    res.other_cpu, res.server_cpu = cpu.pct["other"], cpu.pct["server"]
    say(f"{fmt_int(res.rps)} req/s, {fmt_int(res.eps)} events/s, p50 {fmt_ms(res.pct(50))} ms, "
        f"p99 {fmt_ms(res.pct(99))} ms; cpu: {cpu.line()}")
    out["closed"] = res

    phase(no + 1, f"{app}: {fmt_int(args.rate)} req/s, open loop (python)")
    with meter() as cpu:
        res = run_python(server.port, batches, args.seconds, args.connections, args.rate)
    res.check(f"{app}, open loop")
    res.other_cpu, res.server_cpu = cpu.pct["other"], cpu.pct["server"]
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
    print(f"| app | req/s | events/s | p50 ms | p99 ms | server CPU µs/req | p50 ms @ {rate} rps "
          f"| p99 ms @ {rate} rps | achieved rps | server CPU µs/req @ {rate} rps |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for app in ("bare", "collector"):
        c, o = results[app]["closed"], results[app]["open"]
        unfinished = f" ({o.unfinished} unanswered)" if o.unfinished else ""
        print(
            f"| {app} | {fmt_int(c.rps)} | {fmt_int(c.eps)} | {fmt_ms(c.pct(50))} | {fmt_ms(c.pct(99))} "
            f"| {fmt_int(c.cpu_us)} | {fmt_ms(o.pct(50))} | {fmt_ms(o.pct(99))}{unfinished} | {fmt_int(o.rps)} "
            f"| {fmt_int(o.cpu_us)} |"
        )
    bare, coll = results["bare"], results["collector"]
    ratio = coll["closed"].rps / bare["closed"].rps if bare["closed"].rps else 0.0
    p99 = coll["open"].pct(99)
    ok_ratio = ratio >= GOAL_RATIO
    ok_p99 = p99 < GOAL_P99_MS and coll["open"].unfinished == 0 and coll["open"].rps >= 0.95 * args.rate
    print()
    print(f"collector/bare requests/s: {ratio:.2f} ({ratio:.0%}); server CPU per request, closed loop: "
          f"{fmt_int(coll['closed'].cpu_us)} µs (collector) / {fmt_int(bare['closed'].cpu_us)} µs (bare) = "
          f"{coll['closed'].cpu_us / bare['closed'].cpu_us:.1f}x")
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
    server_cpu: float = 0.0  # % of one core used by the server (uvicorn and its workers)

    @property
    def cpu_us(self) -> float:
        """Server CPU per answered request (µs): what a request costs, whatever else ran."""
        return self.server_cpu / 100 * self.seconds / self.requests * 1e6 if self.requests else float("nan")

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def eps(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def pct(self, p: float, hist: Counter | None = None) -> float:
        """Nearest-rank percentile in ms."""
        return pct_hist(self.latencies_us if hist is None else hist, p)

    def check(self, what: str) -> None:
        bad = {code: n for code, n in self.codes.items() if not 200 <= code <= 299}
        errors = {k: v for k, v in self.socket_errors.items() if v}
        if bad or errors or not self.requests:
            raise BenchError(f"{what}: {self.requests} responses, non-2xx {bad or 'none'}, "
                             f"socket errors {errors or 'none'}; a benchmark of errors is worthless")


# --------------------------------------------------------------------------- closed loop: wrk


def run_wrk(wrk: str, url: str, seconds: int, connections: int, threads: int, work: Path) -> Result:
    run = Wrk(wrk, url + PATH, work / "bodies.txt", seconds, connections, threads).result()
    res = Result(requests=run.requests, seconds=run.seconds, latencies_us=run.latencies_us, codes=run.codes,
                 events=run.events, socket_errors=run.errors)
    res.note = (f"wrk's own p50/p99, with its synthetic samples: {fmt_ms(run.wrk_p50_us / 1000)}/"
                f"{fmt_ms(run.wrk_p99_us / 1000)} ms (measured: {fmt_ms(res.pct(50))}/{fmt_ms(res.pct(99))})")
    return res


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
