"""Shedding collector load before chat suffers.

Batches of events are many, cheap one by one, and retried by the snippet (it backs off on a
503 and honours Retry-After); chat messages and offers are few and a person waits on each.
So when a worker is overloaded, the collector answers 503 at once instead of queueing:
overloaded means too many batches in flight in this worker, or the event loop running late
(measured every SAMPLE_S; a late loop delays every chat frame by as much).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

SAMPLE_S = 0.02
SMOOTHING = 0.2  # weight of the newest lag sample in the running average


@dataclass(frozen=True)
class GateLimits:
    max_inflight: int
    max_lag_ms: float


def overloaded(inflight: int, lag_ms: float, limits: GateLimits) -> bool:
    """A late loop alone is no reason: with only a few batches in flight the collector is not
    what makes it late (another process, a slow chat burst), and turning them away helps
    nobody."""
    if inflight >= limits.max_inflight:
        return True
    return lag_ms > limits.max_lag_ms and inflight >= max(2, limits.max_inflight // 16)


class LoadGate:
    def __init__(self, limits: GateLimits) -> None:
        self.limits = limits
        self.inflight = 0
        self.lag_ms = 0.0
        self.shed = 0  # batches turned away, for logs and benchmarks
        self._task: asyncio.Task[None] | None = None

    def admit(self) -> bool:
        if overloaded(self.inflight, self.lag_ms, self.limits):
            self.shed += 1
            return False
        return True

    @contextlib.contextmanager
    def holding(self):  # type: ignore[no-untyped-def]
        self.inflight += 1
        try:
            yield
        finally:
            self.inflight -= 1

    async def _sample(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(SAMPLE_S)
            late_ms = max(0.0, (time.perf_counter() - start - SAMPLE_S) * 1000)
            self.lag_ms += SMOOTHING * (late_ms - self.lag_ms)

    def start(self) -> None:
        self._task = asyncio.create_task(self._sample())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
