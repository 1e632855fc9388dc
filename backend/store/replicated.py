"""A script whose writes count only once replicas have them: the script and ``WAIT
numreplicas timeout`` sent together, on one connection.

Redis replicates asynchronously: a master answers a write before its replicas have it, and
when the master dies the replica promoted in its place never had that write. The master's own
append-only file does not help (it is on the machine that died; the replica is what takes
over). ``WAIT`` blocks until that many replicas confirmed every write made *on its
connection*, so it must follow the script on the same connection, and not inside MULTI
(there WAIT cannot block): a plain pipeline [EVALSHA, WAIT], still one round trip.

On a cluster the pipeline goes to the master that owns the keys' slot (all keys of a site
share one, store/keys.py), on a connection of the cluster client's own pool for that node.
While a master dies and its replica is promoted, that node refuses connections or answers
MOVED or CLUSTERDOWN: the client learns the slots again and tries again a few times, and then
the error is the caller's (a connection error is ``store.UNAVAILABLE``).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Sequence

from redis.asyncio.cluster import PipelineCommand, RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import (
    AskError, ClusterDownError, ConnectionError as RedisConnectionError, MovedError, NoScriptError,
    SlotNotCoveredError, TryAgainError,
)

from backend.store import Client

# The slot has moved, is moving, or its master is gone: learn the slots again, then retry. (Not
# after a timeout: the script may have run; the caller decides.)
REROUTE: tuple[type[Exception], ...] = (
    MovedError, AskError, TryAgainError, ClusterDownError, SlotNotCoveredError, RedisConnectionError)
PAUSES_S = (0.05, 0.2, 0.5)  # between attempts on a cluster: about as long as the client's own retries


async def eval_then_wait(client: Client, script: AsyncScript, keys: Sequence[str], args: Sequence[Any],
                         replicas: int, timeout_ms: int) -> tuple[Any, int]:
    """The script's reply, and how many replicas confirmed its writes within ``timeout_ms``
    (fewer than ``replicas`` when they did not in time)."""
    commands = [("EVALSHA", script.sha, len(keys), *keys, *args), ("WAIT", replicas, timeout_ms)]
    pauses, loaded = iter(PAUSES_S), False
    while True:
        try:
            if isinstance(client, RedisCluster):
                reply, acked = await _on_slot_master(client, keys[0], commands)
            else:
                reply, acked = await _pipelined(client, commands)
        except REROUTE:
            pause = next(pauses, None)
            if pause is None or not isinstance(client, RedisCluster):
                raise
            await asyncio.sleep(pause)
            with contextlib.suppress(Exception):  # none reachable yet: the next attempt says so
                await client.nodes_manager.initialize()
            continue
        if isinstance(reply, NoScriptError) and not loaded:  # new to this node (restarted, promoted)
            await client.script_load(script.script)
            loaded = True
            continue
        for result in (reply, acked):
            if isinstance(result, Exception):
                raise result
        return reply, int(acked)


async def _pipelined(client: Any, commands: list[tuple[Any, ...]]) -> list[Any]:
    """One Redis: a pipeline without MULTI (its own retry covers a stale connection)."""
    async with client.pipeline(transaction=False) as pipe:
        for command in commands:
            pipe.execute_command(*command)
        return list(await pipe.execute(raise_on_error=False))


async def _on_slot_master(client: RedisCluster, key: str, commands: list[tuple[Any, ...]]) -> list[Any]:
    """A cluster: the same, on one connection to the master of ``key``'s slot. A redirect or
    a lost connection in any reply is raised, for the caller to reroute."""
    node = client.get_node_from_key(key)
    if node is None:
        raise SlotNotCoveredError(f"no master for {key!r}")
    stack = [PipelineCommand(i, *command) for i, command in enumerate(commands)]
    await node.execute_pipeline(stack)
    for command in stack:
        if isinstance(command.result, REROUTE):
            raise command.result
    return [command.result for command in stack]
