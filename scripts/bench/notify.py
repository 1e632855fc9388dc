"""Notify benchmark: what ONE rq worker delivers, webhooks and lead mail, beside the same work
done by a plain loop in one process.

A private redis-server, a webhook receiver on 127.0.0.1 that checks every signature
(backend/testing/receiver.py), an aiosmtpd sink, and one job worker (``beckon worker --burst``,
started here once the queue is full): the default, running each job in its own process (rq's
SimpleWorker), and the forking one (BECKON_WORKER_FORK=1: a work horse per job), one after
the other (``--worker``). Webhooks: ``--n`` events emitted to one endpoint, then delivered by
the worker, twice: emitted one by one (Webhooks.emit, as a lead or an order is: a job each),
and emitted together (Webhooks.emit_many, as an import's customers are: one deliver_batch job
per 100); the emits are timed too. The plain loop POSTs the same signed bodies from one
process with one keep-alive connection. Mail: ``--n`` lead mails
(Jobs.lead, the leads' own job) through the same worker, against plain aiosmtplib sends
(backend/domain/mail.py:send, as the job calls it) from one process. Last, what emitting costs
an import: 10,000 customers upserted with and without a subscribed endpoint.

    .venv/bin/python scripts/bench/notify.py [--n 500] [--rows 10000] [--worker both|simple|fork] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: import from the repository, not from scripts/bench/
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from scripts.bench.lib import BenchError, chart, main, parse, parser, poll, say, start_redis  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
QUICK = dict(n=100, rows=2000, max_seconds=240)
SITE = "benchnotify01"


class SmtpSink:
    """aiosmtpd on a free port, counting what it takes."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        from backend.testing.servers import free_port

        self.count = 0
        self.lock = threading.Lock()
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                with outer.lock:
                    outer.count += 1
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_worker(redis_url: str, smtp_port: int, kind: str) -> tuple[float, float]:
    """One burst worker (``kind``: simple or fork) until the queue is empty: (wall s, CPU s of
    it and its work horses)."""
    env = {**os.environ, "BECKON_REDIS_URL": redis_url, "BECKON_QUEUE_URL": redis_url,
           "BECKON_SMTP_PORT": str(smtp_port), "BECKON_WEBHOOKS_ALLOW_HTTP": "1",
           "BECKON_WORKER_FORK": "1" if kind == "fork" else "0"}
    cpu, started = children_cpu(), time.monotonic()
    done = subprocess.run([sys.executable, "-m", "backend.cli", "worker", "--burst"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise BenchError(f"the worker failed: {done.stderr[-1000:]}")
    return time.monotonic() - started, children_cpu() - cpu


def lead_context(i: int) -> dict[str, Any]:
    """What domain/leads.py hands the lead mail, for a contact request routed to a salesperson."""
    return {"lead": {"id": f"lead-{i}", "kind": "contact", "source": "widget", "status": "routed",
                     "name": f"Customer {i}", "email": f"c{i}@example.com", "phone": "+44 20 7946 0000",
                     "postcode": "SW1A 1AA", "model": "kayak-2", "line": "kayaks", "comment": "Please call me.",
                     "routed": {"why": "area SW1 and line kayaks (territory row 1)"}},
            "product": {"model": "kayak-2", "name": "Kayak 2", "line": "kayaks", "price": "499.00",
                        "currency": "EUR"},
            "staff": {"id": "s1", "name": "Sam", "email": "sam@shop.example"}, "items": [], "visitor": None,
            "visitor_url": "http://127.0.0.1:8000/console/visitors/v1"}


def measure(args: argparse.Namespace):
    def run(stack: contextlib.ExitStack, deadline: float, results: dict) -> None:
        import httpx

        from backend.config import Settings
        from backend.core import webhooks as core
        from backend.domain import mail as outgoing
        from backend.domain.jobs import Jobs
        from backend.domain.records import Records
        from backend.domain.webhooks import Webhooks
        from backend.store import connect
        from backend.testing.receiver import Receiver

        redis = start_redis(stack)
        receiver = Receiver()
        stack.callback(receiver.stop)
        sink = SmtpSink()
        stack.callback(sink.stop)
        settings = Settings(redis_url=redis.url, smtp_port=sink.port, webhooks_allow_http=True,
                            webhook_retry_s=(1,))
        n = args.n
        kinds = ["simple", "fork"] if args.worker == "both" else [args.worker]

        async def endpoint() -> str:
            client = connect(settings)
            made = await Webhooks(settings, Jobs(settings, client)).create(
                SITE, {"url": receiver.url, "events": ["lead.created"]})
            await client.aclose()
            return made.secret

        async def emit(together: bool) -> float:
            """n events queued, one emit each or one emit_many; how long that took."""
            client = connect(settings)
            hooks = Webhooks(settings, Jobs(settings, client))
            datas = [{"lead": {"id": f"lead-{i}", "name": f"Customer {i}"}} for i in range(n)]
            started = time.perf_counter()
            if together:
                await hooks.emit_many(SITE, "lead.created", datas)
            else:
                for data in datas:
                    await hooks.emit(SITE, "lead.created", data)
            took = time.perf_counter() - started
            await client.aclose()
            return took

        receiver.secret = asyncio.run(endpoint())
        results["kinds"] = kinds
        done = 0
        for how, together in (("hook", False), ("hookb", True)):
            for kind in kinds:
                results[f"emit_{how}_ms"] = asyncio.run(emit(together)) * 1000 / n
                say(f"{n} events queued {'together' if together else 'one by one'}; the {kind} worker delivers "
                    "them ...")
                wall, cpu = run_worker(redis.url, sink.port, kind)
                done += n
                if len(receiver.processed) != done or any(d.problem for d in receiver.deliveries):
                    raise BenchError(f"{len(receiver.processed)} of {done} webhooks verified and processed")
                results[f"{how}_{kind}"] = {"per_s": n / wall, "cpu_ms": cpu * 1000 / n, "wall_s": wall}
                say(f"  {kind} worker: {n / wall:,.1f} deliveries/s")
        secret = receiver.secret

        bodies = [core.envelope(f"evt_plainloop{i:06d}", "lead.created", 0, SITE, {"i": i}) for i in range(n)]
        cpu0, started = time.process_time(), time.monotonic()
        with httpx.Client(timeout=10) as client:
            for i, body in enumerate(bodies):
                sent = core.headers(secret, f"evt_plainloop{i:06d}", int(time.time()), body)
                if client.post(receiver.url, content=body, headers=sent).status_code != 200:
                    raise BenchError("the receiver refused a plain POST")
        wall = time.monotonic() - started
        results["hook_plain"] = {"per_s": n / wall, "cpu_ms": (time.process_time() - cpu0) * 1000 / n, "wall_s": wall}
        say(f"  plain loop: {n / wall:,.1f} POSTs/s")

        async def queue_mail() -> None:
            client = connect(settings)
            jobs = Jobs(settings, client)
            for i in range(n):
                await jobs.lead(SITE, "Bench shop", "sam@shop.example", f"New lead: Customer {i}",
                                f"c{i}@example.com", lead_context(i))
            await client.aclose()

        outgoing.render("lead", "sam@shop.example", "New lead", settings.mail, reply_to="c0@example.com",
                        site_name="Bench shop", **lead_context(0))  # renders, or fails before timing
        for number, kind in enumerate(kinds):
            asyncio.run(queue_mail())
            say(f"queued {n} lead mails; the {kind} worker sends them ...")
            wall, cpu = run_worker(redis.url, sink.port, kind)
            if sink.count != n * (number + 1):
                raise BenchError(f"{sink.count - n * number} of {n} mails arrived")
            results[f"mail_{kind}"] = {"per_s": n / wall, "cpu_ms": cpu * 1000 / n, "wall_s": wall}
            say(f"  {kind} worker: {n / wall:,.1f} mails/s")
        sent = sink.count

        async def plain_mail() -> None:
            for i in range(n):
                msg = outgoing.render("lead", "sam@shop.example", f"New lead: Customer {i}", settings.mail,
                                      reply_to=f"c{i}@example.com", site_name="Bench shop", **lead_context(i))
                await outgoing.send(settings.mail, msg)

        cpu0, started = time.process_time(), time.monotonic()
        asyncio.run(plain_mail())
        wall = time.monotonic() - started
        if sink.count != sent + n:
            raise BenchError(f"{sink.count - sent} of {n} plain mails arrived")
        results["mail_plain"] = {"per_s": n / wall, "cpu_ms": (time.process_time() - cpu0) * 1000 / n, "wall_s": wall}
        say(f"  plain aiosmtplib: {n / wall:,.1f} mails/s")

        async def imports() -> None:
            client = connect(settings)
            hooks = Webhooks(settings, Jobs(settings, client))
            records = Records(client)
            rows = [{"id": f"c{i}", "email": f"c{i}@example.com", "name": f"Customer {i}"} for i in range(args.rows)]
            started = time.perf_counter()
            await records.upsert("importnohook", "customers", rows)
            results["import_plain_s"] = time.perf_counter() - started
            records.webhooks = hooks
            await hooks.create("importhook01", {"url": receiver.url, "events": ["customer.upserted"]})
            started = time.perf_counter()
            await records.upsert("importhook01", "customers", rows)
            results["import_hook_s"] = time.perf_counter() - started
            await client.aclose()

        asyncio.run(imports())
        results["rows"] = args.rows
        results["n"] = n
        say(f"import of {args.rows:,} customers: {results['import_plain_s']:.2f} s without an endpoint, "
            f"{results['import_hook_s']:.2f} s with one (each customer's event queued)")
        poll(lambda: True)
        results["load"] = os.getloadavg()

    return run


WORKERS = {"simple": "rq worker, no fork", "fork": "rq worker, forking"}


def report(results: dict[str, Any]) -> bool:
    kinds = [k for k in results.get("kinds", []) if f"hook_{k}" in results]
    if not kinds:
        return False
    say(f"\n{results['n']} of each; load average before the end {results['load'][0]:.2f}, "
        f"{results['load'][1]:.2f}, {results['load'][2]:.2f} ({os.cpu_count()} cores)")
    say("\n| what | how | per second | / plain loop | CPU per item |")
    say("|---|---|---:|---:|---:|")
    rows = []
    for name, short, prefix, plain in (("webhooks, a job each", "webhooks", "hook", "hook_plain"),
                                       ("webhooks, 100 a job", "webhook batches", "hookb", "hook_plain"),
                                       ("lead mails", "mail", "mail", "mail_plain")):
        for kind in kinds + ([] if prefix == "hookb" else ["plain"]):
            key = plain if kind == "plain" else f"{prefix}_{kind}"
            if key not in results:
                continue
            got, how = results[key], WORKERS.get(kind, "plain loop, one process")
            ratio = f"{got['per_s'] / results[plain]['per_s']:.3f}" if plain in results else "n/a"
            say(f"| {name} | {how} | {got['per_s']:,.1f} | {ratio} | {got['cpu_ms']:.1f} ms |")
            rows.append((f"{short}, {how}", got["per_s"]))
    if "simple" in kinds and "fork" in kinds:
        for name, prefix in (("webhooks", "hook"), ("webhook batches", "hookb"), ("mail", "mail")):
            if f"{prefix}_fork" in results and f"{prefix}_simple" in results:
                say(f"{name}: the worker without a fork delivers "
                    f"{results[f'{prefix}_simple']['per_s'] / results[f'{prefix}_fork']['per_s']:.1f}x what the "
                    "forking one does")
    say("\n" + chart("per second", rows, unit="/s"))
    for kind in kinds:
        if f"hookb_{kind}" in results and f"hook_{kind}" in results:
            faster = results[f"hookb_{kind}"]["per_s"] / results[f"hook_{kind}"]["per_s"]
            say(f"{WORKERS[kind]}: an import's events go {faster:.1f}x as fast as events a job each")
    say(f"\nemit: {results['emit_hook_ms']:.3f} ms per event one by one, {results['emit_hookb_ms']:.3f} ms per event "
        "together (stored and queued, one round trip per call)")
    if "import_hook_s" in results:
        say(f"import of {results['rows']:,} customers: {results['import_plain_s']:.2f} s without an endpoint, "
            f"{results['import_hook_s']:.2f} s with one subscribed")
    return True


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = parser(__doc__, max_seconds=900)
    p.add_argument("--n", type=int, default=500, help="webhook deliveries, and lead mails")
    p.add_argument("--worker", choices=["both", "simple", "fork"], default="both",
                   help="the job worker measured: without a fork per job (the default), forking, or both")
    p.add_argument("--rows", type=int, default=10_000, help="customers imported with and without an endpoint")
    return parse(p, argv, QUICK)


if __name__ == "__main__":
    args = parse_args(None)
    sys.exit(main("bench/notify", args, measure(args), report))
