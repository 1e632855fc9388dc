"""The chat benchmark's clients: one asyncio process (the ``websockets`` package, uvloop when
installed) plays both sides of every chat, as the browser pages do, so that what is timed is
the product's own path: console WebSocket -> web worker -> Redis -> web worker -> page WebSocket.

- the representative (``RepConsole``): logs in like the console page (GET /console/login for
  the CSRF token, POST the form, GET /console/ for the page's token), opens
  ``/console/ws?csrf=`` with the signed session cookie and the server's Origin, sends a
  presence heartbeat every 10 s as console.js does, accepts requests with
  ``{type: "accept", id}`` and writes with ``{type: "say", chat, text, cid}``;
- the customer (``Customer``): the page's push WebSocket ``/v1/push?site=&vid=`` with the
  site's Origin, whose first frame is ``{type: "hello", tok}`` with the visitor token the
  collector's answer to the visitor's page view gave (as o.js does), writing with
  ``{type: "say", text, cid}``.

A message is matched by its client id (``cid``), which the server echoes in the ``msg``
frame, and is timed (``Tracker``) from just before the send on one socket to its arrival on
the other. Used by chat_setup.py and the three chat measurements.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: import from the repository, not from scripts/bench/
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from scripts.bench.lib import ORIGIN, BenchError, hello, push_url  # noqa: E402

PRESENCE_EVERY_S = 10.0  # console.js PRESENCE_EVERY_MS
PASSWORD = "a long bench password"
TEXTS = ["Hello! How can I help you today?", "Sure, one moment while I check that for you.",
         "The delivery usually takes two to three working days.",
         "Yes, the 40 l dry bag fits in the front hatch of that kayak.",
         "Could you tell me the order number, please?", "Thanks, that is all I needed."]


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


class Side:
    """What both ends of a chat share: the reader that times the other side's messages and
    this side's acks, reports a socket the server dropped, and the ``say`` frame."""

    peer = ""  # the ``from`` of the other side's messages
    who = ""  # how errors name this client
    socket = "socket"

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.ws: Any = None
        self.frames: dict[str, int] = {}
        self.closing = False

    def frame(self, kind: str, m: dict[str, Any]) -> None:
        """Any frame but ``msg`` and ``ack``."""

    async def read(self) -> None:
        try:
            async for raw in self.ws:
                now = time.perf_counter()
                m = json.loads(raw)
                kind = m.get("type", "?")
                self.frames[kind] = self.frames.get(kind, 0) + 1
                if kind == "msg":
                    msg = m.get("msg") or {}
                    if msg.get("from") == self.peer:
                        self.tracker.arrive(msg.get("cid"), now, msg.get("ts"))
                elif kind == "ack":
                    self.tracker.acked(m.get("cid"), now)
                else:
                    self.frame(kind, m)
        except Exception as exc:  # noqa: BLE001 - reported below
            if not self.closing:
                self.tracker.error(f"{self.who}: {self.socket} failed: {type(exc).__name__}: {exc}")
            return
        if not self.closing:
            self.tracker.error(f"{self.who}: {self.socket} closed by the server "
                               f"({self.ws.close_code} {self.ws.close_reason})")

    async def send_say(self, direction: str, chat: str, counted: bool, frame: dict[str, str]) -> Sent:
        """A timed message in ``chat``; ``frame`` names the chat when the socket holds several."""
        cid, item = self.tracker.new(direction, counted)
        item.chat = chat
        data = json.dumps({"type": "say", **frame, "text": random.choice(TEXTS), "cid": cid})
        item.t, item.wall_ms = time.perf_counter(), time.time() * 1000
        await self.ws.send(data)
        return item


class Customer(Side):
    """One page: its push WebSocket and the chat it is in."""

    peer = "rep"

    def __init__(self, vid: str, tracker: Tracker) -> None:
        super().__init__(tracker)
        self.vid = vid
        self.who = f"customer {vid}"
        self.tok = ""  # the visitor token: the collector's answer to the visit's first batch
        self.chat = ""
        self.status = ""
        self.changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def open(self, base_ws: str, site: str) -> None:
        self.ws = await ws_connect(push_url(base_ws, site, self.vid), ORIGIN)
        await self.ws.send(hello(self.tok))
        self.task = asyncio.create_task(self.read())

    def frame(self, kind: str, m: dict[str, Any]) -> None:
        if kind == "chat":
            self.chat, self.status = m.get("id", ""), m.get("status", "")
            self.changed.set()
        elif kind == "error":
            self.tracker.error(f"customer {self.vid}: error frame {m.get('message')!r}")

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
        return await self.send_say("c2r", self.chat, counted, {})


class RepConsole(Side):
    """One representative: a console session and its WebSocket."""

    peer = "visitor"
    socket = "console socket"

    def __init__(self, index: int, rid: str, email: str, tracker: Tracker) -> None:
        super().__init__(tracker)
        self.index = index
        self.who = f"rep {index}"
        self.rid = rid
        self.email = email
        self.accepts: dict[str, asyncio.Future[None]] = {}
        self.session: tuple[str, str, str] = ("", "", "")
        self.chat_ids: set[str] = set()
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

    def frame(self, kind: str, m: dict[str, Any]) -> None:
        if kind == "chats":
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

    async def accept(self, cid: str, timeout: float) -> None:
        fut = asyncio.get_running_loop().create_future()
        self.accepts[cid] = fut
        await self.ws.send(json.dumps({"type": "accept", "id": cid}))
        await asyncio.wait_for(fut, timeout)

    async def say(self, chat: str, counted: bool) -> Sent:
        return await self.send_say("r2c", chat, counted, {"chat": chat})
