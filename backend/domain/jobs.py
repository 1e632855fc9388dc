"""Background jobs on rq: the worker entry point and the jobs it runs (mail, for now).

Jobs take plain data, gathered when they are enqueued, so that a visit expiring in Redis
before the job runs loses nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis import Redis
from rq import Queue, Retry, Worker

from backend.domain import mail
from backend.config import Settings

QUEUE = "beckon"
MAIL_RETRY = Retry(max=4, interval=[5, 30, 120, 600])


def sync_redis(settings: Settings) -> Redis:
    return Redis.from_url(settings.redis_url)


def queue(settings: Settings) -> Queue:
    return Queue(QUEUE, connection=sync_redis(settings))


def run_worker(settings: Settings, burst: bool = False) -> None:
    connection = sync_redis(settings)
    Worker([Queue(QUEUE, connection=connection)], connection=connection).work(burst=burst, with_scheduler=True)


def send_visitor_message(site_name: str, to: str, fields: dict[str, str], visitor: dict[str, Any]) -> None:
    """Mail a visitor's "leave a message" to the site's sales inbox (retried by rq)."""
    settings = Settings.from_env()
    msg = mail.render("visitor_message", to, f"Message from {fields.get('name') or 'a visitor'} on {site_name}",
                      settings, reply_to=fields.get("email", ""), site_name=site_name, fields=fields,
                      visitor=visitor)
    asyncio.run(mail.send(settings, msg))


def enqueue_visitor_message(settings: Settings, site_name: str, to: str, fields: dict[str, str],
                            visitor: dict[str, Any]) -> None:
    queue(settings).enqueue(send_visitor_message, site_name, to, fields, visitor, retry=MAIL_RETRY)


def send_transcript(site_name: str, to: str, messages: list[dict[str, Any]]) -> None:
    """Mail a chat transcript to the customer who asked for it (retried by rq)."""
    settings = Settings.from_env()
    msg = mail.render("transcript", to, f"Your chat with {site_name}", settings, site_name=site_name,
                      messages=messages)
    asyncio.run(mail.send(settings, msg))


def enqueue_transcript(settings: Settings, site_name: str, to: str, messages: list[dict[str, Any]]) -> None:
    queue(settings).enqueue(send_transcript, site_name, to, messages, retry=MAIL_RETRY)
