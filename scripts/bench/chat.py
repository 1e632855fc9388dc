"""Chat benchmark: rep -> customer message latency across two web workers, how many
concurrent chats one web worker sustains, and chat latency while the collector is flooded.

Everything runs against real processes on 127.0.0.1 (a private redis-server and uvicorn,
started here and stopped here, also on error or Ctrl-C). The clients are one asyncio process
(the ``websockets`` package, uvloop when installed) that plays both sides:

- the representative: logs in like the console page (GET /console/login for the CSRF token,
  POST the form, GET /console/ for the page's token), opens ``/console/ws?csrf=`` with the
  signed session cookie and the server's Origin, sends a presence heartbeat every 10 s as
  console.js does, accepts requests with ``{type: "accept", id}`` and writes with
  ``{type: "say", chat, text, cid}``;
- the customer: the page's push WebSocket ``/v1/push?site=&vid=`` with the site's Origin,
  whose first frame is ``{type: "hello", tok}`` with the visitor token the collector's answer
  to the visitor's page view gave (as o.js does), writing with ``{type: "say", text, cid}``.

A message is matched by its client id (``cid``), which the server echoes in the ``msg``
frame, and is timed from just before the send on one socket to its arrival on the other.

Setting up chats: each visitor sends one page view to the collector (POST /v1/events) and
keeps the visitor token its answer carries; then
an open HELP offer is written to Redis and the customer's acceptance is recorded with the
backend's own ``Broker.respond`` (the respond.lua script the offer route runs), which makes
the waiting chat request; the customer's push socket opens (and sees the request waiting);
a representative accepts it and the customer's page sees the chat go active. In 1 the rep
accepts over the console WebSocket; in 2 the consoles are closed meanwhile and the benchmark
accepts with the backend's ``Chats.accept`` (claim.lua, what the console calls), because
every accept makes each open console re-read the site's whole waiting queue, which makes
opening thousands of chats slow; then every console connects again, each at a random moment
within one console tick (5 s: each console refreshes its colleagues and its queue every 5 s
from when it connected, so consoles that connected at different times do so at different
moments), and must list exactly its rep's chats. Only the offer itself is skipped (scoring a
visitor as needy, the broker's slot reservation), which is not on the measured path:
console WebSocket -> web worker -> Redis -> web worker -> page WebSocket.

1. Latency across two workers. Two separate uvicorn processes (``--workers 1`` each, two
   ports, the same Redis): the representatives' console sockets on worker A, the customers'
   push sockets on worker B, so each message crosses from one worker to the other through
   Redis pub/sub. N chats (default 20), then --messages rep -> customer messages sent round
   robin over the chats at a fixed pace (open loop, --rate per second), then as many
   customer -> rep messages the same way (after --warmup messages each way that are not
   counted). Also timed: the ``ack`` to the sender, the server's own stamp (the message's
   ``ts``, in ms) splitting the time where the worker stored it, and a bare Redis PUBLISH ->
   subscriber round trip (the floor). Goal: p95 under 50 ms.
   With --cluster the store is a private 3-master Redis Cluster with a replica each (and the
   job queue's own Redis), and only this measurement runs. --chat-replicas 0,1 measures it
   once for each BECKON_CHAT_REPLICAS of the servers, side by side: what waiting for a replica
   before the ack (WAIT) costs per message, in time and in worker CPU.

2. Concurrent chats on one worker. One uvicorn worker holds both sides (still through Redis
   pub/sub). K chats, at most 20 per representative (the largest capacity a rep may have),
   each rep with a console session of its own (and a presence heartbeat every 10 s); every
   chat carries one message every --every seconds, alternately from the rep and from the
   customer, each chat at its own phase. K grows in steps (--steps, default 100, 250, 500,
   1000, 1500, 2000; the chats of one step stay for the next), each step measured for
   --step-seconds after a short warm-up, until a step misses the goal (p95 over 50 ms either
   way, any error, a lost message, a dropped socket) or time runs out. Reported: the largest
   K that met the goal, and per step the worker's CPU and VmRSS, Redis's and the client's
   CPU, and the Redis commands run per chat message (INFO commandstats).

3. Chat under a collector flood. The web server as operators run it with 2 workers (one
   uvicorn, ``--workers 2``: the kernel spreads the connections over them), --flood-chats
   chats (default 200, 20 per representative), each carrying a message every --flood-every
   s as in 2. Chat latency both ways is measured for --flood-seconds, first quiet, then while
   wrk (a separate process: the collector benchmark's Lua script and realistic batches, of
   another site's 5,000 visitors, each presenting its token) posts batches to
   ``/v1/events`` over --flood-connections (default 512) connections, closed loop: each
   connection sends its next batch as soon as the last is answered, except that each 503
   (or 429) holds one next batch back for its Retry-After, as the snippet waits (with
   --flood-ignore-retry-after not even that: a client that ignores it, which a load gate
   cannot help against: answering 503s then takes the workers' time). The flood
   starts 3 s before the chat window and ends 1 s after it; messages still under way after
   it are waited for (--flood-drain) and count with their full latency. Reported beside chat
   latency: the flood's answers per second, and its status mix (200 taken, 503 shed with
   Retry-After, other). Then the same flood against a second server whose load gate is
   effectively off (BECKON_COLLECTOR_MAX_INFLIGHT and BECKON_COLLECTOR_MAX_LAG_MS 10^9), to
   show what the gate buys. Goal: chat p95 under 50 ms both ways during the flood, gate on.

This machine has 2 cores and is shared: before each measurement the benchmark waits (at most
--quiet-wait s) until other processes use under --quiet-below % of a core, and a measurement
they disturbed (over --disturbed %) is repeated (--retries): in 1 and 3 always, keeping the
least disturbed attempt; in 2 when it missed the goal. What other processes used is reported.

Ends with a markdown table, ASCII charts and the goals met or not.

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
import asyncio
import contextlib
import gc
import json
import math
import os
import random
import re
import secrets
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: import from the repository, not from scripts/bench/
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from backend.config import Settings  # noqa: E402
from backend.store import keys  # noqa: E402
from scripts.bench.lib import (  # noqa: E402
    ADMIN, SETUP_RETRIES, SETUP_RETRY_S, GATE_OFF, ORIGIN, BenchError, CpuMeter, LagMonitor, Server, Wrk, WrkRun, chart, cpu_line, create_site,
    ensure_wrk, fd_limit, first_batches, hello, histogram, main, make_batches, page_view, parse, parser, pct, push_url,
    raise_fd_limit, redis_pids, rss_mb, run_async, say, start_cluster, start_redis, start_server, verdict,
    visitor_tokens, wait_quiet, with_site, with_tokens, write_bodies,
)

GOAL_P95_MS = 50.0
CAPACITY = 20  # the most chats one representative may hold (backend.domain.reps.validate_rep)
PRESENCE_EVERY_S = 10.0  # console.js PRESENCE_EVERY_MS
TICK_S = 5.0  # backend.web.console.ws.TICK_S: each console's periodic refresh
PASSWORD = "a long bench password"
TEXTS = ["Hello! How can I help you today?", "Sure, one moment while I check that for you.",
         "The delivery usually takes two to three working days.",
         "Yes, the 40 l dry bag fits in the front hatch of that kayak.",
         "Could you tell me the order number, please?", "Thanks, that is all I needed."]
QUICK = dict(chats=5, messages=300, rate=100, warmup=20, steps="20,60", every=1.0, warm_seconds=1.0,
             step_seconds=3.0, quiet_wait=2.0, retries=0, flood_chats=20, flood_every=1.0, flood_warm=1.0,
             flood_seconds=4.0, flood_connections=128, flood_batches=2000, flood_visitors=500, max_seconds=200)
FLOOD_BUDGET_S = 300  # what measurement 3 takes at its defaults (with waits and retries): 2 leaves it that much
LATENCY_BUCKETS = [0, 1, 2, 3, 5, 10, 20, 50, 100, 200, 500, float("inf")]


# --------------------------------------------------------------------------- the measurement


def measure(args: argparse.Namespace):
    def run(stack: contextlib.ExitStack, deadline: float, results: dict) -> None:
        from redis.utils import HIREDIS_AVAILABLE

        random.seed(args.seed)
        most = max(args.steps) if not args.skip_capacity else args.chats
        say(f"bench/chat: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, redis-py replies parsed by "
            f"{'hiredis' if HIREDIS_AVAILABLE else 'pure Python (no hiredis)'}; 1: {args.chats} chats, "
            f"{args.messages:,} messages each way at {args.rate:g}/s; 2: steps "
            f"{', '.join(f'{k:,}' for k in args.steps)} chats, a message every {args.every:g} s per chat; "
            f"3: {args.flood_chats} chats on 2 workers, a message every {args.flood_every:g} s per chat, quiet "
            f"and during a collector flood (wrk, {args.flood_connections} connections), gate on and off")
        soft, hard = raise_fd_limit(4 * (most + most // CAPACITY) + 2048)
        say(f"  file-descriptor limit {soft:,} (hard {hard:,}), inherited by the servers started below")
        if args.cluster:
            say("  store: a private Redis Cluster, 3 masters with a replica each (measurement 1 only)")
        redis = start_cluster(stack) if args.cluster else start_redis(stack)
        if not args.skip_latency:
            results["latency"] = []
            for replicas in args.chat_replicas or [None]:
                results["latency"].append(run_latency(args, redis, stack, deadline, replicas))
        if not args.skip_capacity:
            results["capacity"] = run_capacity(args, redis, stack,
                                               deadline if args.skip_flood else deadline - FLOOD_BUDGET_S)
        if not args.skip_flood:
            run_flood(args, redis, stack, deadline, results)
    return run


def ms(v: float) -> str:
    return "n/a" if v != v else (f"{v:,.1f}" if v < 100 else f"{v:,.0f}")


# --------------------------------------------------------------------------- message tracking


@dataclass
class Sent:
    direction: str  # "r2c" rep -> customer, "c2r" customer -> rep
    t: float  # perf_counter just before the send
    wall_ms: float  # time.time() * 1000 at the same moment (to compare with the server's ts)
    counted: bool
    arrived: float | None = None
    ack: float | None = None
    server_ts: int | None = None
    cid: str = ""
    chat: str = ""


class Tracker:
    """Every message in flight and what became of it; errors seen on any socket."""

    def __init__(self) -> None:
        self.sent: dict[str, Sent] = {}
        self.errors: list[str] = []
        self.n = 0

    def new(self, direction: str, counted: bool) -> tuple[str, Sent]:
        self.n += 1
        cid = f"{direction}-{self.n}"
        item = Sent(direction, time.perf_counter(), time.time() * 1000, counted, cid=cid)
        self.sent[cid] = item
        return cid, item

    def arrive(self, cid: Any, now: float, ts: Any) -> None:
        item = self.sent.get(cid) if isinstance(cid, str) else None
        if item is None:
            return
        if item.arrived is not None:
            self.error(f"message {cid} arrived twice")
            return
        item.arrived = now
        item.server_ts = ts if isinstance(ts, int) else None

    def acked(self, cid: Any, now: float) -> None:
        item = self.sent.get(cid) if isinstance(cid, str) else None
        if item is not None and item.ack is None:
            item.ack = now

    def error(self, text: str) -> None:
        self.errors.append(text)

    def pending(self, items: list[Sent]) -> int:
        return sum(1 for i in items if i.arrived is None)


def latencies(items: list[Sent], direction: str) -> list[float]:
    return [(i.arrived - i.t) * 1000 for i in items
            if i.counted and i.direction == direction and i.arrived is not None]

# --------------------------------------------------------------------------- clients


async def ws_connect(url: str, origin: str, headers: dict[str, str] | None = None) -> Any:
    from websockets.asyncio.client import connect

    return await connect(url, origin=origin, additional_headers=headers, compression=None,
                         open_timeout=30, ping_interval=None, close_timeout=2, max_size=64 * 1024 * 1024,
                         max_queue=None)


class Customer:
    """One page: its push WebSocket and the chat it is in."""

    def __init__(self, vid: str, tracker: Tracker) -> None:
        self.vid = vid
        self.tok = ""  # the visitor token: the collector's answer to the visit's first batch
        self.tracker = tracker
        self.ws: Any = None
        self.chat = ""
        self.status = ""
        self.changed = asyncio.Event()
        self.closing = False
        self.task: asyncio.Task[None] | None = None

    async def open(self, base_ws: str, site: str) -> None:
        self.ws = await ws_connect(push_url(base_ws, site, self.vid), ORIGIN)
        await self.ws.send(hello(self.tok))
        self.task = asyncio.create_task(self.read())

    async def read(self) -> None:
        try:
            async for raw in self.ws:
                now = time.perf_counter()
                m = json.loads(raw)
                kind = m.get("type")
                if kind == "msg":
                    msg = m.get("msg") or {}
                    if msg.get("from") == "rep":
                        self.tracker.arrive(msg.get("cid"), now, msg.get("ts"))
                elif kind == "ack":
                    self.tracker.acked(m.get("cid"), now)
                elif kind == "chat":
                    self.chat, self.status = m.get("id", ""), m.get("status", "")
                    self.changed.set()
                elif kind == "error":
                    self.tracker.error(f"customer {self.vid}: error frame {m.get('message')!r}")
        except Exception as exc:  # noqa: BLE001 - reported below
            if not self.closing:
                self.tracker.error(f"customer {self.vid}: socket failed: {type(exc).__name__}: {exc}")
            return
        if not self.closing:
            self.tracker.error(f"customer {self.vid}: socket closed by the server "
                               f"({self.ws.close_code} {self.ws.close_reason})")

    async def wait_status(self, status: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.status != status:
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"customer {self.vid}: chat status {self.status!r}, not {status!r}, "
                                 f"after {timeout} s")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)

    async def say(self, counted: bool) -> Sent:
        cid, item = self.tracker.new("c2r", counted)
        item.chat = self.chat
        frame = json.dumps({"type": "say", "text": random.choice(TEXTS), "cid": cid})
        item.t, item.wall_ms = time.perf_counter(), time.time() * 1000
        await self.ws.send(frame)
        return item


class RepConsole:
    """One representative: a console session and its WebSocket."""

    def __init__(self, index: int, rid: str, email: str, tracker: Tracker) -> None:
        self.index = index
        self.rid = rid
        self.email = email
        self.tracker = tracker
        self.ws: Any = None
        self.accepts: dict[str, asyncio.Future[None]] = {}
        self.session: tuple[str, str, str] = ("", "", "")
        self.chat_ids: set[str] = set()
        self.frames: dict[str, int] = {}
        self.closing = False
        self.tasks: list[asyncio.Task[None]] = []

    async def login(self, http: Any) -> tuple[str, str]:
        """The console page's way in: the login form's CSRF token, the form, the workspace's
        token. Returns (session cookie, CSRF token for the WebSocket)."""
        r = await http.get("/console/login")
        found = re.search(r'name="csrf" value="([^"]+)"', r.text)
        if r.status_code != 200 or not found:
            raise BenchError(f"GET /console/login: {r.status_code}, no CSRF token in the form")
        r = await http.post("/console/login", data={"csrf": found.group(1), "email": self.email,
                                                    "password": PASSWORD, "next": "/console/"})
        if r.status_code != 303:
            raise BenchError(f"login as {self.email}: {r.status_code} {r.text[:200]}")
        r = await http.get("/console/")
        found = re.search(r'data-csrf="([^"]+)"', r.text)
        if r.status_code != 200 or not found:
            raise BenchError(f"GET /console/ after login: {r.status_code}, no data-csrf")
        cookie = http.cookies.get("beckon_session")
        if not cookie:
            raise BenchError("no session cookie after login")
        return cookie, found.group(1)

    async def open(self, http_base: str, cookie: str, csrf: str) -> None:
        """Connect the console (again: the session stays valid); returns once the server sent
        the rep's open chats, as it does on every connect."""
        self.session = (http_base, cookie, csrf)
        ws_base = "ws" + http_base[len("http"):]
        self.closing = False
        self.snapshot = asyncio.get_running_loop().create_future()
        self.ws = await ws_connect(f"{ws_base}/console/ws?csrf={urllib.parse.quote(csrf)}", http_base,
                                   {"Cookie": f"beckon_session={cookie}"})
        self.tasks = [asyncio.create_task(self.read()), asyncio.create_task(self.heartbeat())]
        self.chat_ids = await asyncio.wait_for(self.snapshot, 60)

    async def close(self) -> None:
        self.closing = True
        for task in self.tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 5)

    async def heartbeat(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.ws.send(json.dumps({"type": "presence", "status": "available"}))
            await asyncio.sleep(PRESENCE_EVERY_S)

    async def read(self) -> None:
        try:
            async for raw in self.ws:
                now = time.perf_counter()
                m = json.loads(raw)
                kind = m.get("type", "?")
                self.frames[kind] = self.frames.get(kind, 0) + 1
                if kind == "msg":
                    msg = m.get("msg") or {}
                    if msg.get("from") == "visitor":
                        self.tracker.arrive(msg.get("cid"), now, msg.get("ts"))
                elif kind == "ack":
                    self.tracker.acked(m.get("cid"), now)
                elif kind == "chats":
                    if not self.snapshot.done():
                        self.snapshot.set_result({c.get("id") for c in m.get("chats", [])})
                elif kind == "accepted":
                    fut = self.accepts.pop(m.get("id"), None)
                    if fut and not fut.done():
                        fut.set_result(None)
                elif kind == "error":
                    fut = self.accepts.pop(m.get("ref"), None)
                    if fut and not fut.done():
                        fut.set_exception(BenchError(f"accept refused: {m.get('message')}"))
                    else:
                        self.tracker.error(f"rep {self.index}: error frame {m.get('message')!r} "
                                           f"(ref {m.get('ref')!r})")
        except Exception as exc:  # noqa: BLE001 - reported below
            if not self.closing:
                self.tracker.error(f"rep {self.index}: console socket failed: {type(exc).__name__}: {exc}")
            return
        if not self.closing:
            self.tracker.error(f"rep {self.index}: console socket closed by the server "
                               f"({self.ws.close_code} {self.ws.close_reason})")

    async def accept(self, cid: str, timeout: float) -> None:
        fut = asyncio.get_running_loop().create_future()
        self.accepts[cid] = fut
        await self.ws.send(json.dumps({"type": "accept", "id": cid}))
        await asyncio.wait_for(fut, timeout)

    async def say(self, chat: str, counted: bool) -> Sent:
        cid, item = self.tracker.new("r2c", counted)
        item.chat = chat
        frame = json.dumps({"type": "say", "chat": chat, "text": random.choice(TEXTS), "cid": cid})
        item.t, item.wall_ms = time.perf_counter(), time.time() * 1000
        await self.ws.send(frame)
        return item


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


# --------------------------------------------------------------------------- 1. latency


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


# --------------------------------------------------------------------------- 2. capacity


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
        values = [pct(v, 95) for v in self.lat.values() if v]
        return max(values) if values else float("nan")

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


# --------------------------------------------------------------------------- 3. chat under a collector flood

FLOOD_LEAD_S = 3.0  # the flood runs this long before chat is measured, and a second past its end


@dataclass
class Window:
    """Chat measured over one window: quiet, or during a flood."""

    label: str
    gate: bool
    lat: dict[str, list[float]] = field(default_factory=dict)
    sent: int = 0
    lost: int = 0
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    loop_lag_ms: list[float] = field(default_factory=list)
    send_late_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    attempts: int = 1
    flood: WrkRun | None = None
    flood_connections: int = 0

    def p(self, direction: str, q: float) -> float:
        return pct(self.lat.get(direction, []), q)

    @property
    def p95(self) -> float:
        values = [pct(v, 95) for v in self.lat.values() if v]
        return max(values) if values else float("nan")

    @property
    def ok(self) -> bool:
        return not self.errors and self.lost == 0 and self.p95 < GOAL_P95_MS

    def answers(self, kind: str) -> int:
        """The flood's answers: "200", "503" or "other" (any other status, and requests that
        got no answer: socket errors, timeouts)."""
        if not self.flood:
            return 0
        codes = self.flood.codes
        if kind in ("200", "503"):
            return codes.get(int(kind), 0)
        return sum(n for c, n in codes.items() if c not in (200, 503)) + sum(self.flood.errors.values())

    def mix(self) -> str:
        total = sum(self.answers(k) for k in ("200", "503", "other"))
        return " / ".join(f"{self.answers(k) / max(total, 1):.0%}" for k in ("200", "503", "other"))


@dataclass
class FloodResult:
    windows: list[Window] = field(default_factory=list)
    chats: int = 0
    every: float = 0.0
    connections: int = 0
    batches: int = 0
    visitors: int = 0
    retry_after: bool = True  # the flood honours Retry-After
    server_problems: list[str] = field(default_factory=list)
    not_run: str = ""


async def chat_window(args: argparse.Namespace, bench: Bench, win: Window, meter: CpuMeter,
                      rng: random.Random) -> None:
    """The chats' load (each chat a message every --flood-every s, rep and customer in turn)
    for --flood-warm + --flood-seconds; the window's numbers into ``win``."""
    errors_before = len(bench.tracker.errors)
    with LagMonitor() as mon:
        load = asyncio.create_task(run_load(bench, args.flood_every, args.flood_warm, args.flood_seconds, rng))
        await asyncio.sleep(args.flood_warm)
        meter.start()
        items, late, window = await load
        win.cpu = meter.stop()
    # after a flood the backlog may take long to clear: every message counts, however late
    await drain(bench.tracker, items, args.flood_drain)
    win.loop_lag_ms, win.send_late_ms, win.seconds = mon.samples, late, window
    counted = [i for i in items if i.counted]
    win.sent = len(counted)
    win.lat = {d: latencies(counted, d) for d in ("r2c", "c2r")}
    win.lost = sum(1 for i in counted if i.arrived is None)
    win.errors = bench.tracker.errors[errors_before:]
    bench.tracker.sent.clear()


def flood_line(win: Window) -> str:
    r2c, c2r = win.lat.get("r2c", []), win.lat.get("c2r", [])
    text = (f"rep->customer p50 {ms(pct(r2c, 50))} / p95 {ms(pct(r2c, 95))} / p99 {ms(pct(r2c, 99))} ms; "
            f"customer->rep p50 {ms(pct(c2r, 50))} / p95 {ms(pct(c2r, 95))} / p99 {ms(pct(c2r, 99))} ms; "
            f"{win.sent:,} messages, lost {win.lost}, errors {len(win.errors)}")
    if win.flood:
        text += (f"\n      flood: {win.flood.rps:,.0f} answers/s ({win.answers('200') / win.flood.seconds:,.0f}/s "
                 f"taken, {win.answers('503') / win.flood.seconds:,.0f}/s shed with 503, "
                 f"{win.answers('other'):,} other)")
    return text + (f"\n      CPU (% of one core): {cpu_line(win.cpu)}; client loop lag p99 "
                   f"{ms(pct(win.loop_lag_ms, 99))} ms")


async def flood_bench(args: argparse.Namespace, redis_url: str, redis_pid: int, server: Server, gate: bool,
                      wrk: str, work: Path, flood: dict[str, Any], deadline: float, out: list[Window]) -> None:
    """On one 2-worker server: chats, then (with the gate) a quiet window, then a window with
    wrk flooding the collector from its own process; each window into ``out`` when measured."""
    rng = random.Random(args.seed)
    async with Bench(redis_url, server.url, server.url, secrets.token_hex(3)) as bench:
        t = time.monotonic()
        await bench.add_chats(args.flood_chats, accept_in_console=False)
        say(f"    {len(bench.chats)} chats with {len(bench.reps)} reps in {time.monotonic() - t:.1f} s; "
            f"a message per chat every {args.flood_every:g} s ({len(bench.chats) / args.flood_every:,.0f}/s)")
        if "bodies" not in flood:  # the flood's site and tokens, once: both servers share the Redis
            flood["site"] = create_site(server.url, "Flooded shop")
            batches = with_site(make_batches(args.flood_batches, args.flood_visitors, args.seed), flood["site"])
            t = time.monotonic()
            tokens = await visitor_tokens(server.url, first_batches(batches), label="flood visitors")
            flood["bodies"] = write_bodies(work / "flood.txt", with_tokens(batches, tokens))
            say(f"    flood: {len(batches):,} batches of {len(tokens):,} visitors of another site, each "
                f"presenting its token (fetched in {time.monotonic() - t:.1f} s)")
        await asyncio.sleep(1.0)
        settle_gc()
        groups = {"workers": server.pids(), "redis": redis_pid, "client": os.getpid()}
        kinds = ["quiet", "flood"] if gate else ["flood"]
        for kind in kinds:
            label = "quiet" if kind == "quiet" else f"flood, gate {'on' if gate else 'off'}"
            best: Window | None = None
            for attempt in range(1, args.retries + 2):
                await wait_quiet(groups, args.quiet_below, args.quiet_wait)
                win = Window(label, gate, attempts=attempt, flood_connections=args.flood_connections)
                say(f"  {label}{f' (attempt {attempt})' if attempt > 1 else ''}: {args.flood_warm:g} + "
                    f"{args.flood_seconds:g} s of chat"
                    + (f", wrk with {args.flood_connections} connections posting batches "
                       f"({'ignoring' if args.flood_ignore_retry_after else 'honouring'} Retry-After) from "
                       f"{FLOOD_LEAD_S:g} s before until 1 s after" if kind == "flood" else ""))
                if kind == "flood":
                    flooder = Wrk(wrk, server.url + "/v1/events", flood["bodies"],
                                  FLOOD_LEAD_S + args.flood_warm + args.flood_seconds + 1, args.flood_connections,
                                  timeout_s=60, retry_after=not args.flood_ignore_retry_after)
                    try:
                        await asyncio.sleep(FLOOD_LEAD_S)
                        meter = CpuMeter({**groups, "wrk": flooder.pid})
                        await chat_window(args, bench, win, meter, rng)
                        loop = asyncio.get_running_loop()
                        win.flood = await loop.run_in_executor(None, lambda: flooder.result(strict=False))
                    finally:
                        flooder.stop()
                else:
                    await chat_window(args, bench, win, CpuMeter(groups), rng)
                say(f"    {flood_line(win)}")
                if best is None or win.cpu["other"] < best.cpu["other"]:
                    best = win
                if win.cpu["other"] < args.disturbed or attempt > args.retries:
                    break
                if time.monotonic() + 2 * (FLOOD_LEAD_S + args.flood_warm + args.flood_seconds) + 10 > deadline:
                    say("    (no time left to measure again)")
                    break
                say(f"    disturbed: other processes used {win.cpu['other']:.0f}% of a core meanwhile; "
                    f"measuring again")
                await asyncio.sleep(2.0)
            assert best is not None
            if best is not win:
                say(f"    kept attempt {best.attempts}, the least disturbed ({best.cpu['other']:.0f}%)")
            out.append(best)
    gc.unfreeze()


def run_flood(args: argparse.Namespace, redis: Any, stack: contextlib.ExitStack, deadline: float,
              results: dict[str, Any]) -> None:
    """Measurement 3 into results["flood"], window by window (a failure keeps those done)."""
    say("\n## 3. chat under a collector flood (2 workers)")
    res = results["flood"] = FloodResult(chats=args.flood_chats, every=args.flood_every,
                                         connections=args.flood_connections, batches=args.flood_batches,
                                         visitors=args.flood_visitors,
                                         retry_after=not args.flood_ignore_retry_after)
    wrk = ensure_wrk()
    if not wrk:
        res.not_run = "wrk is not available (apt-get install wrk)"
        say(f"  NOT RUN: {res.not_run}")
        return
    work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="beckon-flood-")))
    flood: dict[str, Any] = {}
    for gate in (True, False):
        settings = ("load gate on: " + ", ".join(
            f"{name} {os.environ.get(name, default + ' (default)')}" for name, default in
            (("BECKON_COLLECTOR_MAX_INFLIGHT", str(Settings.collector_max_inflight)),
             ("BECKON_COLLECTOR_MAX_LAG_MS", f"{Settings.collector_max_lag_ms:g}")))) \
            if gate else "load gate effectively off (both limits 10^9)"
        say(f"  uvicorn with 2 workers, {settings}")
        server = start_server(stack, redis.url, workers=2, ip_per_min=10**9, visitor_per_min=10**9,
                              secret=secrets.token_urlsafe(24), env=None if gate else GATE_OFF)
        try:
            run_async(flood_bench(args, redis.url, redis.proc.pid, server, gate, wrk, work, flood, deadline,
                                  res.windows))
        finally:
            res.server_problems += [f"gate {'on' if gate else 'off'}: {p}" for p in server.problems()]
            server.stop()


# --------------------------------------------------------------------------- report


def report_flood(fl: FloodResult) -> bool:
    """The table and charts of measurement 3; whether chat met its goal during the flood with
    the gate on."""
    if fl.not_run:
        say(f"| chat under a collector flood | not run: {fl.not_run} |\n|---|---|\n")
        return False
    wins = fl.windows
    gated = next((w for w in wins if w.flood and w.gate), None)
    ok = gated is not None and gated.ok
    say(f"| 2 workers, {fl.chats} chats (a message per chat every {fl.every:g} s); flood: wrk, "
        f"{fl.connections} connections, closed loop, {'honouring' if fl.retry_after else 'ignoring'} "
        f"Retry-After | " + " | ".join(w.label for w in wins) + " |")
    say("|---|" + "---|" * len(wins))

    def row(label: str, fn: Any) -> None:
        say(f"| {label} | " + " | ".join(fn(w) for w in wins) + " |")

    for d, name in (("r2c", "rep -> customer"), ("c2r", "customer -> rep")):
        row(f"**{name}** p50 / **p95** / p99 / max", lambda w, d=d: (
            f"{ms(w.p(d, 50))} / **{ms(w.p(d, 95))}** / {ms(w.p(d, 99))} / "
            f"{ms(max(w.lat.get(d) or [float('nan')]))} ms"))
    row("messages timed (lost); errors", lambda w: f"{w.sent:,} ({w.lost}); {len(w.errors)}")
    row(f"goal: p95 < {GOAL_P95_MS:.0f} ms both ways, nothing lost", lambda w: verdict(w.ok))
    row("flood: answers/s", lambda w: f"{w.flood.rps:,.0f}" if w.flood else "-")
    row("- batches taken (200)/s", lambda w: f"{w.answers('200') / w.flood.seconds:,.0f}" if w.flood else "-")
    row("- shed (503 + Retry-After)/s", lambda w: f"{w.answers('503') / w.flood.seconds:,.0f}" if w.flood else "-")
    row("- status mix 200 / 503 / other", lambda w: w.mix() if w.flood else "-")
    row("- answer latency p50 / p99 (wrk)", lambda w: (
        f"{ms(pct_us(w.flood.latencies_us, 50))} / {ms(pct_us(w.flood.latencies_us, 99))} ms" if w.flood else "-"))
    row("CPU: workers; redis; wrk; client; other (% of one core)", lambda w: "; ".join(
        f"{w.cpu.get(k, float('nan')):.0f}%" if k in w.cpu else "-"
        for k in ("workers", "redis", "wrk", "client", "other")))
    row("client: sends late p95; loop lag p99",
        lambda w: f"{ms(pct(w.send_late_ms, 95))}; {ms(pct(w.loop_lag_ms, 99))} ms")
    row("measured; attempts", lambda w: f"{w.seconds:.0f} s; {w.attempts}")
    say("")
    say(f"Chat during the flood with the load gate: {verdict(ok)} (p95 under {GOAL_P95_MS:.0f} ms both ways).")
    say("")
    say("```")
    rows = [(f"{w.label}: {name}", w.p(d, 95)) for w in wins
            for d, name in (("r2c", "rep->cust"), ("c2r", "cust->rep"))]
    say(chart("3. chat p95 (ms): quiet vs collector flood", rows, "ms", goal=GOAL_P95_MS, fmt=ms))
    floods = [w for w in wins if w.flood]
    if floods:
        say("")
        say(chart("3. the flood's answers per second",
                  [(f"{w.label}: {kind}", w.answers(code) / w.flood.seconds) for w in floods
                   for kind, code in (("taken (200)", "200"), ("shed (503)", "503"), ("other", "other"))],
                  "/s", fmt="{:,.0f}"))
    say("```")
    for w in wins:
        for e in w.errors[:5]:
            say(f"- {w.label}: {e}")
    for p in fl.server_problems[:10]:
        say(f"- flood run, worker log: {p}")
    say("")
    return ok


def pct_us(hist: Any, q: float) -> float:
    """Percentile in ms of a histogram {µs: count} (nearest rank)."""
    total = sum(hist.values())
    if not total:
        return float("nan")
    rank, seen = max(1, -(-total * q // 100)), 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= rank:
            return value / 1000
    return max(hist) / 1000




def per_message(commands: dict[str, int], messages: int) -> str:
    if not commands or not messages:
        return "n/a"
    total = sum(commands.values()) / messages
    top = sorted(commands.items(), key=lambda kv: -kv[1])[:4]
    return f"{total:.1f} (" + ", ".join(f"{k} {v / messages:.1f}" for k, v in top) + ")"


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

    row("**sent on one socket -> arrived on the other**, p50 / **p95** / p99 / max",
        lambda d: (f"{ms(pct(lat.lat(d), 50))} / **{ms(pct(lat.lat(d), 95))}** / {ms(pct(lat.lat(d), 99))} / "
                   f"{ms(max(lat.lat(d) or [float('nan')]))} ms"),
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


def report(lats: list[LatencyResult] | None, cap: CapacityResult | None, flood: FloodResult | None) -> bool:
    ok = True
    say("\n## Results\n")
    for lat in lats or []:
        ok &= report_latency(lat)
    if lats and len(lats) > 1:
        report_replicas(lats)
    if cap and cap.steps:
        best = cap.best
        cap_ok = best > 0
        ok &= cap_ok
        say(f"| one worker, a message per chat every {cap.every:g} s (rep and customer in turn) | "
            + " | ".join(f"{s.chats:,} chats" for s in cap.steps) + " |")
        say("|---|" + "---|" * len(cap.steps))

        def row2(label: str, fn: Any) -> None:
            say(f"| {label} | " + " | ".join(fn(s) for s in cap.steps) + " |")

        row2("representatives (console sessions)", lambda s: f"{s.reps}")
        row2("messages measured (per s)", lambda s: f"{s.sent:,} ({s.rate:,.0f}/s)" if s.seconds else "-")
        row2("**rep -> customer** p50 / **p95** / p99 / max", lambda s: (
            f"{ms(pct(s.lat.get('r2c', []), 50))} / **{ms(pct(s.lat.get('r2c', []), 95))}** / "
            f"{ms(pct(s.lat.get('r2c', []), 99))} / {ms(max(s.lat.get('r2c') or [float('nan')]))} ms"))
        row2("**customer -> rep** p50 / **p95** / p99 / max", lambda s: (
            f"{ms(pct(s.lat.get('c2r', []), 50))} / **{ms(pct(s.lat.get('c2r', []), 95))}** / "
            f"{ms(pct(s.lat.get('c2r', []), 99))} / {ms(max(s.lat.get('c2r') or [float('nan')]))} ms"))
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
            f"({verdict(cap_ok)}; worker VmRSS {cap.rss_idle_mb:.1f} MB with none). {cap.reason}.")
        say("")
    charts = any(lat.lat("r2c") for lat in lats or []) or bool(cap and cap.steps)
    if charts:
        say("```")
    for lat in [lat for lat in lats or [] if lat.lat("r2c")]:
        rows = []
        for d, name in (("r2c", "rep->cust"), ("c2r", "cust->rep")):
            v = lat.lat(d)
            if v:
                rows += [(f"{name} p50", pct(v, 50)), (f"{name} p95", pct(v, 95)), (f"{name} p99", pct(v, 99)),
                         (f"{name} max", max(v))]
        rows += [("bare pub/sub p50", pct(lat.pubsub_ms, 50))]
        say(chart(f"1. message latency across two workers ({lat.label})", rows, "ms", goal=GOAL_P95_MS,
                  fmt="{:,.2f}"))
        say("")
        say(chart(f"1. rep -> customer: messages per bucket ({len(lat.lat('r2c')):,})",
                  histogram(lat.lat("r2c"), LATENCY_BUCKETS), "msgs", width=40, fmt="{:,.0f}"))
        say("")
    if cap and cap.steps:
        done = [s for s in cap.steps if s.seconds]
        say(chart("2. p95 latency (worse direction) by concurrent chats on one worker",
                  [(f"{s.chats:>5,} chats", s.p95) for s in done], "ms", goal=GOAL_P95_MS))
        say("")
        say(chart("2. worker CPU by concurrent chats (% of one core)",
                  [(f"{s.chats:>5,} chats", s.cpu.get("worker", float("nan"))) for s in done], "%", fmt="{:,.0f}"))
        say("")
        say(chart("2. worker VmRSS by concurrent chats",
                  [("    0 chats", cap.rss_idle_mb)] + [(f"{s.chats:>5,} chats", s.rss_mb) for s in done], "MB"))
    if charts:
        say("```")
    for lat in lats or []:
        for e in lat.errors[:10]:
            say(f"- latency run ({lat.label}): {e}")
        for p in lat.server_problems[:10]:
            say(f"- latency run ({lat.label}), worker log: {p}")
    if cap:
        for s in cap.steps:
            for e in s.errors[:5]:
                say(f"- {s.chats:,} chats: {e}")
        for p in cap.server_problems[:10]:
            say(f"- capacity run, worker log: {p}")
    if flood:
        say("")
        ok &= report_flood(flood)
    other = [c.get("other", 0) for lat in lats or [] for c in lat.cpu.values()] + \
        [s.cpu.get("other", 0) for s in (cap.steps if cap else [])] + \
        [w.cpu.get("other", 0) for w in (flood.windows if flood else [])]
    if other and max(other) > 25:
        say(f"\nNote: other processes used up to {max(other):.0f}% of a core during a measurement on this "
            f"{os.cpu_count()}-core machine; the timings are disturbed by them.")
    say(f"\nGoals {'all met' if ok else 'NOT all met'}.")
    return ok


# --------------------------------------------------------------------------- arguments


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = parser(__doc__, max_seconds=900)
    p.add_argument("--chats", type=int, default=20, help="1: chats the messages are spread over")
    p.add_argument("--messages", type=int, default=3000, help="1: messages timed in each direction")
    p.add_argument("--rate", type=float, default=200, help="1: messages per second (paced, open loop)")
    p.add_argument("--warmup", type=int, default=100, help="1: messages sent first and not counted")
    p.add_argument("--steps", default="100,250,500,1000,1500,2000",
                   help="2: concurrent chats at each step, increasing")
    p.add_argument("--every", type=float, default=3.0,
                   help="2: seconds between two messages of one chat (rep and customer in turn)")
    p.add_argument("--warm-seconds", type=float, default=3.0, help="2: load before each step's measurement")
    p.add_argument("--step-seconds", type=float, default=20.0, help="2: measured seconds per step")
    p.add_argument("--quiet-below", type=float, default=25,
                   help="before each measurement, wait until other processes use less than this "
                        "(%% of one core)")
    p.add_argument("--quiet-wait", type=float, default=20, help="... but at most this many seconds")
    p.add_argument("--disturbed", type=float, default=40,
                   help="a measurement during which other processes used this much (%% of one core) "
                        "is repeated (1: always, 2: when it missed the goal)")
    p.add_argument("--retries", type=int, default=1, help="how often a disturbed measurement is repeated")
    p.add_argument("--skip-latency", action="store_true", help="skip measurement 1")
    p.add_argument("--flood-chats", type=int, default=200, help="3: chats (at most 20 per representative)")
    p.add_argument("--flood-every", type=float, default=2.0,
                   help="3: seconds between two messages of one chat (rep and customer in turn)")
    p.add_argument("--flood-warm", type=float, default=2.0, help="3: chat load before each window is measured")
    p.add_argument("--flood-seconds", type=float, default=15.0, help="3: measured seconds per window")
    p.add_argument("--flood-drain", type=float, default=60.0,
                   help="3: seconds to wait for messages still under way after a window (then they count lost)")
    p.add_argument("--flood-connections", type=int, default=512,
                   help="3: wrk's connections: pages posting batches at once, each its next as soon as the "
                        "last is answered")
    p.add_argument("--flood-ignore-retry-after", action="store_true",
                   help="3: the flood sends its next batch at once after a 503, ignoring Retry-After")
    p.add_argument("--flood-batches", type=int, default=20000, help="3: distinct batches the flood sends")
    p.add_argument("--flood-visitors", type=int, default=5000, help="3: distinct visitors of the flood")
    p.add_argument("--skip-capacity", action="store_true", help="skip measurement 2")
    p.add_argument("--skip-flood", action="store_true", help="skip measurement 3")
    p.add_argument("--cluster", action="store_true",
                   help="1 on a private 3-master Redis Cluster with a replica each (2 and 3 are skipped)")
    p.add_argument("--chat-replicas", default="",
                   help="1: once for each BECKON_CHAT_REPLICAS of the servers, e.g. 0,1 (default: theirs)")
    args = parse(p, argv, QUICK)
    try:
        args.chat_replicas = [int(x) for x in args.chat_replicas.split(",") if x.strip()]
    except ValueError:
        p.error("--chat-replicas: whole numbers separated by commas")
    if args.cluster:
        args.skip_capacity = args.skip_flood = True
    try:
        args.steps = [int(x) for x in args.steps.split(",") if x.strip()]
    except ValueError:
        p.error("--steps: whole numbers separated by commas")
    if not args.steps or any(b <= a for a, b in zip(args.steps, args.steps[1:])) or args.steps[0] < 1:
        p.error("--steps must be positive and increasing")
    if args.chats < 1 or args.messages < 1 or args.rate <= 0 or args.every <= 0 or args.warmup < 0:
        p.error("--chats, --messages, --rate and --every must be positive")
    if args.flood_chats < 1 or args.flood_every <= 0 or args.flood_seconds <= 0 or args.flood_connections < 1 \
            or args.flood_batches < args.flood_visitors or args.flood_visitors < 1:
        p.error("--flood-*: positive, and --flood-batches at least --flood-visitors")
    return args


if __name__ == "__main__":
    args = parse_args(None)
    sys.exit(main("bench/chat", args, measure(args),
                  lambda r: report(r.get("latency"), r.get("capacity"), r.get("flood"))))
