"""What the three chat measurements share: the site, its representatives and chats on the
servers (``Bench``), the chats' steady load, the options for measuring on a shared machine,
and the pieces of the report. Kept apart from chat_clients.py (the sockets) so that each
measurement file holds only what it measures.

Setting up chats: each visitor sends one page view to the collector (POST /v1/events) and
keeps the visitor token its answer carries; then an open HELP offer is written to Redis and
the customer's acceptance is recorded with the backend's own ``Broker.respond`` (the
respond.lua script the offer route runs), which makes the waiting chat request; the
customer's push socket opens (and sees the request waiting); a representative accepts it and
the customer's page sees the chat go active. Either the rep accepts over the console
WebSocket, or (with many chats) the consoles are closed meanwhile and the benchmark accepts
with the backend's ``Chats.accept`` (claim.lua, what the console calls), because every accept
makes each open console re-read the site's whole waiting queue, which makes opening thousands
of chats slow; then every console connects again, each at a random moment within one console
tick (5 s: each console refreshes its colleagues and its queue every 5 s from when it
connected, so consoles that connected at different times do so at different moments), and
must list exactly its rep's chats. Only the offer itself is skipped (scoring a visitor as
needy, the broker's slot reservation), which is not on the measured path.

This machine has 2 cores and is shared: before each measurement the benchmark waits (at most
--quiet-wait s) until other processes use under --quiet-below % of a core, and a measurement
they disturbed (over --disturbed %) is repeated (--retries). What other processes used is
reported.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: import from the repository, not from scripts/bench/
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from backend.store import keys  # noqa: E402
from scripts.bench.chat_clients import PASSWORD, Customer, RepConsole, Sent, Tracker  # noqa: E402
from scripts.bench.lib import (  # noqa: E402
    ADMIN, ORIGIN, SETUP_RETRIES, SETUP_RETRY_S, BenchError, create_site, main, page_view, parse, parser, pct,
    raise_fd_limit, say, start_cluster, start_redis,
)

GOAL_P95_MS = 50.0
CAPACITY = 20  # the most chats one representative may hold (backend.domain.reps.validate_rep)
TICK_S = 5.0  # backend.web.console.ws.TICK_S: each console's periodic refresh
QUICK = dict(quiet_wait=2.0, retries=0, max_seconds=200)  # with each measurement's own


@dataclass
class Chat:
    customer: Customer
    rep: RepConsole

    @property
    def id(self) -> str:
        return self.customer.chat


class Bench:
    """A site on the servers, its representatives and chats, and the benchmark's own Redis
    client (for the respond script)."""

    def __init__(self, redis_url: str, console_url: str, push_url: str, tag: str, queue_url: str = "") -> None:
        self.redis_url, self.queue_url = redis_url, queue_url  # a cluster needs the job queue's own Redis
        self.console_url = console_url
        self.push_ws = "ws" + push_url[len("http"):]
        self.push_url = push_url
        self.tag = tag
        self.tracker = Tracker()
        self.reps: list[RepConsole] = []
        self.chats: list[Chat] = []
        self.site = ""

    async def __aenter__(self) -> "Bench":
        import httpx

        from backend.config import Settings
        from backend.core.policy import OfferSettings
        from backend.domain.services import Services

        # the backend's own services on the benchmark's connection (no background loops)
        services = Services.build(Settings(redis_url=self.redis_url, queue_redis_url=self.queue_url))
        await services.open()  # a cluster client learns the slots before the setup's bursts
        self.redis = services.redis
        self.broker = services.broker  # respond(): what POST /v1/offers/ID/accept runs
        self.service = services.chats  # accept(): what the console's accept runs
        self.offer_cfg = OfferSettings()
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        self.admin = httpx.AsyncClient(base_url=self.console_url, headers={"Authorization": f"Bearer {ADMIN}"},
                                       timeout=30, limits=limits)
        self.collector = httpx.AsyncClient(base_url=self.push_url, timeout=30, limits=limits)
        self.site = create_site(self.console_url, f"Bench {self.tag}")
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close_sockets()
        with contextlib.suppress(Exception):
            await self.admin.aclose()
        with contextlib.suppress(Exception):
            await self.collector.aclose()
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    async def close_sockets(self) -> None:
        sem = asyncio.Semaphore(200)

        async def close(ws: Any) -> None:
            async with sem:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(), 5)
                with contextlib.suppress(Exception):
                    ws.transport.abort()

        sockets = []
        for chat in self.chats:
            chat.customer.closing = True
            if chat.customer.ws:
                sockets.append(chat.customer.ws)
        for rep in self.reps:
            rep.closing = True
            for task in rep.tasks:
                task.cancel()
            if rep.ws and rep.ws.close_code is None:
                sockets.append(rep.ws)
        with contextlib.suppress(Exception):
            await asyncio.gather(*(close(ws) for ws in sockets))

    # --- setting up -----------------------------------------------------------------

    async def add_reps(self, wanted: int, connect: bool = True) -> None:
        """Create representatives (admin API, capacity 20) and log each in; open their
        consoles unless ``connect`` is false."""
        import httpx

        sem = asyncio.Semaphore(4)  # scrypt: a password hash and a check per rep

        async def one(index: int) -> RepConsole:
            email = f"rep{index:04d}-{self.tag}@shop.example"
            async with sem:
                r = await self.admin.post(f"/v1/sites/{self.site}/reps", json={
                    "name": f"Rep {index}", "email": email, "password": PASSWORD, "capacity": CAPACITY})
                if r.status_code != 201:
                    raise BenchError(f"POST /v1/sites/KEY/reps: {r.status_code} {r.text[:200]}")
                rep = RepConsole(index, r.json()["id"], email, self.tracker)
                # Each rep logs in from an address of its own, as reps at their own desks do: the
                # server allows 50 login attempts per address in 15 minutes. The connection still
                # goes to 127.0.0.1; only its source is another loopback address.
                transport = httpx.AsyncHTTPTransport(local_address=f"127.0.{1 + index // 200}.{1 + index % 200}")
                async with httpx.AsyncClient(base_url=self.console_url, timeout=30, transport=transport) as http:
                    cookie, csrf = await rep.login(http)
            rep.session = (self.console_url, cookie, csrf)
            if connect:
                await rep.open(*rep.session)
            return rep

        start = len(self.reps)
        self.reps += await asyncio.gather(*(one(i) for i in range(start, wanted)))

    async def add_chats(self, total: int, accept_in_console: bool = True, concurrency: int = 16) -> None:
        """Open chats until there are ``total``, filling each representative to capacity.

        ``accept_in_console``: each request is accepted over the rep's console WebSocket.
        Otherwise the consoles are closed meanwhile and the benchmark accepts with the
        backend's ``Chats.accept`` (claim.lua, the same call the console makes), then opens
        every console again and checks that it lists exactly its rep's chats. That is much
        faster with many consoles: every accept makes each open console of the site read
        the whole waiting queue again."""
        new_reps = math.ceil(total / CAPACITY) - len(self.reps)
        if not accept_in_console:
            await asyncio.gather(*(r.close() for r in self.reps))
        await self.add_reps(math.ceil(total / CAPACITY), connect=accept_in_console)
        sem = asyncio.Semaphore(concurrency)
        done = 0
        first = len(self.chats)
        step = max((total - first) // 4, 50)
        t0 = time.monotonic()

        async def one(index: int) -> Chat:
            nonlocal done
            vid = f"bench-{self.tag}-{index:06d}"
            rep = self.reps[index // CAPACITY]
            customer = Customer(vid, self.tracker)
            async with sem:
                customer.tok = await self.page_view(vid)
                request = await self.open_request(vid)
                await customer.open(self.push_ws, self.site)
                await customer.wait_status("waiting", 15)
                if customer.chat != request:
                    raise BenchError(f"{vid}: the push socket names chat {customer.chat}, not {request}")
                if accept_in_console:
                    await rep.accept(request, 30)
                else:
                    await self.service.accept(self.site, request, rep.rid)
                await customer.wait_status("active", 15)
            done += 1
            if done % step == 0:
                say(f"    {first + done:>6,} chats open  {time.monotonic() - t0:5.1f} s")
            return Chat(customer, rep)

        self.chats += await asyncio.gather(*(one(i) for i in range(first, total)))
        if not accept_in_console:
            # Spread over one console tick (5 s): each console refreshes its colleagues and
            # queue every 5 s from when it connected, and consoles that connected at
            # different times do that at different moments.
            rng = random.Random(len(self.chats))

            async def reopen(rep: RepConsole) -> None:
                await asyncio.sleep(rng.uniform(0, TICK_S))
                await rep.open(*rep.session)

            await asyncio.gather(*(reopen(r) for r in self.reps))
            say(f"    {len(self.reps)} consoles open ({new_reps} new), connected at random moments "
                f"within {TICK_S:g} s")
        for rep in self.reps:
            mine = {c.id for c in self.chats if c.rep is rep}
            if accept_in_console:
                continue
            if rep.chat_ids != mine:
                raise BenchError(f"rep {rep.index}'s console lists {len(rep.chat_ids)} chats, "
                                 f"not its {len(mine)}")

    def dropped(self) -> int:
        """Sockets no longer open (the server closed them)."""
        return sum(1 for c in self.chats if c.customer.ws is None or c.customer.ws.close_code is not None) + \
            sum(1 for r in self.reps if r.ws is None or r.ws.close_code is not None)

    async def command_counts(self) -> dict[str, int]:
        """Redis's own count of the commands it ran, by name (INFO commandstats; on a cluster,
        summed over the masters)."""
        from redis.asyncio.cluster import RedisCluster

        if isinstance(self.redis, RedisCluster):
            nodes = list((await self.redis.info("commandstats", target_nodes=RedisCluster.PRIMARIES)).values())
        else:
            nodes = [await self.redis.info("commandstats")]
        counts: dict[str, int] = {}
        for info in nodes:
            for k, v in info.items():
                if k.startswith("cmdstat_"):
                    counts[k[len("cmdstat_"):]] = counts.get(k[len("cmdstat_"):], 0) + int(v["calls"])
        return counts

    async def command_diff(self, before: dict[str, int]) -> dict[str, int]:
        after = await self.command_counts()
        diff = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0}
        diff.pop("info", None)
        return diff

    async def page_view(self, vid: str) -> str:
        """What b.js sends on a visit's first page view: the visitor exists, with a trail the
        rep sees. Returns the visitor token the answer carries."""
        body = page_view(self.site, vid)
        for _ in range(SETUP_RETRIES):  # a busy collector sheds batches, and pages send them again
            r = await self.collector.post("/v1/events", content=body,
                                          headers={"Origin": ORIGIN, "Content-Type": "text/plain;charset=UTF-8"})
            if r.status_code != 503:
                break
            await asyncio.sleep(SETUP_RETRY_S)
        if r.status_code != 200 or not r.json().get("tok"):
            raise BenchError(f"POST /v1/events: {r.status_code} {r.text[:200]}, no visitor token")
        return r.json()["tok"]

    async def open_request(self, vid: str) -> str:
        """An open HELP offer, then the customer's 'accept' through Broker.respond (respond.lua),
        exactly as POST /v1/offers/ID/accept records it: a waiting chat request."""
        now = int(time.time() * 1000)
        offer = f"bench{secrets.token_hex(6)}"
        key = keys.offer(self.site, vid)
        f = keys.OfferHash
        await self.redis.hset(key, mapping={f.ID: offer, f.KIND: "help", f.VARIANT: "button", f.SHORT: 0,
                                            f.CREATED: now, f.DEADLINE: now + 30_000, f.WAIT: 0})
        await self.redis.pexpire(key, 90_000)
        request = await self.broker.respond(self.site, vid, offer, "accept", self.offer_cfg, 1800)
        if not request:
            raise BenchError(f"{vid}: respond.lua made no request")
        return request


async def drain(tracker: Tracker, items: list[Sent], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while tracker.pending(items) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def settle_gc() -> None:
    """Setup leaves many objects; keep the collector from walking them all while timing."""
    gc.collect()
    gc.freeze()


async def run_load(bench: Bench, every: float, warm_s: float, measure_s: float,
                   rng: random.Random) -> tuple[list[Sent], list[float], float]:
    """Every chat says something every ``every`` s, rep and customer in turn, each at its own
    phase; messages sent in the first ``warm_s`` are not counted. Returns what was sent, how
    late the sends were against their schedule, and the measured window's length."""
    loop = asyncio.get_running_loop()
    t_start = loop.time()
    t_measure = t_start + warm_s
    t_end = t_measure + measure_s
    items: list[Sent] = []
    late: list[float] = []

    async def one(chat: Chat, phase: float, rep_first: bool) -> None:
        due = t_start + phase
        from_rep = rep_first
        while due < t_end:
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            counted = due >= t_measure
            if counted:
                late.append(max(0.0, (loop.time() - due) * 1000))
            try:
                items.append(await (chat.rep.say(chat.id, counted) if from_rep else chat.customer.say(counted)))
            except Exception as exc:  # noqa: BLE001 - the socket is gone; its reader reports it
                bench.tracker.error(f"send failed: {type(exc).__name__}: {exc}")
                return
            from_rep = not from_rep
            due += every

    await asyncio.gather(*(one(c, rng.uniform(0, every), rng.random() < 0.5) for c in bench.chats))
    return items, late, t_end - t_measure


# --------------------------------------------------------------------------- the run


def add_options(p: argparse.ArgumentParser) -> None:
    """Measuring on a shared machine: every chat measurement has these."""
    p.add_argument("--quiet-below", type=float, default=25,
                   help="before each measurement, wait until other processes use less than this "
                        "(%% of one core)")
    p.add_argument("--quiet-wait", type=float, default=20, help="... but at most this many seconds")
    p.add_argument("--disturbed", type=float, default=40,
                   help="a measurement during which other processes used this much (%% of one core) "
                        "is repeated (1: always, 2: when it missed the goal)")
    p.add_argument("--retries", type=int, default=1, help="how often a disturbed measurement is repeated")


def add_all(p: argparse.ArgumentParser, measurements: tuple[Any, ...]) -> dict[str, Any]:
    """The options of ``measurements`` (modules) and these; returns --quick's values for them all."""
    quick = dict(QUICK)
    for m in measurements:
        m.add_options(p)
        quick.update(m.QUICK)
    add_options(p)
    return quick


def run_alone(name: str, m: Any, max_seconds: int) -> int:
    """A measurement module run as a script: its options, its own Redis, its own report."""
    p = parser(m.__doc__, max_seconds=max_seconds)
    args = parse(p, None, add_all(p, (m,)))
    m.check(p, args)

    def measure(stack: contextlib.ExitStack, deadline: float, results: dict) -> None:
        m.run(args, start(args, stack, name, m.describe(args), m.most(args)), stack, deadline, results)

    def report(results: dict) -> bool:
        res = results.get(m.KEY)
        say("\n## Results\n")
        ok = m.table(res)
        say_charts(m.chart_lines(res))
        m.problems(res)
        return finish(ok, m.others(res))

    return main(name, args, measure, report)


def start(args: argparse.Namespace, stack: contextlib.ExitStack, name: str, what: str, most: int) -> Any:
    """The run's first lines (the machine, what will be measured), a file-descriptor limit for
    ``most`` chats, and the store: a private Redis, or with --cluster a Redis Cluster."""
    from redis.utils import HIREDIS_AVAILABLE

    random.seed(args.seed)
    say(f"{name}: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, redis-py replies parsed by "
        f"{'hiredis' if HIREDIS_AVAILABLE else 'pure Python (no hiredis)'}; {what}")
    soft, hard = raise_fd_limit(4 * (most + most // CAPACITY) + 2048)
    say(f"  file-descriptor limit {soft:,} (hard {hard:,}), inherited by the servers started below")
    cluster = getattr(args, "cluster", False)  # measurement 1's option
    if cluster:
        say("  store: a private Redis Cluster, 3 masters with a replica each (measurement 1 only)")
    return start_cluster(stack) if cluster else start_redis(stack)


# --------------------------------------------------------------------------- report


def ms(v: float) -> str:
    return "n/a" if v != v else (f"{v:,.1f}" if v < 100 else f"{v:,.0f}")


def spread(values: list[float]) -> str:
    """A latency cell of the tables: p50 / **p95** / p99 / max."""
    return (f"{ms(pct(values, 50))} / **{ms(pct(values, 95))}** / {ms(pct(values, 99))} / "
            f"{ms(max(values or [float('nan')]))} ms")


def worse_p95(lat: dict[str, list[float]]) -> float:
    """The p95 of the worse direction, the one the goal is set on."""
    values = [pct(v, 95) for v in lat.values() if v]
    return max(values) if values else float("nan")


def per_message(commands: dict[str, int], messages: int) -> str:
    if not commands or not messages:
        return "n/a"
    total = sum(commands.values()) / messages
    top = sorted(commands.items(), key=lambda kv: -kv[1])[:4]
    return f"{total:.1f} (" + ", ".join(f"{k} {v / messages:.1f}" for k, v in top) + ")"


def say_charts(lines: list[str]) -> None:
    """The charts of the report in one code block, none when there are none."""
    if lines:
        say("```")
        for line in lines:
            say(line)
        say("```")


def finish(ok: bool, other: list[float]) -> bool:
    """The report's last lines: whether other processes disturbed it, whether the goals were met."""
    if other and max(other) > 25:
        say(f"\nNote: other processes used up to {max(other):.0f}% of a core during a measurement on this "
            f"{os.cpu_count()}-core machine; the timings are disturbed by them.")
    say(f"\nGoals {'all met' if ok else 'NOT all met'}.")
    return ok
