"""A pipelined connection per Redis node for the collector's one call per batch.

redis-py's asyncio client spends about 120 µs of a worker's CPU on each command (connection
pool, retry wrapper, per-call timeouts; measured with a PING on this machine), a third of what
a whole batch costs. A lane is one connection that every concurrent caller shares: a command is
written without waiting for the one before it, Redis answers in order, and the answers are
matched to their callers by position. The commands issued in one event-loop turn go out in one
write. About 10-30 µs a command.

Only what the hot path needs: EVALSHA on a plain TCP connection (AUTH and SELECT as the URL
says). Everything else falls back to the regular client: a script Redis does not have yet
(NOSCRIPT, which the regular client loads), a cluster slot that moved (MOVED/ASK, which the
regular client follows and learns), and URLs a lane cannot serve (TLS, unix sockets).

A command is never sent twice: an answer lost with its connection raises ConnectionError (the
collector answers 503 and the page sends the batch again), like redis-py after a timeout.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

TIMEOUT_S = 5.0  # an answer later than this: the node is frozen or gone; fail what waits
FALLBACK = ("NOSCRIPT", "MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "LOADING", "READONLY")


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader(encoding="utf-8", replyError=ResponseError)
        self.waiting: collections.deque[tuple[float, asyncio.Future[Any]]] = collections.deque()
        self.out: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._watch: asyncio.TimerHandle | None = None
        self.loading: dict[str, asyncio.Future[Any]] = {}  # script sha -> its SCRIPT LOAD

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while self.waiting:
            reply = self.reader.gets()
            if reply is False:
                return
            _, future = self.waiting.popleft()
            if future.done():
                continue
            if isinstance(reply, ResponseError):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError("lost the connection to Redis"))

    def _fail(self, exc: Exception) -> None:
        self.closed = True
        while self.waiting:
            _, future = self.waiting.popleft()
            if not future.done():
                future.set_exception(exc)
        if self.transport:
            self.transport.abort()

    def send(self, command: bytes) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.waiting.append((time.monotonic(), future))
        if not self.out:
            loop.call_soon(self._flush)
        self.out.append(command)
        if self._watch is None:
            self._watch = loop.call_later(1.0, self._check)
        return future

    def _flush(self) -> None:
        if self.transport and not self.closed and self.out:
            self.transport.write(b"".join(self.out))
        self.out.clear()

    def _check(self) -> None:
        self._watch = None
        if self.waiting and time.monotonic() - self.waiting[0][0] > TIMEOUT_S:
            self._fail(RedisTimeoutError(f"Redis did not answer within {TIMEOUT_S:g} s"))
        elif self.waiting and not self.closed:
            self._watch = asyncio.get_running_loop().call_later(1.0, self._check)

    async def load(self, script: AsyncScript) -> None:
        """SCRIPT LOAD, once however many callers found the script missing at the same time."""
        loading = self.loading.get(script.sha)
        if loading is None:
            loading = self.loading[script.sha] = self.send(hiredis.pack_command(("SCRIPT", "LOAD", script.script)))
            loading.add_done_callback(lambda _: self.loading.pop(script.sha, None))
        await asyncio.shield(loading)

    def close(self) -> None:
        self.closed = True
        if self.transport:
            self.transport.close()


class Lanes:
    """The lanes of one client: one per node it talks to (a single Redis: one)."""

    def __init__(self, client: Redis | RedisCluster) -> None:
        self.client = client
        self.kwargs = _usable(client)
        self.lanes: dict[tuple[str, int], _Connection] = {}
        self._opening: dict[tuple[str, int], asyncio.Future[_Connection]] = {}

    async def evalsha(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        """``script(keys=keys, args=args)``, on the lane of the node holding ``keys[0]``."""
        if self.kwargs is None:
            return await script(keys=keys, args=args)
        try:
            lane = await self._lane(keys[0])
        except (OSError, RedisConnectionError, RedisTimeoutError):
            return await script(keys=keys, args=args)  # let the regular client retry and report
        if lane is None:
            return await script(keys=keys, args=args)
        command = hiredis.pack_command(("EVALSHA", script.sha, len(keys), *keys, *args))
        try:
            return await lane.send(command)
        except ResponseError as exc:
            if str(exc).startswith("NOSCRIPT"):  # a new or restarted node: load it once, on the lane
                await lane.load(script)
                return await lane.send(command)
            if str(exc).startswith(FALLBACK):
                return await script(keys=keys, args=args)
            raise

    async def _lane(self, key: str) -> _Connection | None:
        address = self._address(key)
        if address is None:
            return None
        lane = self.lanes.get(address)
        if lane is not None and not lane.closed:
            return lane
        opening = self._opening.get(address)
        if opening is None:  # one connect for every caller that finds the lane closed
            opening = self._opening[address] = asyncio.ensure_future(self._open(address))
            opening.add_done_callback(lambda _: self._opening.pop(address, None))
        return await asyncio.shield(opening)

    def _address(self, key: str) -> tuple[str, int] | None:
        if isinstance(self.client, RedisCluster):
            try:
                node = self.client.get_node_from_key(key)
            except Exception:  # noqa: BLE001 - slots not known yet: the regular client learns them
                return None
            return (node.host, int(node.port)) if node else None
        return self.kwargs["host"], int(self.kwargs["port"])  # type: ignore[index]

    async def _open(self, address: tuple[str, int]) -> _Connection:
        assert self.kwargs is not None
        loop = asyncio.get_running_loop()
        _, lane = await asyncio.wait_for(loop.create_connection(_Connection, *address), TIMEOUT_S)
        hello: list[Any] = []
        if self.kwargs.get("password"):
            auth = ("AUTH", self.kwargs["username"], self.kwargs["password"]) if self.kwargs.get("username") \
                else ("AUTH", self.kwargs["password"])
            hello.append(lane.send(hiredis.pack_command(auth)))
        if self.kwargs.get("db"):
            hello.append(lane.send(hiredis.pack_command(("SELECT", self.kwargs["db"]))))
        try:
            await asyncio.gather(*hello)
        except BaseException:
            lane.close()
            raise
        old = self.lanes.get(address)
        self.lanes[address] = lane
        if old is not None:
            old.close()
        return lane

    def close(self) -> None:
        for lane in self.lanes.values():
            lane.close()
        self.lanes.clear()


def _usable(client: Redis | RedisCluster) -> dict[str, Any] | None:
    """The connection settings a lane can use, or None (TLS, a unix socket: the regular
    client serves everything)."""
    if isinstance(client, RedisCluster):
        kwargs = dict(client.connection_kwargs)
        if kwargs.get("connection_class") is not None and "SSL" in kwargs["connection_class"].__name__:
            return None
        return kwargs
    if not isinstance(client, Redis):
        return None
    pool = client.connection_pool
    kwargs = dict(pool.connection_kwargs)
    if "path" in kwargs or "SSL" in pool.connection_class.__name__ or "host" not in kwargs:
        return None
    return kwargs
