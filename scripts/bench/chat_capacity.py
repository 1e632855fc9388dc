"""Chat benchmark, measurement 2: how many concurrent chats one web worker holds within the
goal, and what they cost it in CPU and memory.

One uvicorn worker holds both sides (still through Redis pub/sub). K chats, at most 20 per
representative (the largest capacity a rep may have), each rep with a console session of its
own (and a presence heartbeat every 10 s); every chat carries one message every --every
seconds, alternately from the rep and from the customer, each chat at its own phase. K grows
in steps (--steps, default 100, 250, 500, 1000, 1500, 2000; the chats of one step stay for
the next), each step measured for --step-seconds after a short warm-up, until a step misses
the goal (p95 over 50 ms either way, any error, a lost message, a dropped socket) or time runs
out. A step that missed the goal while other processes disturbed it is measured again.
Reported: the largest K that met the goal, and per step the worker's CPU and VmRSS, Redis's
and the client's CPU, and the Redis commands run per chat message (INFO commandstats).

The clients and the chats' setup: chat_clients.py, chat_setup.py. chat.py runs this with the
other two measurements.

    .venv/bin/python scripts/bench/chat_capacity.py [--steps 100,250,500,1000,1500,2000] [--every 3]
                                                    [--step-seconds 20] [--max-seconds 600]
                                                    [--check] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import os
import random
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: import from the repository, not from scripts/bench/
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from scripts.bench import chat_setup  # noqa: E402
from scripts.bench.chat_clients import latencies  # noqa: E402
from scripts.bench.chat_setup import (  # noqa: E402
    CAPACITY, GOAL_P95_MS, Bench, drain, ms, per_message, run_load, settle_gc, spread,
    worse_p95,
)
from scripts.bench.lib import (  # noqa: E402
    BenchError, CpuMeter, LagMonitor, Server, chart, fd_limit, pct, rss_mb, run_async, say, start_server, verdict,
    wait_quiet,
)

KEY = "capacity"  # its results
QUICK = dict(steps="20,60", every=1.0, warm_seconds=1.0, step_seconds=3.0)


@dataclass
class Step:
    chats: int
    reps: int = 0
    setup_s: float = 0.0
    seconds: float = 0.0
    sent: int = 0
    lat: dict[str, list[float]] = field(default_factory=dict)
    lost: int = 0
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    rss_mb: float = float("nan")
    loop_lag_ms: list[float] = field(default_factory=list)
    send_late_ms: list[float] = field(default_factory=list)
    stopped: str = ""
    attempts: int = 1
    commands: dict[str, int] = field(default_factory=dict)
    rss_before_mb: float = float("nan")
    rss_logins_mb: float = float("nan")
    new_chats: int = 0
    dropped: int = 0  # sockets the server closed

    @property
    def p95(self) -> float:
        return worse_p95(self.lat)

    @property
    def ok(self) -> bool:
        return not self.stopped and not self.errors and self.lost == 0 and self.p95 < GOAL_P95_MS

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else float("nan")


@dataclass
class CapacityResult:
    steps: list[Step] = field(default_factory=list)
    every: float = 0.0
    rss_idle_mb: float = float("nan")
    server_problems: list[str] = field(default_factory=list)
    reason: str = ""

    @property
    def best(self) -> int:
        best = 0
        for s in self.steps:
            if not s.ok:
                break
            best = s.chats
        return best



async def measure_step(args: argparse.Namespace, bench: Bench, step: Step, meter: CpuMeter, pid: int,
                       rng: random.Random) -> None:
    """Load every open chat for --warm-seconds + --step-seconds; fill in the step's numbers."""
    errors_before = len(bench.tracker.errors)
    with LagMonitor() as mon:
        load = asyncio.create_task(run_load(bench, args.every, args.warm_seconds, args.step_seconds, rng))
        await asyncio.sleep(args.warm_seconds)
        commands = await bench.command_counts()
        meter.start()
        items, late, window = await load
        await drain(bench.tracker, items, 5)
        step.cpu = meter.stop()
        step.commands = await bench.command_diff(commands)
    step.rss_mb = rss_mb(pid)
    step.loop_lag_ms = mon.samples
    step.send_late_ms = late
    step.seconds = window
    counted = [i for i in items if i.counted]
    step.sent = len(counted)
    step.lat = {d: latencies(counted, d) for d in ("r2c", "c2r")}
    lost = [i for i in counted if i.arrived is None]
    step.lost = len(lost)
    step.errors = bench.tracker.errors[errors_before:] + [
        f"lost: {i.cid} in chat {i.chat}, sent {i.t - items[0].t:.2f} s into the load, "
        f"{'acknowledged' if i.ack is not None else 'never acknowledged'}" for i in lost[:5]]
    bench.tracker.sent.clear()  # the tracker would otherwise grow for the whole run
    r2c, c2r = step.lat["r2c"], step.lat["c2r"]
    say(f"    rep->customer p50 {ms(pct(r2c, 50))} / p95 {ms(pct(r2c, 95))} / max "
        f"{ms(max(r2c or [float('nan')]))} ms; customer->rep p50 {ms(pct(c2r, 50))} / p95 "
        f"{ms(pct(c2r, 95))} ms; {step.sent:,} messages ({step.rate:,.0f}/s), lost {step.lost}, "
        f"errors {len(step.errors)}")
    say(f"    CPU (% of one core): worker {step.cpu['worker']:.0f}%, redis {step.cpu['redis']:.0f}%, "
        f"client {step.cpu['client']:.0f}%, other {step.cpu['other']:.0f}%; worker VmRSS "
        f"{step.rss_mb:.1f} MB; client loop lag p99 {ms(pct(step.loop_lag_ms, 99))} ms")
    for e in step.errors[:5]:
        say(f"    ! {e}")


async def capacity_bench(args: argparse.Namespace, redis_url: str, server: Server,
                         redis_pid: int, deadline: float) -> CapacityResult:
    res = CapacityResult(every=args.every)
    rng = random.Random(args.seed)
    pids = {"worker": server.pid, "redis": redis_pid, "client": os.getpid()}
    meter = CpuMeter(pids)
    async with Bench(redis_url, server.url, server.url, secrets.token_hex(3)) as bench:
        res.rss_idle_mb = rss_mb(server.pid)
        say(f"  site {bench.site}; worker VmRSS {res.rss_idle_mb:.1f} MB with no chats")
        for k in args.steps:
            one_try = args.warm_seconds + args.step_seconds + 8
            needed = one_try + (k - len(bench.chats)) * 0.02
            if time.monotonic() + needed > deadline:
                res.reason = f"stopped before {k:,} chats: not enough time left (--max-seconds)"
                say(f"  {res.reason}")
                break
            gc.unfreeze()
            chats_before = len(bench.chats)
            say(f"  step {k:,} chats: opening {k - len(bench.chats):,} more "
                f"({math.ceil(k / CAPACITY) - len(bench.reps)} more reps)")
            t = time.monotonic()
            errors_before = len(bench.tracker.errors)
            rss_before = rss_mb(server.pid)
            try:
                await bench.add_reps(math.ceil(k / CAPACITY), connect=False)
                rss_logins = rss_mb(server.pid)
                await bench.add_chats(k, accept_in_console=False)
            except (BenchError, asyncio.TimeoutError, OSError) as exc:
                step = Step(chats=k, stopped=f"setup failed: {type(exc).__name__}: {exc}",
                            errors=bench.tracker.errors[errors_before:])
                res.steps.append(step)
                res.reason = f"stopped at {k:,} chats: {step.stopped}"
                say(f"    {step.stopped}")
                break
            setup_s = time.monotonic() - t
            await asyncio.sleep(2.0)  # let the consoles' snapshots after the accepts go by
            settle_gc()
            say(f"    {k:,} chats, {len(bench.reps)} reps in {setup_s:.1f} s; worker VmRSS "
                f"{rss_before:.1f} MB before, {rss_logins:.1f} MB after the logins, "
                f"{rss_mb(server.pid):.1f} MB with the chats; {k / args.every:,.0f} messages/s for "
                f"{args.warm_seconds:g} + {args.step_seconds:g} s")
            best: Step | None = None
            for attempt in range(1, args.retries + 2):
                await wait_quiet(pids, args.quiet_below, args.quiet_wait)
                step = Step(chats=k, reps=len(bench.reps), setup_s=setup_s, attempts=attempt,
                            rss_before_mb=rss_before, rss_logins_mb=rss_logins, new_chats=k - chats_before)
                if attempt > 1:
                    say(f"    attempt {attempt}")
                await measure_step(args, bench, step, meter, server.pid, rng)
                if best is None or (step.ok, -step.cpu["other"]) > (best.ok, -best.cpu["other"]):
                    best = step
                step.dropped = bench.dropped()
                if step.ok or step.cpu["other"] < args.disturbed or attempt > args.retries or step.dropped:
                    break
                if time.monotonic() + one_try + args.quiet_wait > deadline:
                    say("    (no time left to measure again)")
                    break
                say(f"    missed the goal while other processes used {step.cpu['other']:.0f}% of a core; "
                    f"measuring again")
            assert best is not None
            if best is not step:
                say(f"    kept attempt {best.attempts}")
            res.steps.append(best)
            if not best.ok:
                res.reason = (f"stopped after {k:,} chats: " +
                              (f"{len(best.errors)} errors, {best.lost} lost messages, {best.dropped} sockets "
                               f"dropped by the server" if best.errors or best.lost else
                               f"p95 {ms(best.p95)} ms is over {GOAL_P95_MS:.0f} ms"))
                say(f"  {res.reason}")
                break
        else:
            res.reason = "every step met the goal; give larger --steps to find the limit"
    gc.unfreeze()
    res.server_problems = server.problems()
    return res


def run_capacity(args: argparse.Namespace, redis: Any, stack: contextlib.ExitStack,
                 deadline: float) -> CapacityResult:
    say("\n## 2. concurrent chats on one web worker")
    secret = secrets.token_urlsafe(24)
    say("  starting uvicorn (one worker: consoles and push sockets on the same process)")
    server = start_server(stack, redis.url, secret=secret, ip_per_min=10_000_000)
    limit = fd_limit(server.pid)
    say(f"  worker pid {server.pid} (may open {limit} files), redis pid {redis.proc.pid}")
    try:
        return run_async(capacity_bench(args, redis.url, server, redis.proc.pid, deadline))
    finally:
        server.stop()



# --------------------------------------------------------------------------- report


def table(cap: CapacityResult | None) -> bool:
    """The steps side by side; whether one worker held at least the first step within the goal."""
    if not (cap and cap.steps):
        return True
    best = cap.best
    ok = best > 0
    say(f"| one worker, a message per chat every {cap.every:g} s (rep and customer in turn) | "
        + " | ".join(f"{s.chats:,} chats" for s in cap.steps) + " |")
    say("|---|" + "---|" * len(cap.steps))

    def row2(label: str, fn: Any) -> None:
        say(f"| {label} | " + " | ".join(fn(s) for s in cap.steps) + " |")

    row2("representatives (console sessions)", lambda s: f"{s.reps}")
    row2("messages measured (per s)", lambda s: f"{s.sent:,} ({s.rate:,.0f}/s)" if s.seconds else "-")
    row2("**rep -> customer** p50 / **p95** / p99 / max", lambda s: spread(s.lat.get("r2c", [])))
    row2("**customer -> rep** p50 / **p95** / p99 / max", lambda s: spread(s.lat.get("c2r", [])))
    row2("lost messages; errors", lambda s: f"{s.lost}; {len(s.errors)}")
    row2(f"goal: p95 < {GOAL_P95_MS:.0f} ms both ways, no errors", lambda s: verdict(s.ok))
    row2("worker CPU (% of one core)", lambda s: f"{s.cpu.get('worker', float('nan')):.0f}%")
    row2("worker VmRSS", lambda s: f"{s.rss_mb:,.1f} MB")
    row2("- of it: after the step's logins (scrypt in worker threads)",
         lambda s: f"+{s.rss_logins_mb - s.rss_before_mb:,.1f} MB")
    row2("- growth per chat opened in the step (after the logins)",
         lambda s: f"{(s.rss_mb - s.rss_logins_mb) * 1024 / max(s.new_chats, 1):,.1f} KB")
    row2("sockets dropped by the server", lambda s: f"{s.dropped}")
    row2("Redis commands per message (most frequent)", lambda s: per_message(s.commands, s.sent))
    row2("redis CPU; client CPU; other", lambda s: (
        f"{s.cpu.get('redis', float('nan')):.0f}%; {s.cpu.get('client', float('nan')):.0f}%; "
        f"{s.cpu.get('other', float('nan')):.0f}%"))
    row2("client: sends late p95; loop lag p99", lambda s: (
        f"{ms(pct(s.send_late_ms, 95))}; {ms(pct(s.loop_lag_ms, 99))} ms"))
    row2("time to open the step's new chats; measurement attempts",
         lambda s: f"{s.setup_s:,.1f} s; {s.attempts}")
    say("")
    say(f"**Largest number of concurrent chats one worker sustained within the goal: {best:,}** "
        f"({verdict(ok)}; worker VmRSS {cap.rss_idle_mb:.1f} MB with none). {cap.reason}.")
    say("")
    return ok


def chart_lines(cap: CapacityResult | None) -> list[str]:
    """Latency, CPU and memory by concurrent chats, for the report's code block."""
    if not (cap and cap.steps):
        return []
    done = [s for s in cap.steps if s.seconds]
    return [chart("2. p95 latency (worse direction) by concurrent chats on one worker",
                  [(f"{s.chats:>5,} chats", s.p95) for s in done], "ms", goal=GOAL_P95_MS), "",
            chart("2. worker CPU by concurrent chats (% of one core)",
                  [(f"{s.chats:>5,} chats", s.cpu.get("worker", float("nan"))) for s in done], "%", fmt="{:,.0f}"),
            "",
            chart("2. worker VmRSS by concurrent chats",
                  [("    0 chats", cap.rss_idle_mb)] + [(f"{s.chats:>5,} chats", s.rss_mb) for s in done], "MB")]


def problems(cap: CapacityResult | None) -> None:
    if cap:
        for s in cap.steps:
            for e in s.errors[:5]:
                say(f"- {s.chats:,} chats: {e}")
        for p in cap.server_problems[:10]:
            say(f"- capacity run, worker log: {p}")


def others(cap: CapacityResult | None) -> list[float]:
    """What other processes used during each step (% of one core)."""
    return [s.cpu.get("other", 0) for s in (cap.steps if cap else [])]


# --------------------------------------------------------------------------- arguments, the run


def describe(args: argparse.Namespace) -> str:
    return (f"2: steps {', '.join(f'{k:,}' for k in args.steps)} chats, a message every {args.every:g} s "
            f"per chat")


def most(args: argparse.Namespace) -> int:
    return max(args.steps)


def run(args: argparse.Namespace, redis: Any, stack: contextlib.ExitStack, deadline: float,
        results: dict[str, Any]) -> None:
    results["capacity"] = run_capacity(args, redis, stack, deadline)


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", default="100,250,500,1000,1500,2000",
                   help="2: concurrent chats at each step, increasing")
    p.add_argument("--every", type=float, default=3.0,
                   help="2: seconds between two messages of one chat (rep and customer in turn)")
    p.add_argument("--warm-seconds", type=float, default=3.0, help="2: load before each step's measurement")
    p.add_argument("--step-seconds", type=float, default=20.0, help="2: measured seconds per step")


def check(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    try:
        args.steps = [int(x) for x in args.steps.split(",") if x.strip()]
    except ValueError:
        p.error("--steps: whole numbers separated by commas")
    if not args.steps or any(b <= a for a, b in zip(args.steps, args.steps[1:])) or args.steps[0] < 1:
        p.error("--steps must be positive and increasing")
    if args.every <= 0:
        p.error("--every must be positive")


if __name__ == "__main__":
    sys.exit(chat_setup.run_alone("bench/chat_capacity", sys.modules[__name__], max_seconds=600))
