"""Chat benchmark: rep -> customer message latency across two web workers, how many
concurrent chats one web worker sustains, and chat latency while the collector is flooded.

Everything runs against real processes on 127.0.0.1 (a private redis-server and uvicorn,
started here and stopped here, also on error or Ctrl-C). This file runs the three
measurements in order on one Redis and reports them together; each is a module of its own,
runnable alone with the same options:

1. chat_latency.py: latency across two workers (console on one uvicorn, page on another), also
   on a Redis Cluster (--cluster, which runs only this one) and side by side for several
   BECKON_CHAT_REPLICAS (--chat-replicas 0,1). Goal: p95 under 50 ms.
2. chat_capacity.py: concurrent chats on one worker, in growing steps, until one misses the goal.
3. chat_flood.py: chat on a 2-worker server, quiet and during a collector flood, with the load
   gate and without. Goal: chat p95 under 50 ms during the flood, gate on.

What they share: chat_clients.py (the console's and the page's sockets, message tracking) and
chat_setup.py (the site, its reps and chats, the chats' load, waiting for a quiet machine).

Ends with markdown tables, ASCII charts and the goals met or not.

    .venv/bin/python scripts/bench/chat.py [--chats 20] [--messages 3000] [--rate 200] [--warmup 100]
                                           [--steps 100,250,500,1000,1500,2000] [--every 3]
                                           [--step-seconds 20] [--flood-chats 200] [--flood-every 2]
                                           [--flood-seconds 15] [--flood-connections 512]
                                           [--skip-latency] [--skip-capacity] [--skip-flood]
                                           [--cluster] [--chat-replicas 0,1]
                                           [--max-seconds 900] [--check] [--quick]

Exit status: 0 measured (goals met or not; 3 with --check when one is missed), 1 failed,
130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import from the repository, not from scripts/bench/
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from scripts.bench import chat_capacity, chat_flood, chat_latency, chat_setup  # noqa: E402
from scripts.bench.chat_capacity import CapacityResult  # noqa: E402
from scripts.bench.chat_flood import FloodResult  # noqa: E402
from scripts.bench.chat_latency import LatencyResult  # noqa: E402
from scripts.bench.chat_setup import finish, say_charts  # noqa: E402
from scripts.bench.lib import main, parse, parser, say  # noqa: E402

MEASUREMENTS = (chat_latency, chat_capacity, chat_flood)


def measure(args: argparse.Namespace):
    def run(stack: contextlib.ExitStack, deadline: float, results: dict) -> None:
        most = max(args.steps) if not args.skip_capacity else args.chats
        what = "; ".join(m.describe(args) for m in MEASUREMENTS)
        redis = chat_setup.start(args, stack, "bench/chat", what, most)
        if not args.skip_latency:
            chat_latency.run(args, redis, stack, deadline, results)
        if not args.skip_capacity:  # leaves measurement 3 its time
            chat_capacity.run(args, redis, stack, deadline if args.skip_flood else deadline - chat_flood.budget_s(args),
                              results)
        if not args.skip_flood:
            chat_flood.run(args, redis, stack, deadline, results)
    return run


def report(lats: list[LatencyResult] | None, cap: CapacityResult | None, flood: FloodResult | None) -> bool:
    """The three measurements' tables, then 1's and 2's charts in one block, then 3's table and charts."""
    say("\n## Results\n")
    ok = chat_latency.table(lats)
    ok &= chat_capacity.table(cap)
    say_charts(chat_latency.chart_lines(lats) + chat_capacity.chart_lines(cap))
    chat_latency.problems(lats)
    chat_capacity.problems(cap)
    if flood:
        say("")
        ok &= chat_flood.report_flood(flood)
    return finish(ok, chat_latency.others(lats) + chat_capacity.others(cap) + chat_flood.others(flood))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = parser(__doc__, max_seconds=900)
    quick = chat_setup.add_all(p, MEASUREMENTS)
    p.add_argument("--skip-latency", action="store_true", help="skip measurement 1")
    p.add_argument("--skip-capacity", action="store_true", help="skip measurement 2")
    p.add_argument("--skip-flood", action="store_true", help="skip measurement 3")
    args = parse(p, argv, quick)
    for m in MEASUREMENTS:
        m.check(p, args)
    if args.cluster:
        args.skip_capacity = args.skip_flood = True
    return args


if __name__ == "__main__":
    args = parse_args(None)
    sys.exit(main("bench/chat", args, measure(args),
                  lambda r: report(r.get("latency"), r.get("capacity"), r.get("flood"))))
