"""Background jobs on rq: the worker entry point, the jobs it runs (mail), and ``Jobs``, the
service that enqueues them.

Jobs take plain data gathered when they are enqueued, so that a visit expiring in Redis
before the job runs loses nothing. The worker hands each job the settings it needs (the
``mail`` argument): the worker's own, read once at its start, so a changed SMTP server
applies to queued and retried jobs too, and no job reads the environment.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis import Redis
from rq import Queue, Retry, Worker
from rq.executions import Execution
from rq.job import Job

from backend.config import MailSettings, Settings
from backend.domain import mail as outgoing

QUEUE = "beckon"
MAIL_RETRY = Retry(max=4, interval=[5, 30, 120, 600])


class BeckonWorker(Worker):
    """rq's worker, handing each job the worker's settings."""

    mail = MailSettings()

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        job.kwargs = {**job.kwargs, "mail": self.mail}
        return super().perform_job(job, queue, execution)


def run_worker(settings: Settings, burst: bool = False) -> None:
    connection = Redis.from_url(settings.redis_url)
    worker = BeckonWorker([Queue(QUEUE, connection=connection)], connection=connection)
    worker.mail = settings.mail
    worker.work(burst=burst, with_scheduler=True)


def send_visitor_message(site_name: str, to: str, fields: dict[str, str], visitor: dict[str, Any], *,
                         mail: MailSettings) -> None:
    """Mail a visitor's "leave a message" to the site's sales inbox (retried by rq)."""
    msg = outgoing.render("visitor_message", to, f"Message from {fields.get('name') or 'a visitor'} on {site_name}",
                      mail, reply_to=fields.get("email", ""), site_name=site_name, fields=fields,
                      visitor=visitor)
    asyncio.run(outgoing.send(mail, msg))


def send_transcript(site_name: str, to: str, messages: list[dict[str, Any]], *, mail: MailSettings) -> None:
    """Mail a chat transcript to the customer who asked for it (retried by rq)."""
    msg = outgoing.render("transcript", to, f"Your chat with {site_name}", mail, site_name=site_name,
                          messages=messages)
    asyncio.run(outgoing.send(mail, msg))


class Jobs:
    """Enqueues jobs. rq's client is synchronous, so callers on the event loop go through
    ``asyncio.to_thread``; the connection is made on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._queue: Queue | None = None

    @property
    def queue(self) -> Queue:
        if self._queue is None:
            self._queue = Queue(QUEUE, connection=Redis.from_url(self.settings.redis_url))
        return self._queue

    async def visitor_message(self, site_name: str, to: str, fields: dict[str, str],
                              visitor: dict[str, Any]) -> None:
        await asyncio.to_thread(self.queue.enqueue, send_visitor_message, site_name, to, fields, visitor,
                                retry=MAIL_RETRY)

    async def transcript(self, site_name: str, to: str, messages: list[dict[str, Any]]) -> None:
        await asyncio.to_thread(self.queue.enqueue, send_transcript, site_name, to, messages, retry=MAIL_RETRY)
