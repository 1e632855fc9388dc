"""Stopping the per-worker background loops (offer ticker, push reader) cleanly."""

from __future__ import annotations

import asyncio
import contextlib


async def cancel(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` and wait until it has finished, so shutdown leaves nothing running."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
