"""A Redis Cluster master dies mid-chat: the master that owns the site's slot is killed
(SIGKILL) while a customer's page and a representative's console, on a real web server, send
each other messages all the time; its replica takes over. Every message acknowledged to its
sender must still be in the chat's history, once, and have reached the other side, once; and
the chat goes on.

Why the test cuts the replica off first: on one machine a replica is a fraction of a
millisecond behind its master, so a plain kill would almost never catch a write that was
acknowledged and not yet replicated, and the test would prove nothing. So the replica's link
to its master is cut and kept down (its ``masterauth`` set wrong, so the master refuses its
handshake: what a broken network between them does), while the replica stays a healthy
member of the cluster. For the next moment the master acknowledges writes its replica never
gets; then it is killed, and the replica, far less than its validity window behind, is
promoted. With ``BECKON_CHAT_REPLICAS=0`` (no WAIT before the ack) the messages acknowledged
in that window are gone after the failover: the last test shows it, so that the first proves
something.

After the promotion the new master has no replica of its own until the dead node comes back
(as a supervisor would restart it); until then no message can be confirmed, senders are told
so and send again, and nothing is acknowledged that could still be lost. A replica that only
falls behind and catches up (the second test) holds messages back the same way: each is
acknowledged, and shown, when a resend finds the replica has it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from typing import Any, Callable, Iterator

import pytest

from backend.store import keys
from backend.testing.cluster import ClusterStore, Node
from backend.testing.servers import poll
from tests.helpers import ConsoleSocket, Customer, Live, make_rep

pytestmark = pytest.mark.cluster_only

EVERY_S = 0.05  # each side sends a message this often
RECONNECT_S = 0.3  # a dropped socket is opened again after this long (about what the clients do)


class Side:
    """One end of the chat, behaving as its client does (snippet/c.js, the console's chats.js):
    a message stays pending under its client id until acknowledged, and goes again with that id
    after a reconnect, or when an error frame asks for it (``retry``); what arrives from the
    other side is shown once per message id, whether live, in a history or in a snapshot."""

    me = other = ""

    def __init__(self, url: str, origin: str, headers: dict[str, str] | None = None) -> None:
        self.url, self.origin, self.headers = url, origin, headers
        self.ws: Any = None
        self.sent = 0
        self.pending: dict[str, str] = {}  # cid -> text
        self.acks: dict[str, set[str]] = defaultdict(set)  # cid -> message ids acknowledged for it
        self.texts: dict[str, str] = {}  # cid -> text
        self.shown: dict[str, str] = {}  # the other side's messages: id -> text
        self.asked_again = 0  # error frames that asked for a message again
        self.refused: list[dict[str, Any]] = []  # other error frames

    async def run(self, stop: asyncio.Event) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import WebSocketException

        while not stop.is_set():
            with contextlib.suppress(OSError, WebSocketException, asyncio.TimeoutError):
                async with connect(self.url, origin=self.origin, additional_headers=self.headers,
                                   open_timeout=5, close_timeout=1) as ws:
                    self.ws = ws
                    await self.opened()
                    async for raw in ws:
                        self.frame(json.loads(raw))
            self.ws = None
            await asyncio.sleep(RECONNECT_S)

    async def send(self, frame: dict[str, Any]) -> None:
        """As the clients send: when the socket is down, nothing (a reconnect sends what is pending)."""
        from websockets.exceptions import WebSocketException

        if self.ws is not None:
            with contextlib.suppress(WebSocketException):
                await self.ws.send(json.dumps(frame))

    async def say(self) -> None:
        self.sent += 1
        cid, text = f"{self.me}-{self.sent}", f"from {self.me}, {self.sent}"
        self.pending[cid] = self.texts[cid] = text
        await self.send(self.say_frame(cid, text))

    async def again(self, cid: str, after_ms: int) -> None:
        await asyncio.sleep(after_ms / 1000)
        if cid in self.pending:
            await self.send(self.say_frame(cid, self.pending[cid]))

    def frame(self, f: dict[str, Any]) -> None:
        kind = f.get("type")
        if kind == "ack" and f.get("cid") in self.texts:
            self.acks[f["cid"]].add(f["id"])
            self.pending.pop(f["cid"], None)
        elif kind == "error":
            cid = self.cid_of(f)
            if f.get("retry") and cid in self.pending:
                self.asked_again += 1
                asyncio.get_running_loop().create_task(self.again(cid, f["retry"]))
            else:
                self.refused.append(f)
        else:
            for m in self.messages(f):
                if m.get("from") == self.other:
                    self.shown.setdefault(m["id"], m["text"])

    def acked(self) -> dict[str, str]:
        """Message id -> text of every message of ours the server acknowledged."""
        return {next(iter(ids)): self.texts[cid] for cid, ids in self.acks.items()}

    async def opened(self) -> None: ...

    def say_frame(self, cid: str, text: str) -> dict[str, Any]: ...

    def cid_of(self, f: dict[str, Any]) -> str: ...

    def messages(self, f: dict[str, Any]) -> list[dict[str, Any]]: ...


def stream_order(message_id: str) -> tuple[int, int]:
    ms, _, seq = message_id.partition("-")
    return int(ms), int(seq or 0)


class Page(Side):
    """The customer's page (o.js + c.js on the push socket)."""

    me, other = "visitor", "rep"

    def __init__(self, customer: Customer, chat: str) -> None:
        live = customer.live
        ws_base = live.url.replace("http://", "ws://")
        super().__init__(f"{ws_base}/v1/push?site={customer.key}&vid={customer.vid}", live.demo_url)
        self.tok, self.chat, self.last = customer.tok, chat, "0"

    async def opened(self) -> None:
        await self.send({"type": "hello", "tok": self.tok})
        await self.send({"type": "resume", "chat": self.chat, "after": self.last})
        for cid, text in list(self.pending.items()):
            await self.send(self.say_frame(cid, text))

    def say_frame(self, cid: str, text: str) -> dict[str, Any]:
        return {"type": "say", "text": text, "cid": cid}

    def cid_of(self, f: dict[str, Any]) -> str:
        return f.get("cid") or ""

    def messages(self, f: dict[str, Any]) -> list[dict[str, Any]]:
        found = [f["msg"]] if f.get("type") == "msg" else f.get("msgs", []) if f.get("type") == "history" \
            else []
        for m in found:  # a reconnect resumes from the newest id seen, as c.js does
            if stream_order(m["id"]) > stream_order(self.last):
                self.last = m["id"]
        return found


class Console(Side):
    """The representative's console (console.js + chats.js on /console/ws)."""

    me, other = "rep", "visitor"

    def __init__(self, console: ConsoleSocket, chat: str) -> None:
        super().__init__(console.url, console.origin, console.headers)
        self.chat = chat

    async def opened(self) -> None:
        await self.send({"type": "presence", "status": "available"})
        for cid, text in list(self.pending.items()):
            await self.send(self.say_frame(cid, text))

    def say_frame(self, cid: str, text: str) -> dict[str, Any]:
        return {"type": "say", "chat": self.chat, "text": text, "cid": cid}

    def cid_of(self, f: dict[str, Any]) -> str:
        return f.get("ref") or ""

    def messages(self, f: dict[str, Any]) -> list[dict[str, Any]]:
        if f.get("type") == "msg" and f.get("chat") == self.chat:
            return [f["msg"]]
        if f.get("type") == "chats":
            return [m for c in f.get("chats", []) if c.get("id") == self.chat for m in c.get("messages", [])]
        return []


# --- the cluster ---------------------------------------------------------------------------

def fail_over(master: Node, replica: Node) -> None:
    """The replica is cut off; the master acknowledges writes it never gets, and is killed;
    the replica is promoted; the dead node is started again, as a supervisor would, and
    rejoins as the new master's replica."""
    replica.cut_off()
    time.sleep(0.6)  # longer than the wait for a replica (BECKON_CHAT_REPLICA_TIMEOUT_MS, 300 ms)
    master.kill()
    assert poll(lambda: replica.is_master, timeout=20), "the replica was not promoted"
    master.start()
    assert poll(lambda: "online" in replica.replicas().values(), timeout=30), "the dead node did not rejoin"


def fall_behind(master: Node, replica: Node) -> None:
    """The replica is cut off for a second, then resynchronises; nothing dies."""
    replica.cut_off()
    time.sleep(1.0)
    replica.relink()
    assert poll(lambda: master.replicas().get(replica.port) == "online", timeout=30), "no resync"


# --- the chat --------------------------------------------------------------------------------

@pytest.fixture()
def chat_live(redis_server: ClusterStore, redis_client: Any,
              request: pytest.FixtureRequest) -> Iterator[Live]:
    """The web server on the cluster, waiting for ``request.param`` replicas (at most 300 ms)."""
    live = Live(redis_server.url, env={"BECKON_CHAT_REPLICAS": str(request.param),
                                       "BECKON_CHAT_REPLICA_TIMEOUT_MS": "300"})
    yield live
    live.stop()


def open_chat(live: Live) -> tuple[Customer, ConsoleSocket, str]:
    """A representative on the console in a chat with a customer."""
    make_rep(live.api, live.key, email="ria@shop.example")
    console = ConsoleSocket(live, "ria@shop.example")
    console.send({"type": "presence", "status": "available"})
    console.expect(lambda m: m["type"] == "presence")
    customer = Customer(live, "visitor-0001")
    chat = customer.ask_for_help()
    console.send({"type": "accept", "id": chat})
    console.expect(lambda m: m["type"] == "accepted")
    return customer, console, chat


async def until(condition: Callable[[], Any], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return bool(condition())


async def chat_through(trouble: Callable[[], None], page: Page, console: Console) -> dict[str, int]:
    """Both sides send all the time, before, during and after ``trouble`` (run in a thread);
    then the last messages are waited for. Returns how many each side sent after it."""
    stop, quiet = asyncio.Event(), asyncio.Event()

    async def chatter(side: Side) -> None:
        while not quiet.is_set():
            await side.say()
            await asyncio.sleep(EVERY_S)

    readers = [asyncio.create_task(side.run(stop)) for side in (page, console)]
    writers = [asyncio.create_task(chatter(side)) for side in (page, console)]
    try:
        assert await until(lambda: page.acks and console.acks, 10), "the chat did not start"
        await asyncio.sleep(1.0)
        await asyncio.to_thread(trouble)
        before = {"page": page.sent, "console": console.sent}
        await asyncio.sleep(1.0)  # the chat goes on
        quiet.set()
        await asyncio.gather(*writers)
        await until(lambda: not page.pending and not console.pending, 20)
        await until(lambda: page.acked().keys() <= console.shown.keys()
                    and console.acked().keys() <= page.shown.keys(), 10)
        return {"page": page.sent - before["page"], "console": console.sent - before["console"]}
    finally:
        quiet.set()
        stop.set()
        for side in (page, console):
            if side.ws is not None:
                with contextlib.suppress(Exception):
                    await side.ws.close()
        for task in readers + writers:
            task.cancel()
        await asyncio.gather(*readers, *writers, return_exceptions=True)


Trouble = Callable[[Node, Node], None]


def run(live: Live, store: ClusterStore, redis_client: Any,
        trouble: Trouble) -> tuple[Page, Console, dict[str, str], dict[str, int]]:
    """A chat on ``live`` through ``trouble`` to the master of its slot and that master's
    replica; then the cluster is healed. Returns both sides, the chat's stored history (id ->
    text), and how many messages each side sent after the trouble."""
    customer, socket, chat = open_chat(live)
    master, replica = store.cluster.shard(redis_client.get_node_from_key(keys.messages(live.key, chat)).port)
    page, console = Page(customer, chat), Console(socket, chat)
    socket.close()  # the Console side connects by itself, with the same session
    try:
        after = asyncio.run(chat_through(lambda: trouble(master, replica), page, console))
        history = {i: f.get("text", "") for i, f in redis_client.xrange(keys.messages(live.key, chat))}
    finally:
        store.cluster.heal()
        customer.close()
    return page, console, history, after


def assert_nothing_lost_or_twice(page: Page, console: Console, history: dict[str, str]) -> None:
    assert not page.refused and not console.refused, (page.refused, console.refused)
    assert not page.pending and not console.pending, "messages never acknowledged"
    for sender, receiver in ((page, console), (console, page)):
        assert all(len(ids) == 1 for ids in sender.acks.values()), "one message acknowledged as two"
        acked = sender.acked()
        missing = {i: text for i, text in acked.items() if history.get(i) != text}
        assert not missing, f"{len(missing)} messages acknowledged to the {sender.me} are lost: {missing}"
        assert acked.keys() <= receiver.shown.keys(), f"the {sender.me}'s messages did not reach the other side"
        mine = [text for text in history.values() if text.startswith(f"from {sender.me},")]
        assert len(mine) == len(set(mine)), "a message stored twice"
        shown = list(receiver.shown.values())
        assert len(shown) == len(set(shown)), "a message shown twice"


@pytest.mark.parametrize("chat_live", [1], indirect=True)
def test_a_master_dies_mid_chat_and_no_acknowledged_message_is_lost_or_shown_twice(chat_live, redis_server,
                                                                                    redis_client) -> None:
    page, console, history, after = run(chat_live, redis_server, redis_client, fail_over)

    # the window was real: messages were not confirmed in time, and their senders sent them again
    assert page.asked_again and console.asked_again
    assert_nothing_lost_or_twice(page, console, history)
    assert after["page"] and after["console"]  # and the chat went on after the failover


@pytest.mark.parametrize("chat_live", [1], indirect=True)
def test_messages_a_lagging_replica_holds_back_arrive_once_it_catches_up(chat_live, redis_server,
                                                                         redis_client) -> None:
    """No failover: what the master stored while its replica was away is acknowledged, and
    shown to the other side, when a resend finds the replica has it (the resend is a
    duplicate of a message nobody was shown yet)."""
    page, console, history, _ = run(chat_live, redis_server, redis_client, fall_behind)

    assert page.asked_again and console.asked_again
    assert_nothing_lost_or_twice(page, console, history)


@pytest.mark.parametrize("chat_live", [0], indirect=True)
def test_without_waiting_for_a_replica_the_same_failover_loses_acknowledged_messages(chat_live, redis_server,
                                                                                     redis_client) -> None:
    """BECKON_CHAT_REPLICAS=0, the control: why the first test passes is the wait."""
    page, console, history, _ = run(chat_live, redis_server, redis_client, fail_over)

    lost = {i: text for side in (page, console) for i, text in side.acked().items() if i not in history}
    assert lost, "the failover lost nothing: the window did not open, and the first test proves nothing"
