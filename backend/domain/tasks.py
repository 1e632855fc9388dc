"""The per-worker background loops (offer ticker, push reader, page confirmations): stopping
them within a bound, and riding out a Redis outage with one log line for it."""

from __future__ import annotations

import asyncio
import logging
import time

from backend.store import UNAVAILABLE, unreachable

__all__ = ["UNAVAILABLE", "Backoff", "Outage", "cancel", "one_line", "unreachable"]

log = logging.getLogger("beckon.tasks")


async def cancel(task: asyncio.Task[None] | None, timeout_s: float = 3.0) -> None:
    """Cancel ``task`` and wait until it has finished, so shutdown leaves nothing running.
    The cancellation is repeated until it takes: a cancel that lands inside a Redis call can
    come out as a timeout that a loop's ``except Exception`` swallows, and the loop would then
    keep a worker from exiting. Gives up after ``timeout_s``."""
    if task is None:
        return
    deadline = time.monotonic() + timeout_s
    while not task.done():
        left = deadline - time.monotonic()
        if left <= 0:
            log.warning("a background task did not stop within %.0f s; leaving it", timeout_s)
            return
        task.cancel()
        await asyncio.wait({task}, timeout=min(0.5, left))
    if not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        log.warning("a background task had ended with %s", one_line(exc))


def one_line(exc: BaseException | None) -> str:
    text = f"{type(exc).__name__}: {exc}" if exc is not None else "?"
    return " ".join(text.split())


class Outage:
    """Whether this worker has lost Redis. Every loop reports here; the first failure of an
    outage is logged in one line, and so is the first success after it. Tracebacks are for
    bugs, not for a Redis restart."""

    # A loop that fails again this soon after another saw Redis back (a stale connection of
    # its own) is still in the same outage: not logged again.
    SETTLE_S = 10.0

    def __init__(self, logger: logging.Logger) -> None:
        self.log = logger
        self.since: float | None = None
        self.back_at: float | None = None
        self.quiet = False

    @property
    def down(self) -> bool:
        return self.since is not None

    def lost(self, exc: BaseException, what: str) -> None:
        if self.since is None:
            self.since = time.monotonic()
            self.quiet = self.back_at is not None and self.since - self.back_at < self.SETTLE_S
            if not self.quiet:
                self.log.warning("Redis unreachable (%s, in %s); retrying until it is back", one_line(exc), what)

    def back(self) -> None:
        if self.since is not None:
            if not self.quiet:
                self.log.warning("Redis is back after %.1f s", time.monotonic() - self.since)
            self.since = None
            self.back_at = time.monotonic()


class Backoff:
    """Delays between retries: from ``first_s``, doubling, at most ``most_s``."""

    def __init__(self, first_s: float = 0.1, most_s: float = 2.0) -> None:
        self.first_s, self.most_s = first_s, most_s
        self.current = 0.0

    def next(self) -> float:
        self.current = min(self.most_s, self.current * 2 if self.current else self.first_s)
        return self.current

    def reset(self) -> None:
        self.current = 0.0
