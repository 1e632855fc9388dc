"""Chat benchmark, measurement 1: message latency across two web workers, so that every
message crosses from one worker to the other through Redis.

Two separate uvicorn processes (``--workers 1`` each, two ports, the same Redis): the
representatives' console sockets on worker A, the customers' push sockets on worker B, so each
message crosses from one worker to the other through Redis pub/sub. N chats (default 20),
then --messages rep -> customer messages sent round robin over the chats at a fixed pace (open
loop, --rate per second), then as many customer -> rep messages the same way (after --warmup
messages each way that are not counted). Also timed: the ``ack`` to the sender, the server's
own stamp (the message's ``ts``, in ms) splitting the time where the worker stored it, and a
bare Redis PUBLISH -> subscriber round trip (the floor). Goal: p95 under 50 ms. Each direction
is measured again when other processes disturbed it, keeping the least disturbed attempt.

With --cluster the store is a private 3-master Redis Cluster with a replica each (and the job
queue's own Redis). --chat-replicas 0,1 measures it once for each BECKON_CHAT_REPLICAS of the
servers, side by side: what waiting for a replica before the ack (WAIT) costs per message, in
time and in worker CPU.

The clients and the chats' setup: chat_clients.py, chat_setup.py. chat.py runs this with the
other two measurements.

    .venv/bin/python scripts/bench/chat_latency.py [--chats 20] [--messages 3000] [--rate 200]
                                                   [--warmup 100] [--cluster] [--chat-replicas 0,1]
                                                   [--max-seconds 300] [--check] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: import from the repository, not from scripts/bench/
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from scripts.bench import chat_setup  # noqa: E402
from scripts.bench.chat_clients import Sent, latencies  # noqa: E402
from scripts.bench.chat_setup import (  # noqa: E402
    GOAL_P95_MS, Bench, drain, ms, per_message, settle_gc, spread,
)
from scripts.bench.lib import (  # noqa: E402
    BenchError, CpuMeter, LagMonitor, Server, chart, cpu_line, histogram, pct, redis_pids, run_async, say,
    start_server, verdict, wait_quiet,
)

KEY = "latency"  # its results
QUICK = dict(chats=5, messages=300, rate=100, warmup=20)
LATENCY_BUCKETS = [0, 1, 2, 3, 5, 10, 20, 50, 100, 200, 500, float("inf")]


@dataclass
class LatencyResult:
    label: str = ""  # the store, and BECKON_CHAT_REPLICAS when set
    chats: int = 0
    reps: int = 0
    rate: float = 0.0
    phases: dict[str, list[Sent]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    send_lag_ms: dict[str, list[float]] = field(default_factory=dict)  # behind the pacing schedule
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)
    loop_lag_ms: list[float] = field(default_factory=list)
    pubsub_ms: list[float] = field(default_factory=list)  # bare PUBLISH -> subscriber, for the floor
    errors: list[str] = field(default_factory=list)
    server_problems: list[str] = field(default_factory=list)
    setup_s: float = 0.0
    attempts: dict[str, int] = field(default_factory=dict)
    commands: dict[str, dict[str, int]] = field(default_factory=dict)  # Redis commands while measuring

    def lost(self, direction: str) -> int:
        return sum(1 for i in self.phases.get(direction, []) if i.counted and i.arrived is None)

    def lat(self, direction: str) -> list[float]:
        return latencies(self.phases.get(direction, []), direction)

    def acks(self, direction: str) -> list[float]:
        return [(i.ack - i.t) * 1000 for i in self.phases.get(direction, []) if i.counted and i.ack is not None]

    def worker_us(self, direction: str) -> float:
        """Both workers' CPU per message (µs): the sender's worker stores it and acknowledges,
        the other delivers it."""
        cpu, n = self.cpu.get(direction, {}), len(self.lat(direction))
        used = sum(v for k, v in cpu.items() if k.startswith("worker")) / 100 * self.seconds.get(direction, 0)
        return used / n * 1e6 if n else float("nan")


async def pubsub_floor(redis_url: str, n: int = 300) -> list[float]:
    """PUBLISH from one client to a subscriber of another: Redis pub/sub with nothing around it."""
    import redis.asyncio as aioredis

    redis_url = redis_url.replace("redis+cluster://", "redis://")  # on a cluster: one node's own pub/sub
    pub = aioredis.Redis.from_url(redis_url, decode_responses=True)
    sub = aioredis.Redis.from_url(redis_url, decode_responses=True)
    ps = sub.pubsub(ignore_subscribe_messages=True)
    out: list[float] = []
    try:
        await ps.subscribe("bench:floor")
        for i in range(n):
            t = time.perf_counter()
            await pub.publish("bench:floor", str(i))
            until = time.monotonic() + 5
            while True:  # get_message() answers None for the (ignored) subscribe confirmation too
                m = await ps.get_message(timeout=1.0)
                if m is not None and m["type"] == "message":
                    break
                if time.monotonic() > until:
                    raise BenchError("a bare pub/sub message did not arrive within 5 s")
            out.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.002)
    finally:
        await ps.aclose()
        await pub.aclose()
        await sub.aclose()
    return out

@dataclass
class Phase:
    """One direction of measurement 1."""

    items: list[Sent] = field(default_factory=list)
    send_lag_ms: list[float] = field(default_factory=list)  # behind the pacing schedule
    cpu: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    loop_lag_ms: list[float] = field(default_factory=list)
    attempts: int = 1
    commands: dict[str, int] = field(default_factory=dict)


async def latency_phase(args: argparse.Namespace, bench: Bench, direction: str, meter: CpuMeter) -> Phase:
    """--warmup + --messages messages one way, round robin over the chats, paced."""
    ph = Phase()
    chats = bench.chats
    interval = 1.0 / args.rate
    total = args.warmup + args.messages
    measured_from = time.perf_counter()
    with LagMonitor() as mon:
        start = time.perf_counter()
        for n in range(total):
            if n == args.warmup:
                commands = await bench.command_counts()
                meter.start()
                measured_from = time.perf_counter()
            due = start + n * interval
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
            counted = n >= args.warmup
            if counted:
                ph.send_lag_ms.append(max(0.0, (time.perf_counter() - due) * 1000))
            chat = chats[n % len(chats)]
            if direction == "r2c":
                ph.items.append(await chat.rep.say(chat.id, counted))
            else:
                ph.items.append(await chat.customer.say(counted))
            done = n + 1 - args.warmup
            if counted and done % max(args.messages // 5, 1) == 0:
                got = latencies(ph.items, direction)
                say(f"    {done:>6,} sent  {time.perf_counter() - measured_from:5.1f} s  "
                    f"p50 {ms(pct(got, 50))} ms  p95 {ms(pct(got, 95))} ms  max {ms(max(got or [0]))} ms")
        await drain(bench.tracker, ph.items, 5)
        ph.cpu = meter.stop()
        ph.seconds = time.perf_counter() - measured_from
        ph.commands = await bench.command_diff(commands)
    ph.loop_lag_ms = mon.samples
    return ph


async def latency_bench(args: argparse.Namespace, redis: Any, a: Server, b: Server, deadline: float,
                        label: str) -> LatencyResult:
    res = LatencyResult(label=label, chats=args.chats, rate=args.rate)
    t0 = time.monotonic()
    pids = {"worker A (console)": a.pid, "worker B (push)": b.pid, "redis": redis_pids(redis), "client": os.getpid()}
    async with Bench(redis.url, a.url, b.url, secrets.token_hex(3), getattr(redis, "queue_url", "")) as bench:
        say(f"  site {bench.site}; opening {args.chats} chats: consoles on A ({a.port}), "
            f"push sockets on B ({b.port})")
        await bench.add_chats(args.chats)
        res.reps = len(bench.reps)
        res.setup_s = time.monotonic() - t0
        say(f"  {len(bench.chats)} chats open with {res.reps} rep(s) in {res.setup_s:.1f} s")
        await asyncio.sleep(1.0)
        settle_gc()
        meter = CpuMeter(pids)
        for direction, label in (("r2c", "rep -> customer"), ("c2r", "customer -> rep")):
            best: Phase | None = None
            for attempt in range(1, args.retries + 2):
                await wait_quiet(pids, args.quiet_below, args.quiet_wait)
                say(f"  {label}{f' (attempt {attempt})' if attempt > 1 else ''}: {args.warmup} warm-up + "
                    f"{args.messages:,} messages at {args.rate:g}/s over {len(bench.chats)} chats")
                ph = await latency_phase(args, bench, direction, meter)
                ph.attempts = attempt
                lat = latencies(ph.items, direction)
                lost = sum(1 for i in ph.items if i.counted and i.arrived is None)
                say(f"    done: p50 {ms(pct(lat, 50))} ms, p95 {ms(pct(lat, 95))} ms, p99 {ms(pct(lat, 99))} ms, "
                    f"max {ms(max(lat or [float('nan')]))} ms; lost {lost}; CPU (% of one core) "
                    + ", ".join(f"{k} {v:.0f}%" for k, v in ph.cpu.items()))
                if best is None or ph.cpu["other"] < best.cpu["other"]:
                    best = ph
                disturbed = ph.cpu["other"] >= args.disturbed
                if not disturbed or attempt > args.retries:
                    break
                if time.monotonic() + args.messages / args.rate + args.quiet_wait + 10 > deadline:
                    say("    (no time left to measure again)")
                    break
                say(f"    disturbed: other processes used {ph.cpu['other']:.0f}% of a core meanwhile; "
                    f"measuring again")
            assert best is not None
            if best.attempts != ph.attempts:
                say(f"    kept attempt {best.attempts}, the least disturbed ({best.cpu['other']:.0f}%)")
            res.phases[direction] = best.items
            res.send_lag_ms[direction] = best.send_lag_ms
            res.cpu[direction] = best.cpu
            res.seconds[direction] = best.seconds
            res.attempts[direction] = best.attempts
            res.commands[direction] = best.commands
            res.loop_lag_ms += best.loop_lag_ms
            await asyncio.sleep(0.5)
        res.errors = list(bench.tracker.errors)
    gc.unfreeze()
    res.pubsub_ms = await pubsub_floor(redis.url)
    res.server_problems = a.problems() + b.problems()
    return res


def run_latency(args: argparse.Namespace, redis: Any, stack: contextlib.ExitStack, deadline: float,
                replicas: int | None = None) -> LatencyResult:
    """``replicas``: the servers' BECKON_CHAT_REPLICAS (None: their default)."""
    label = ("Redis Cluster" if args.cluster else "one Redis") + \
        (f", BECKON_CHAT_REPLICAS={replicas}" if replicas is not None else "")
    say(f"\n## 1. rep -> customer latency across two web workers ({label})")
    secret = secrets.token_urlsafe(24)
    env = {**({"BECKON_QUEUE_URL": redis.queue_url} if args.cluster else {}),
           **({"BECKON_CHAT_REPLICAS": str(replicas)} if replicas is not None else {})}
    say("  starting uvicorn A (console) and uvicorn B (push), one worker each, same Redis")
    a = start_server(stack, redis.url, secret=secret, ip_per_min=10_000_000, env=env)
    b = start_server(stack, redis.url, secret=secret, ip_per_min=10_000_000, env=env)
    say(f"  worker A pid {a.pid}, worker B pid {b.pid}, redis pid(s) {', '.join(map(str, redis_pids(redis)))}")
    try:
        return run_async(latency_bench(args, redis, a, b, deadline, label))
    finally:
        a.stop()
        b.stop()


# --------------------------------------------------------------------------- report


def report_latency(lat: LatencyResult) -> bool:
    """Measurement 1's table for one run; whether it met the goal."""
    say(f"### 1. {lat.label}\n")
    r2c = lat.lat("r2c")
    met = bool(r2c) and pct(r2c, 95) < GOAL_P95_MS and lat.lost("r2c") == 0 and not lat.errors
    say(f"| two workers: console on A, push on B ({lat.chats} chats, {lat.reps} rep(s), "
        f"{lat.rate:g} messages/s) | rep -> customer | customer -> rep | goal | |")
    say("|---|---|---|---|---|")

    def row(label: str, fn: Any, goal: str = "", met_cell: str = "") -> None:
        say(f"| {label} | {fn('r2c')} | {fn('c2r')} | {goal} | {met_cell} |")

    row("**sent on one socket -> arrived on the other**, p50 / **p95** / p99 / max", lambda d: spread(lat.lat(d)),
        f"p95 < {GOAL_P95_MS:.0f} ms", verdict(met) + " (rep -> customer)")
    row("messages timed (lost)", lambda d: f"{len(lat.lat(d)):,} ({lat.lost(d)})")

    def split(d: str, part: str) -> str:
        xs = [i for i in lat.phases.get(d, []) if i.counted and i.arrived is not None and i.server_ts]
        if part == "before":
            vals = [i.server_ts - i.wall_ms for i in xs]
        else:
            vals = [(i.arrived - i.t) * 1000 - (i.server_ts - i.wall_ms) for i in xs]
        return f"{ms(pct(vals, 50))} / {ms(pct(vals, 95))} ms"

    row("- sent -> stamped by the worker (frame read, chat looked up), p50 / p95 (ms clock)",
        lambda d: split(d, "before"))
    row("- stamped -> arrived (say.lua, lookup, PUBLISH, other worker, socket), p50 / p95",
        lambda d: split(d, "after"))

    row("sent -> ack on the sender's socket, p50 / p95",
        lambda d: f"{ms(pct(lat.acks(d), 50))} / {ms(pct(lat.acks(d), 95))} ms")
    row("sends behind the pacing schedule, p95", lambda d: f"{ms(pct(lat.send_lag_ms.get(d, []), 95))} ms")
    row("CPU meanwhile (% of one core)", lambda d: cpu_line(lat.cpu.get(d, {})))
    row("both workers' CPU per message (sender's stores and acks, other's delivers)",
        lambda d: f"{lat.worker_us(d):,.0f} µs")
    row("Redis commands per message (most frequent)", lambda d: per_message(lat.commands.get(d, {}),
                                                                             len(lat.lat(d))))
    row("measured (attempts: repeated when other processes disturbed it)",
        lambda d: f"{lat.seconds.get(d, 0):.1f} s ({lat.attempts.get(d, 1)})")
    say(f"| bare Redis PUBLISH -> subscriber (the floor), p50 / p95 | {ms(pct(lat.pubsub_ms, 50))} / "
        f"{ms(pct(lat.pubsub_ms, 95))} ms | | | |")
    say(f"| client event-loop lag, p50 / p99 | {ms(pct(lat.loop_lag_ms, 50))} / "
        f"{ms(pct(lat.loop_lag_ms, 99))} ms | | | |")
    say(f"| errors; worker log problems | {len(lat.errors)}; {len(lat.server_problems)} | | 0 | |")
    say("")
    return met


def report_replicas(lats: list[LatencyResult]) -> None:
    """Runs of measurement 1 side by side (e.g. BECKON_CHAT_REPLICAS 0 and 1): what the wait costs."""
    say("| measurement 1, side by side | " + " | ".join(lat.label for lat in lats) + " |")
    say("|---|" + "---:|" * len(lats))
    for d, name in (("r2c", "rep -> customer"), ("c2r", "customer -> rep")):
        say(f"| {name}: sent -> arrived, p50 / p95 / p99 | " + " | ".join(
            f"{ms(pct(lat.lat(d), 50))} / {ms(pct(lat.lat(d), 95))} / {ms(pct(lat.lat(d), 99))} ms" for lat in lats)
            + " |")
        say(f"| {name}: sent -> ack, p50 / p95 | " + " | ".join(
            f"{ms(pct(lat.acks(d), 50))} / {ms(pct(lat.acks(d), 95))} ms" for lat in lats) + " |")
        say(f"| {name}: both workers' CPU per message | " + " | ".join(
            f"{lat.worker_us(d):,.0f} µs" for lat in lats) + " |")
        say(f"| {name}: Redis commands per message | " + " | ".join(
            per_message(lat.commands.get(d, {}), len(lat.lat(d))) for lat in lats) + " |")
    say("| other processes (% of one core) | " + " | ".join(
        "; ".join(f"{lat.cpu.get(d, {}).get('other', float('nan')):.0f}%" for d in ("r2c", "c2r")) for lat in lats)
        + " |")
    say("")
    say("```")
    say(chart("1. rep -> customer p95 (ms)", [(lat.label, pct(lat.lat("r2c"), 95)) for lat in lats], "ms",
              fmt="{:,.2f}"))
    say("")
    say(chart("1. both workers' CPU per message, rep -> customer (µs)",
              [(lat.label, lat.worker_us("r2c")) for lat in lats], "µs", fmt="{:,.0f}"))
    say("```")
    say("")



def table(lats: list[LatencyResult] | None) -> bool:
    """Each run's table, and the runs side by side when there are several; whether all met the goal."""
    ok = True
    for lat in lats or []:
        ok &= report_latency(lat)
    if lats and len(lats) > 1:
        report_replicas(lats)
    return ok


def chart_lines(lats: list[LatencyResult] | None) -> list[str]:
    """Each run's latency and its distribution, for the report's code block."""
    lines: list[str] = []
    for lat in [lat for lat in lats or [] if lat.lat("r2c")]:
        rows = []
        for d, name in (("r2c", "rep->cust"), ("c2r", "cust->rep")):
            v = lat.lat(d)
            if v:
                rows += [(f"{name} p50", pct(v, 50)), (f"{name} p95", pct(v, 95)), (f"{name} p99", pct(v, 99)),
                         (f"{name} max", max(v))]
        rows += [("bare pub/sub p50", pct(lat.pubsub_ms, 50))]
        lines += [chart(f"1. message latency across two workers ({lat.label})", rows, "ms", goal=GOAL_P95_MS,
                        fmt="{:,.2f}"), "",
                  chart(f"1. rep -> customer: messages per bucket ({len(lat.lat('r2c')):,})",
                        histogram(lat.lat("r2c"), LATENCY_BUCKETS), "msgs", width=40, fmt="{:,.0f}"), ""]
    return lines


def problems(lats: list[LatencyResult] | None) -> None:
    for lat in lats or []:
        for e in lat.errors[:10]:
            say(f"- latency run ({lat.label}): {e}")
        for p in lat.server_problems[:10]:
            say(f"- latency run ({lat.label}), worker log: {p}")


def others(lats: list[LatencyResult] | None) -> list[float]:
    """What other processes used during each direction (% of one core)."""
    return [c.get("other", 0) for lat in lats or [] for c in lat.cpu.values()]


# --------------------------------------------------------------------------- arguments, the run


def describe(args: argparse.Namespace) -> str:
    return f"1: {args.chats} chats, {args.messages:,} messages each way at {args.rate:g}/s"


def most(args: argparse.Namespace) -> int:
    return args.chats


def run(args: argparse.Namespace, redis: Any, stack: contextlib.ExitStack, deadline: float,
        results: dict[str, Any]) -> None:
    """Measurement 1 into results["latency"], once for each --chat-replicas (or once)."""
    results["latency"] = []
    for replicas in args.chat_replicas or [None]:
        results["latency"].append(run_latency(args, redis, stack, deadline, replicas))


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--chats", type=int, default=20, help="1: chats the messages are spread over")
    p.add_argument("--messages", type=int, default=3000, help="1: messages timed in each direction")
    p.add_argument("--rate", type=float, default=200, help="1: messages per second (paced, open loop)")
    p.add_argument("--warmup", type=int, default=100, help="1: messages sent first and not counted")
    p.add_argument("--cluster", action="store_true",
                   help="1 on a private 3-master Redis Cluster with a replica each (2 and 3 are skipped)")
    p.add_argument("--chat-replicas", default="",
                   help="1: once for each BECKON_CHAT_REPLICAS of the servers, e.g. 0,1 (default: theirs)")


def check(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    try:
        args.chat_replicas = [int(x) for x in args.chat_replicas.split(",") if x.strip()]
    except ValueError:
        p.error("--chat-replicas: whole numbers separated by commas")
    if args.chats < 1 or args.messages < 1 or args.rate <= 0 or args.warmup < 0:
        p.error("--chats, --messages and --rate must be positive")


if __name__ == "__main__":
    sys.exit(chat_setup.run_alone("bench/chat_latency", sys.modules[__name__], max_seconds=300))
