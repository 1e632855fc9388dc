"""What every benchmark in scripts/bench/ shares, so that each benchmark file holds only its
own measurement.

- /proc meters: CPU per process group and for the rest of the machine, memory (VmRSS),
  file descriptors; how late an asyncio loop wakes up;
- servers: a private Redis (or Redis Cluster) and uvicorn processes through
  ``backend.testing`` (the same harness the tests use), stopped with their whole process
  tree, configured so the benchmark's own traffic is not rate limited;
- visitors: realistic batches of events, and the visitor tokens the collector hands out (a
  page's push socket and its later batches present them); wrk, in the background, posting
  batches closed loop;
- statistics and text charts: percentiles, histograms, horizontal bars;
- the skeleton of ``main()``: common arguments (``--quick`` for a short smoke run,
  ``--max-seconds``, ``--seed``, ``--check``), Ctrl-C and time limits that always clean up,
  failures reported with what was measured before them, and the exit status (0 measured,
  1 failed, 3 with --check when a goal is missed, 128+N on signal N).

Meters read /proc directly instead of depending on psutil, so the benchmarks need nothing
beyond the project's own packages.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import shutil
import signal
import string
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from backend.testing.servers import RedisServer, WebServer, free_port, poll  # noqa: F401 - for the benchmarks

CLK_TCK = os.sysconf("SC_CLK_TCK")
ADMIN = "bench-admin-token"
ORIGIN = "https://shop.example"  # the benchmark site's origin
APP = "backend.app:create_app"
DEMO_APP = "backend.demo.app:create_app"


class BenchError(RuntimeError):
    """A measurement that cannot be trusted (errors, missing data): the run fails."""


class OutOfTime(KeyboardInterrupt):
    """The whole run took longer than --max-seconds (raised from SIGALRM). A KeyboardInterrupt,
    because uvloop lets only that (and SystemExit) out of a signal handler."""


def say(msg: str = "", end: str = "\n") -> None:
    """Print at once, so progress shows while a long phase runs (also when piped)."""
    print(msg, end=end, flush=True)


# --------------------------------------------------------------------------- /proc


def proc_stat(pid: int) -> list[str] | None:
    """/proc/PID/stat from field 3 (state) on, split after the command name, which may hold
    spaces and parentheses; None when the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def descendants(root: int) -> list[int]:
    """All processes below ``root`` (uvicorn --workers N forks), so they can be measured
    and killed even when their parent no longer is."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = proc_stat(int(entry))
            if st:
                children.setdefault(int(st[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cpu_seconds(pids: list[int]) -> float:
    """CPU seconds used by the processes and by the children they have reaped (utime, stime,
    cutime, cstime); a process that is gone counts 0."""
    total = 0
    for pid in pids:
        st = proc_stat(pid)
        if st:
            total += sum(int(x) for x in st[11:15])
    return total / CLK_TCK


def machine_busy() -> float:
    """CPU seconds used on the whole machine (all cores) plus time a hypervisor took away,
    from /proc/stat; interrupts (which loopback traffic causes) left out. What the
    benchmark's own processes did not use of it is other work disturbing the measurement."""
    try:
        user, nice, system, _idle, _iowait, _irq, _softirq, steal = (
            int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
        )
    except (OSError, ValueError):
        return 0.0
    return (user + nice + system + steal) / CLK_TCK


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon, RssFile, VmHWM in KB, from /proc/PID/status ({} when it is gone)."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                out[name] = int(value.split()[0])
    except OSError:
        pass
    return out


def rss_mb(pid: int) -> float:
    kb = proc_status(pid).get("VmRSS")
    return float("nan") if kb is None else kb / 1024


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def fd_limit(pid: int) -> str:
    """How many files the process may open ("?" when unknown)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return line.split()[3]
    return "?"


def raise_fd_limit(needed: int) -> tuple[int, int]:
    """Raise RLIMIT_NOFILE (before the servers start, so they inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft, hard
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return needed, needed
        except (ValueError, OSError):
            raise BenchError(
                f"need {needed} file descriptors, the hard limit is {hard} (raise it with ulimit -Hn as root)"
            ) from None
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return needed, hard


def this_tree() -> list[int]:
    """This process and everything it started (servers, Redis, Chromium)."""
    return [os.getpid(), *descendants(os.getpid())]


class CpuMeter:
    """CPU used over a window, in % of one core, by named groups of processes, and by the rest
    of the machine ("other": what disturbs the measurement on a shared machine).

    A group is a pid, a list of pids, or a function that lists them at each reading (a tree
    that changes). Each process counts with the children it reaped, so a load generator that
    ran and exited within the window counts with this process. As a context manager the
    figures are in ``.pct`` afterwards; or call start() and stop()."""

    def __init__(self, groups: dict[str, int | list[int] | Callable[[], list[int]]]) -> None:
        self.groups = groups
        self.pct: dict[str, float] = {}

    def _pids(self, name: str) -> list[int]:
        group = self.groups[name]
        return group() if callable(group) else [group] if isinstance(group, int) else group

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.c0 = {name: cpu_seconds(self._pids(name)) for name in self.groups}
        self.m0 = machine_busy()

    def stop(self) -> dict[str, float]:
        wall = max(time.monotonic() - self.t0, 1e-9)
        used = {name: cpu_seconds(self._pids(name)) - self.c0[name] for name in self.groups}
        other = machine_busy() - self.m0 - sum(used.values())
        self.pct = {name: 100 * v / wall for name, v in used.items()}
        self.pct["other"] = max(0.0, 100 * other / wall)
        return self.pct

    def __enter__(self) -> "CpuMeter":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def line(self) -> str:
        return cpu_line(self.pct)


def cpu_line(pct: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.0f}%" for k, v in pct.items())


class RssSampler:
    """Samples a process's VmRSS every ``every`` seconds in a thread; ``.peak`` in KB."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        self.pid = pid
        self.every = every
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, proc_status(self.pid).get("VmRSS", 0))
            self._stop.wait(self.every)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(2)


class LagMonitor:
    """How late this process's event loop wakes up (``.samples``, ms): the client's own share
    of any latency it measures."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.01)
            self.samples.append((loop.time() - t - 0.01) * 1000)

    def __enter__(self) -> "LagMonitor":
        self.task = asyncio.create_task(self.run())
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.task:
            self.task.cancel()


async def wait_quiet(groups: dict[str, Any], below: float, at_most: float) -> float:
    """Wait (at most ``at_most`` s) until processes outside ``groups`` use less than ``below`` %
    of a core: on a 2-core machine anything else running shows up in the latency tail.
    Returns the last level seen."""
    meter = CpuMeter(groups)
    t0 = time.monotonic()
    told = False
    while True:
        meter.start()
        await asyncio.sleep(1.0)
        other = meter.stop()["other"]
        if other < below:
            if told:
                say(f"    quiet after {time.monotonic() - t0:.0f} s ({other:.0f}%)")
            return other
        if time.monotonic() - t0 >= at_most:
            say(f"    other processes still use {other:.0f}% of a core after {at_most:g} s; measuring anyway")
            return other
        if not told:
            say(f"    other processes use {other:.0f}% of a core; waiting up to {at_most:g} s for under {below:g}%")
            told = True


# --------------------------------------------------------------------------- servers


class Server(WebServer):
    """A uvicorn server (``backend.testing``'s WebServer) that stops its whole process tree
    (uvicorn --workers N forks): a benchmark that leaves a worker behind disturbs the next
    measurement."""

    def __init__(self, factory: str, env: dict[str, str], workers: int = 1, port: int | None = None) -> None:
        self.stopped = False
        super().__init__(factory, env, workers=workers, port=port)

    def pids(self) -> list[int]:
        """uvicorn and every process below it."""
        return [self.proc.pid, *descendants(self.proc.pid)]

    def workers(self) -> list[int]:
        """The processes that serve requests: uvicorn's children, or uvicorn itself."""
        kids = [p for p in descendants(self.proc.pid) if (proc_stat(p) or ["", ""])[1] == str(self.proc.pid)]
        return kids or [self.proc.pid]

    def problems(self) -> list[str]:
        """What the server logged (uvicorn runs with --log-level warning), counted: each
        traceback's last line, and warnings, e.g. "3 x redis.exceptions.MaxConnectionsError: ..."."""
        found: dict[str, int] = {}
        for line in self.output().splitlines():
            text = line.strip()
            if not text or line[0].isspace() or text.startswith(("Traceback", "The above", "During")) \
                    or text.startswith("^"):
                continue
            found[text[:160]] = found.get(text[:160], 0) + 1
        return [f"{n:,} x {text}" for text, n in sorted(found.items(), key=lambda kv: -kv[1])]

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        tree = descendants(self.proc.pid)
        try:
            super().stop()
        finally:
            for pid in tree:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


def start_redis(stack: contextlib.ExitStack) -> RedisServer:
    """A private redis-server, stopped when ``stack`` closes."""
    redis = RedisServer()
    stack.callback(redis.stop)
    return redis


def start_cluster(stack: contextlib.ExitStack) -> Any:
    """A private Redis Cluster (3 masters with a replica each, ``backend.testing.cluster``) and
    the job queue's own single Redis (rq cannot use a cluster), stopped when ``stack`` closes:
    ``url`` for BECKON_REDIS_URL, ``queue_url`` for BECKON_QUEUE_URL."""
    from backend.testing.cluster import ClusterStore

    store = ClusterStore()
    stack.callback(store.stop)
    return store


def redis_pids(store: Any) -> list[int]:
    """The redis-server processes of a store from start_redis or start_cluster (every node)."""
    if hasattr(store, "cluster"):
        return [n.proc.pid for n in store.cluster.nodes if n.proc]
    return [store.proc.pid]


def start_server(stack: contextlib.ExitStack, redis_url: str, *, factory: str = APP, workers: int = 1,
                 secret: str = "", port: int | None = None, ip_per_min: int = 1_000_000,
                 visitor_per_min: int = 100_000, env: dict[str, str] | None = None) -> Server:
    """The backend (or ``factory``) on uvicorn, stopped when ``stack`` closes; rate limits
    raised so that nothing is throttled by the benchmark's own traffic."""
    port = port or free_port()
    base = {
        "BECKON_REDIS_URL": redis_url,
        "BECKON_ADMIN_TOKEN": ADMIN,
        "BECKON_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "BECKON_RATE_VISITOR_PER_MIN": str(visitor_per_min),
        "BECKON_RATE_IP_PER_MIN": str(ip_per_min),
        **({"BECKON_SECRET_KEY": secret} if secret else {}),
        **(env or {}),
    }
    server = Server(factory, base, workers=workers, port=port)
    stack.callback(server.stop)
    return server


# The collector's load gate effectively off: a worker never turns batches away with 503. The
# collector benchmark measures what a batch costs at saturation (the gate would shed some when
# the machine is busy); chat.py measures the gate itself, on and off.
GATE_OFF = {"BECKON_COLLECTOR_MAX_INFLIGHT": "1000000000", "BECKON_COLLECTOR_MAX_LAG_MS": "1000000000"}


def push_url(base_ws: str, site: str, vid: str) -> str:
    """A page's push WebSocket URL (``ws://host:port``). The visitor's token is not in it: the
    socket's first frame carries it (``hello()``), or the server closes it with 4403."""
    return f"{base_ws}/v1/push?{urllib.parse.urlencode({'site': site, 'vid': vid})}"


def hello(tok: str) -> str:
    """The first frame a page sends on its push WebSocket: the token its visit was given."""
    return json.dumps({"type": "hello", "tok": tok})


def create_site(url: str, name: str = "Bench shop", origins: tuple[str, ...] = (ORIGIN,)) -> str:
    """A site through the site API; its key."""
    req = urllib.request.Request(
        url + "/v1/sites",
        method="POST",
        data=json.dumps({"name": name, "origins": list(origins)}).encode(),
        headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())["key"]


# --------------------------------------------------------------------------- visitors: batches and tokens
# Realistic batches (collector.py measures them; chat.py floods the collector with them), and
# the visitor tokens the collector hands out: a random secret in the answer to a visit's first
# batch, which later batches, the push socket's hello and the offer routes must present.


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


def with_tokens(batches: list[tuple[int, bytes]], tokens: dict[str, str]) -> list[tuple[int, bytes]]:
    """The batches as a page that holds its visitor's token sends them (b.js: ``tok`` before
    ``events``); visitors without a token in ``tokens`` are left as they are."""
    out = []
    for n, body in batches:
        data = json.loads(body)
        tok = tokens.get(data["vid"])
        if tok:
            events = data.pop("events")
            data.update(tok=tok, events=events)
            body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        out.append((n, body))
    return out


def first_batches(batches: list[tuple[int, bytes]]) -> list[tuple[str, bytes]]:
    """Each visitor's first batch, in order: (visitor id, body)."""
    seen: dict[str, bytes] = {}
    for _, body in batches:
        seen.setdefault(json.loads(body)["vid"], body)
    return list(seen.items())


def page_view(site: str, vid: str, path: str = "/product/kayak") -> bytes:
    """The batch a page sends first: its page view."""
    return json.dumps({"v": 1, "site": site, "vid": vid, "pid": "pageview-" + os.urandom(6).hex(),
                       "events": [{"t": "pv", "url": ORIGIN + path, "title": "Kayak", "visits": 1}]}).encode()


SETUP_RETRIES = 200  # setup's batches answered 503 by the load gate are sent again, this often
SETUP_RETRY_S = 0.02  # sooner than Retry-After: setup is not measured, and only wants to be done


async def post_all(base_url: str, bodies: list[bytes], connections: int = 16,
                   path: str = "/v1/events") -> list[tuple[int, bytes]]:
    """POST each body (text/plain, the site's Origin) over ``connections`` keep-alive HTTP/1.1
    connections; the answers' (status, body), in order. A plain asyncio client: an HTTP
    library's own overhead would make setup take longer than the measurement."""
    url = urllib.parse.urlsplit(base_url)
    head = (f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: text/plain;charset=UTF-8\r\n"
            f"Origin: {ORIGIN}\r\nUser-Agent: beckon-bench\r\n").encode()
    out: list[tuple[int, bytes]] = [(0, b"")] * len(bodies)
    todo = iter(range(len(bodies)))

    async def conn() -> None:
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        try:
            for i in todo:
                for _ in range(SETUP_RETRIES):  # a 503 is the load gate shedding: send it again, as pages do
                    writer.write(head + b"Content-Length: %d\r\n\r\n" % len(bodies[i]) + bodies[i])
                    status_line, *lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
                    length = next((int(v) for k, _, v in (ln.partition(b":") for ln in lines)
                                   if k.strip().lower() == b"content-length"), 0)
                    out[i] = (int(status_line[9:12]), await reader.readexactly(length) if length else b"")
                    if out[i][0] != 503:
                        break
                    await asyncio.sleep(SETUP_RETRY_S)
        finally:
            writer.close()

    await asyncio.gather(*(conn() for _ in range(min(connections, len(bodies)) or 1)))
    return out


async def visitor_tokens(base_url: str, firsts: list[tuple[str, bytes]], connections: int = 16,
                         label: str = "") -> dict[str, str]:
    """Send each visitor's first batch (``(vid, body)``, e.g. from ``first_batches`` or
    ``page_view``) to the collector, as the visit's first page does, and keep the token each
    answer carries: {vid: token}. Setup, not measurement: a non-200 answer or one without a
    token fails the run. With a ``label``, many visitors are done in parts, with progress."""
    tokens: dict[str, str] = {}
    step = max(len(firsts) // 4, 1000) if label else len(firsts) or 1
    t0 = time.monotonic()
    for at in range(0, len(firsts), step):
        part = firsts[at:at + step]
        answers = await post_all(base_url, [body for _, body in part], connections)
        for (vid, _), (status, body) in zip(part, answers):
            tok = json.loads(body).get("tok") if status == 200 else None
            if not tok:
                raise BenchError(f"{vid}'s first batch: {status} {body[:200]!r}, no visitor token")
            tokens[vid] = tok
        if label and len(firsts) > step:
            say(f"    {label}: {len(tokens):,} of {len(firsts):,} tokens  {time.monotonic() - t0:4.1f} s")
    return tokens


# --------------------------------------------------------------------------- load: wrk (closed loop)
WRK_LUA = r"""
-- Written by scripts/bench/lib.py. Varies the bodies, counts every status and dumps
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
  if owed and (status == 429 or status == 503) then
    local after = tonumber(headers["Retry-After"] or headers["retry-after"] or "") or 0
    owed[#owed + 1] = after * 1000
  end
end

-- BENCH_RETRY_AFTER=1: clients that honour Retry-After, as the snippet does. wrk asks delay()
-- before each request (only when the script defines it, so otherwise nothing changes); it
-- cannot say for which connection, so each 429/503 delays one next request, oldest first.
if os.getenv("BENCH_RETRY_AFTER") == "1" then
  owed, owed_at = {}, 1
  function delay()
    if owed_at > #owed then return 0 end
    owed_at = owed_at + 1
    return owed[owed_at - 1]
  end
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



def write_bodies(path: Path, batches: list[tuple[int, bytes]]) -> Path:
    """The file WRK_LUA reads: one batch a line, its number of events, a tab, the body."""
    path.write_bytes(b"".join(b"%d\t%s\n" % (n, body) for n, body in batches))
    return path


@dataclass
class WrkRun:
    """What one wrk run measured."""

    requests: int  # responses (wrk's "requests")
    seconds: float
    events: int  # events in the batches answered (those sent, scaled to the answered share)
    codes: Counter  # status -> responses
    errors: dict[str, int]  # connect, read, write, timeout (+ responses whose status the script missed)
    latencies_us: Counter  # measured latency (µs) -> count, wrk's synthetic samples removed
    wrk_p50_us: int
    wrk_p99_us: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class Wrk:
    """wrk posting the batches of ``bodies`` (``write_bodies``) round robin to ``url`` over
    ``connections`` keep-alive connections, closed loop, for ``seconds``, with the site's
    Origin; with ``retry_after`` a 429 or 503 delays a next request by its Retry-After, as
    the snippet waits. It runs in the background and stops by itself; ``result()`` waits for it and reads
    what it measured, ``stop()`` kills it (idempotent: put it on the ExitStack)."""

    def __init__(self, wrk: str, url: str, bodies: Path, seconds: float, connections: int, threads: int = 1,
                 timeout_s: int = 10, retry_after: bool = False) -> None:
        script = bodies.parent / "wrk.lua"
        script.write_text(WRK_LUA)
        self.hist = bodies.parent / f"wrk-hist-{os.getpid()}-{time.monotonic_ns()}.txt"
        self.seconds, self.connections = seconds, connections
        env = {**os.environ, "BENCH_BODIES": str(bodies), "BENCH_ORIGIN": ORIGIN, "BENCH_HIST": str(self.hist),
               "BENCH_RETRY_AFTER": "1" if retry_after else "0"}
        cmd = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
               "--timeout", f"{timeout_s}s", "-s", str(script), url]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def result(self, strict: bool = True) -> WrkRun:
        """``strict``: fail unless exactly one latency sample per answer is left after undoing
        wrk's correction (requests wrk timed out break that count; a flood may have them)."""
        try:
            out, err = self.proc.communicate(timeout=self.seconds + 60)
        finally:
            self.stop()
        line = next((ln for ln in out.splitlines() if ln.startswith("BENCH ")), None)
        if self.proc.returncode != 0 or line is None:
            raise BenchError(f"wrk failed (exit {self.proc.returncode}):\n{out}\n{err}")
        summary = json.loads(line[6:])
        hist: dict[int, int] = {}
        for row in self.hist.read_text().split("\n"):
            if row:
                value, count = row.split()
                hist[int(value)] = int(count)
        self.hist.unlink()
        complete = summary["requests"]
        per_conn = complete // self.connections
        raw = undo_wrk_correction(hist, summary["duration_us"] // per_conn if per_conn else 0)
        recorded = complete - summary["errors"]["timeout"]
        if strict and sum(raw.values()) != recorded:
            raise BenchError(f"wrk's histogram holds {sum(raw.values())} samples after undoing its correction, "
                             f"expected {recorded}")
        codes = Counter({int(k): v for k, v in summary["codes"].items()})
        errors = {k: v for k, v in summary["errors"].items() if k != "status"}
        if sum(codes.values()) != complete:
            errors["responses without a status seen by the script"] = complete - sum(codes.values())
        return WrkRun(requests=complete, seconds=summary["duration_us"] / 1e6,
                      events=round(summary["sent_events"] * complete / summary["sent"]) if summary["sent"] else 0,
                      codes=codes, errors=errors, latencies_us=raw, wrk_p50_us=summary["wrk_p50_us"],
                      wrk_p99_us=summary["wrk_p99_us"])


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



# --------------------------------------------------------------------------- statistics, charts


def pct(values: list[float], p: float) -> float:
    """Percentile with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def pct_hist(hist: dict[int, int], p: float) -> float:
    """Nearest-rank percentile in ms of a latency histogram {µs: count} (wrk's)."""
    total = sum(hist.values())
    if not total:
        return float("nan")
    rank, seen = max(1, -(-total * p // 100)), 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= rank:
            return value / 1000
    return max(hist) / 1000


def histogram(values: list[float], edges: list[float] | None = None) -> list[tuple[str, float]]:
    """Counts per bucket, for a chart of a distribution (in ms): between ``edges`` (the last
    may be infinite), or by default in buckets of one round width up to the largest value.
    Empty buckets past the last value are left out."""
    if not values:
        return []
    if edges is None:
        top = max(values)
        width = next((w for w in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if top / w <= 12), 2000)
        edges = [b * width for b in range(int(top // width) + 2)]
        label = "{:>4g}-{:<4g} ms".format
    else:
        label = "{:g}-{:g} ms".format
    counts = [sum(1 for v in values if lo <= v < hi) for lo, hi in zip(edges, edges[1:])]
    while len(counts) > 1 and counts[-1] == 0:
        counts.pop()
    return [(f">= {lo:g} ms" if hi == float("inf") else label(lo, hi), float(n))
            for (lo, hi), n in zip(zip(edges, edges[1:]), counts)]


def chart(title: str, rows: list[tuple[str, float]], unit: str = "", width: int = 50,
          goal: float | None = None, fmt: str | Callable[[float], str] = "{:,.1f}") -> str:
    """Horizontal ASCII bars on one scale, readable in a terminal and in a markdown code
    block. A ``goal`` is drawn as its own row of '=' and as ':' marks in the other bars."""
    values = [v for _, v in rows if v == v] + ([goal] if goal else [])
    top = max(values + [1e-9])
    label_w = max(len(label) for label, _ in rows + ([("goal", 0.0)] if goal else []))
    goal_col = round(goal / top * width) if goal else None
    show = fmt if callable(fmt) else fmt.format
    lines = [title]
    for n_row, (label, value) in enumerate(rows + ([("goal", goal)] if goal else [])):
        drawn_goal = goal is not None and n_row == len(rows)
        n = 0 if value != value else round(value / top * width)
        bar = ("=" if drawn_goal else "#") * n
        if goal_col is not None and not drawn_goal:
            bar = bar.ljust(width)
            if goal_col < width and bar[goal_col] == " ":
                bar = bar[:goal_col] + ":" + bar[goal_col + 1 :]
            bar = bar.rstrip()
        shown = "n/a" if value != value else show(value)
        lines.append(f"  {label.ljust(label_w)} |{bar.ljust(width)}| {shown} {unit}".rstrip())
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


# --------------------------------------------------------------------------- main()


def parser(doc: str, max_seconds: int) -> argparse.ArgumentParser:
    """The arguments every benchmark has; each adds its own."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="a short smoke run (a minute or two): small sizes, figures not comparable")
    p.add_argument("--max-seconds", type=int, default=max_seconds, help="stop (and clean up) after this long")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--check", action="store_true", help="exit 3 when a goal is missed")
    return p


def parse(p: argparse.ArgumentParser, argv: list[str] | None, quick: dict[str, Any]) -> argparse.Namespace:
    """Parse; with --quick the ``quick`` values replace the defaults (options given still win)."""
    if p.parse_known_args(argv)[0].quick:
        p.set_defaults(**quick)
    return p.parse_args(argv)


def run_async(coro: Any) -> Any:
    """asyncio.run, on uvloop when it is installed (as the servers run)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main(name: str, args: argparse.Namespace, measure: Callable[[contextlib.ExitStack, float, dict], None],
         report: Callable[[dict], bool], spare: float = 20) -> int:
    """Runs ``measure(stack, deadline, results)`` and then ``report(results)``.

    ``measure`` starts its servers on ``stack`` (all stopped at the end, also on error,
    Ctrl-C or --max-seconds) and puts what it measured into ``results`` as it goes; it
    should stop starting new work after ``deadline`` (``spare`` seconds before the limit,
    to leave time to clean up). When it fails, what it measured so far is still reported."""
    interrupted: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        # the servers get a terminal's Ctrl-C too and drop their connections: whatever
        # error that causes, the run was interrupted
        interrupted.append(signum)
        if len(interrupted) == 1:  # once: let the clean-up run to its end
            raise KeyboardInterrupt

    def out_of_time(signum: int, frame: Any) -> None:
        raise OutOfTime

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    signal.signal(signal.SIGALRM, out_of_time)
    started = time.monotonic()
    signal.alarm(args.max_seconds)
    results: dict[str, Any] = {}
    failed = False
    try:
        with contextlib.ExitStack() as stack:
            measure(stack, started + args.max_seconds - spare, results)
    except (BenchError, RuntimeError, OSError, asyncio.TimeoutError) as exc:
        if not interrupted:
            print(f"\n{name}: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
            failed = True
    except OutOfTime:
        print(f"\n{name}: out of time after {args.max_seconds} s; servers stopped", file=sys.stderr)
        failed = True
    except KeyboardInterrupt:
        pass
    finally:
        signal.alarm(0)
    if interrupted:
        print(f"\n{name}: interrupted; servers stopped", file=sys.stderr)
        return 128 + interrupted[0]
    if not results:
        return 1
    ok = report(results)
    say(f"\n(whole run {time.monotonic() - started:.0f} s)")
    if failed:
        return 1
    return 3 if args.check and not ok else 0
