"""Background jobs on rq: the worker entry point and the queue jobs are put on."""

from __future__ import annotations

from redis import Redis
from rq import Queue, Worker

from backend.config import Settings

QUEUE = "beckon"


def sync_redis(settings: Settings) -> Redis:
    return Redis.from_url(settings.redis_url)


def queue(settings: Settings) -> Queue:
    return Queue(QUEUE, connection=sync_redis(settings))


def run_worker(settings: Settings, burst: bool = False) -> None:
    connection = sync_redis(settings)
    Worker([Queue(QUEUE, connection=connection)], connection=connection).work(burst=burst, with_scheduler=True)
