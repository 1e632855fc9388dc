"""Background jobs on rq: the worker entry point, the jobs it runs (mail), ``Jobs``, the
service that enqueues them, and the dead letters: mail that could not be sent after its
last retry, kept per site until an admin resends it (the console's admin pages), so nothing
a customer wrote is lost.

Jobs take plain data gathered when they are enqueued, so that a visit expiring in Redis
before the job runs loses nothing. The worker hands each job the settings it needs (the
``mail`` argument): the worker's own, read once at its start, so a changed SMTP server
applies to queued and retried jobs too, and no job reads the environment.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import redis.asyncio as aioredis
from redis import Redis
from rq import Queue, Retry, SimpleWorker, Worker
from rq.exceptions import AbandonedJobError
from rq.executions import Execution
from rq.job import Job
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler
from rq.utils import now
from rq.worker import WorkerStatus

from backend.config import MailSettings, Settings, WebhookSettings
from backend.domain import mail as outgoing
from backend.store import keys

log = logging.getLogger("beckon.jobs")

QUEUE = "beckon"
MAIL_TIMEOUT_S = 60  # one try of a mail job (SMTP's own timeout is 20 s)
# How often the worker looks after rq's registries: jobs of a worker that was killed, retries
# due, a scheduler that died. rq's default is 10 minutes, and a retry waited that long.
MAINTENANCE_S = 5
HEARTBEAT_S = 5  # the worker vouches for the job it runs this often...
HEARTBEAT_SLACK_S = 10  # ...and a job nobody vouched for this much longer was abandoned
# handed the webhook settings instead of mail's
WEBHOOK_JOBS = ("backend.domain.webhooks.deliver", "backend.domain.webhooks.deliver_batch")


class _Beckon:
    """What both of Beckon's workers add to rq's: each job is handed the worker's settings. A
    job whose last try failed becomes a dead letter of its site. A job whose worker was killed
    is retried within its backoff: rq notices it within HEARTBEAT_S + HEARTBEAT_SLACK_S (not 60
    s more) and looks every MAINTENANCE_S (not every 10 minutes), and a scheduler that died with
    its worker on this machine does not keep the others from scheduling retries."""

    mail = MailSettings()
    hooks = WebhookSettings()

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        given = {"hooks": self.hooks} if job.func_name in WEBHOOK_JOBS else {"mail": self.mail}
        job.kwargs = {**job.kwargs, **given}
        return super().perform_job(job, queue, execution)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        interval = float(self.job_monitoring_interval)
        if job.timeout and job.timeout > 0:
            interval = max(1.0, min(job.timeout - working_time, interval))
        return int(interval) + HEARTBEAT_SLACK_S

    def handle_job_failure(self, job: Job, queue: Queue, started_job_registry: Any = None,
                           exc_string: str = "", execution: Execution | None = None) -> None:
        last_try = not job.should_retry
        super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)
        if last_try:
            keep_dead_letter(self.connection, job, exc_string)

    def run_maintenance_tasks(self) -> None:
        release_dead_scheduler(self.connection, QUEUE)
        super().run_maintenance_tasks()


class BeckonWorker(_Beckon, Worker):
    """Forks a work horse per job (BECKON_WORKER_FORK=1): a job that crashes the interpreter or
    leaks takes only its horse with it, and a job stuck where no signal reaches it is killed
    60 s after its timeout; about 40 ms of CPU per job (scripts/bench/notify.py)."""


class BeckonSimpleWorker(_Beckon, SimpleWorker):
    """Runs each job in its own process, without a fork: the default (scripts/bench/notify.py,
    README "Notify"). A job's timeout is rq's SIGALRM in this, the main, thread, as in a work
    horse. rq's SimpleWorker vouches for a job only when it starts it, for the whole of its
    timeout, so a killed worker's job waited that long plus a minute; here a thread vouches
    every HEARTBEAT_S, as the forking worker's parent does, so it is retried as soon. The
    thread stops vouching 60 s past the job's timeout (a job stuck where SIGALRM cannot reach
    it): the job is then retried by another worker, as when a forking worker kills its horse;
    this worker stays stuck with it."""

    def execute_job(self, job: Job, queue: Queue) -> None:
        execution = self.prepare_execution(job)
        done = threading.Event()

        def vouch() -> None:
            while not done.wait(self.job_monitoring_interval):
                working = (now() - job.started_at).total_seconds() if job.started_at else 0.0
                if job.timeout is not None and job.timeout > 0 and working > job.timeout + 60:
                    log.error("job %s runs %.0f s past its timeout; no longer vouched for", job.id, working)
                    return
                try:
                    self.maintain_heartbeats(job, execution)
                except Exception:  # noqa: BLE001 - Redis away a moment: the next beat tries again
                    log.warning("could not vouch for job %s", job.id, exc_info=True)

        beat = threading.Thread(target=vouch, name=f"heartbeat {job.id}", daemon=True)
        beat.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            done.set()
            beat.join()
        self.set_state(WorkerStatus.IDLE)


def abandoned(job: Job, exc_type: type, exc_value: BaseException | None, tb: Any) -> None:
    """rq's handler for a job whose worker died: after its last try, a dead letter too."""
    if isinstance(exc_type, type) and issubclass(exc_type, AbandonedJobError) and not job.should_retry:
        keep_dead_letter(job.connection, job, "the worker running it stopped (killed or crashed)")


def release_dead_scheduler(connection: Redis, queue: str) -> None:
    """rq's scheduler lock outlives a scheduler killed with its worker by a minute, and rq only
    tries to take it over at maintenance, so retries waited. A lock whose holder ran on this
    machine and is gone is released now, for a living worker's scheduler to take."""
    lock = RQScheduler.get_locking_key(queue)
    holder = connection.get(lock)
    if holder is None:
        return
    host, pid = connection.hmget(SCHEDULER_KEY_TEMPLATE % holder.decode(), "hostname", "pid")
    if host is None or pid is None or host.decode() != socket.gethostname():
        return  # its record expires with it: rq takes over then
    try:
        os.kill(int(pid), 0)
        return  # alive (or its pid reused: then rq's own expiry applies)
    except ProcessLookupError:
        pass
    except (PermissionError, ValueError):
        return
    release = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
    connection.eval(release, 1, lock, holder)
    log.warning("released the scheduler lock of a scheduler that is gone (pid %s)", pid.decode())


def run_worker(settings: Settings, burst: bool = False) -> None:
    """The job worker: jobs run in its process (BeckonSimpleWorker), or each in a forked work
    horse with Settings.worker_fork (BECKON_WORKER_FORK=1)."""
    import backend.domain.webhooks  # noqa: F401 - imported once here, not by every job or forked work horse

    connection = Redis.from_url(settings.queue_url)
    kind: type[BeckonWorker] | type[BeckonSimpleWorker] = BeckonWorker if settings.worker_fork else BeckonSimpleWorker
    worker = kind([Queue(QUEUE, connection=connection)], connection=connection,
                          exception_handlers=[abandoned], maintenance_interval=MAINTENANCE_S,
                          worker_ttl=MAINTENANCE_S + 15,  # rq waits this less 15 s for a job, then maintains
                          job_monitoring_interval=HEARTBEAT_S)
    worker.mail = settings.mail
    worker.hooks = settings.hooks
    release_dead_scheduler(connection, QUEUE)
    worker.work(burst=burst, with_scheduler=True)


def visitor_message_subject(site_name: str, fields: dict[str, str]) -> str:
    return f"Message from {fields.get('name') or 'a visitor'} on {site_name}"


def send_visitor_message(site_name: str, to: str, fields: dict[str, str], visitor: dict[str, Any], *,
                         mail: MailSettings, site: str = "") -> None:
    """Mail a visitor's "leave a message" to the site's sales inbox (retried by rq)."""
    msg = outgoing.render("visitor_message", to, visitor_message_subject(site_name, fields), mail,
                          reply_to=fields.get("email", ""), site_name=site_name, fields=fields,
                          visitor=visitor)
    asyncio.run(outgoing.send(mail, msg))


def send_transcript(site_name: str, to: str, messages: list[dict[str, Any]], *, mail: MailSettings,
                    site: str = "") -> None:
    """Mail a chat transcript to the customer who asked for it (retried by rq)."""
    msg = outgoing.render("transcript", to, f"Your chat with {site_name}", mail, site_name=site_name,
                          messages=messages)
    asyncio.run(outgoing.send(mail, msg))


def decision_subject(site_name: str, status: str) -> str:
    return f"Your application to {site_name}: {'approved' if status == 'approved' else 'not approved'}"


def send_decision(site_name: str, to: str, name: str, status: str, note: str, login_url: str, *,
                  mail: MailSettings, site: str = "") -> None:
    """Mail an applicant the admin's decision and its note (retried by rq)."""
    msg = outgoing.render("application_decision", to, decision_subject(site_name, status), mail,
                          site_name=site_name, name=name, approved=status == "approved", note=note,
                          login_url=login_url)
    asyncio.run(outgoing.send(mail, msg))


def waiting_subject(site_name: str) -> str:
    return f"A representative's application waits on {site_name}"


def send_application_waiting(site_name: str, to: str, applicant: str, url: str, *, mail: MailSettings,
                             site: str = "") -> None:
    """Tell a site's admin that an application waits for a decision (retried by rq)."""
    msg = outgoing.render("application_waiting", to, waiting_subject(site_name), mail, site_name=site_name,
                          applicant=applicant, url=url)
    asyncio.run(outgoing.send(mail, msg))


def unanswered_subject(site_name: str) -> str:
    return f"A customer who must be contacted is still waiting on {site_name}"


def send_unanswered(site_name: str, to: str, waited_s: int, rule_set: str, visitor: dict[str, Any], url: str, *,
                    mail: MailSettings, site: str = "") -> None:
    """Tell a site's admin that nobody accepted a must-contact request in time (retried by rq)."""
    msg = outgoing.render("unanswered", to, unanswered_subject(site_name), mail, site_name=site_name,
                          minutes=max(1, round(waited_s / 60)), rule_set=rule_set, visitor=visitor, url=url)
    asyncio.run(outgoing.send(mail, msg))


def request_waiting_subject(site_name: str) -> str:
    return f"A customer is waiting for you on {site_name}"


def send_request_waiting(site_name: str, to: str, name: str, waited_s: int, page: str, url: str, *,
                         mail: MailSettings, site: str = "") -> None:
    """Tell a rep who asked for e-mail alerts that a request waits for them (retried by rq)."""
    msg = outgoing.render("request_waiting", to, request_waiting_subject(site_name), mail, site_name=site_name,
                          name=name, seconds=waited_s, page=page, url=url)
    asyncio.run(outgoing.send(mail, msg))


def send_lead(site_name: str, to: str, subject: str, reply_to: str, context: dict[str, Any], *,
              mail: MailSettings, site: str = "") -> None:
    """Mail a lead (domain/leads.py) to one addressee: a salesperson or the site's own inbox
    (retried by rq). ``subject`` and ``reply_to`` were made of one-line values; ``header`` cleans
    them again."""
    msg = outgoing.render("lead", to, subject, mail, reply_to=reply_to, site_name=site_name, **context)
    asyncio.run(outgoing.send(mail, msg))


def send_help_alert(site_name: str, to: str, subject: str, context: dict[str, Any], *, mail: MailSettings,
                    site: str = "") -> None:
    """Tell a salesperson their customer needs help on the site now (domain/leads.py:needs_help)."""
    msg = outgoing.render("help_alert", to, subject, mail, site_name=site_name, **context)
    asyncio.run(outgoing.send(mail, msg))


# The jobs a dead letter may name, to be run again: never anything else.
JOBS: dict[str, Callable[..., None]] = {
    f"{fn.__module__}.{fn.__name__}": fn
    for fn in (send_visitor_message, send_transcript, send_decision, send_application_waiting, send_unanswered,
               send_request_waiting, send_lead, send_help_alert)}


def _letter(func_name: str, args: list[Any]) -> tuple[str, str]:
    """A dead letter's kind and subject, from its job and arguments."""
    site_name = str(args[0]) if args else ""
    short = func_name.rsplit(".", 1)[-1]
    if short == "send_transcript":
        return "transcript", f"Your chat with {site_name}"
    if short == "send_decision":
        return "decision", decision_subject(site_name, str(args[3]) if len(args) > 3 else "")
    if short == "send_application_waiting":
        return "application", waiting_subject(site_name)
    if short == "send_unanswered":
        return "alert", unanswered_subject(site_name)
    if short == "send_request_waiting":
        return "alert", request_waiting_subject(site_name)
    if short == "send_lead":
        return "lead", str(args[2]) if len(args) > 2 else ""
    if short == "send_help_alert":
        return "alert", str(args[2]) if len(args) > 2 else ""
    return "message", visitor_message_subject(site_name, args[2] if len(args) > 2 and isinstance(args[2], dict)
                                              else {})


@dataclass(frozen=True)
class DeadLetter:
    """Mail that could not be sent, kept until it is resent."""

    id: str
    kind: str  # "message" (a visitor's, to sales) | "transcript" (to a customer) | "decision" (to an
    # applicant) | "application" (to an admin: one waits)
    to: str
    subject: str
    failed_at_ms: int
    error: str


def keep_dead_letter(connection: Redis, job: Job, error: str) -> None:
    """Store a job that failed for good under its site (keys.dead_letters), with what it takes
    to send it again. A job with no site (enqueued before sites were recorded) stays in rq's
    failed-job registry only."""
    kwargs = {k: v for k, v in job.kwargs.items() if k != "mail"}
    site = kwargs.get("site")
    if not site or job.func_name not in JOBS:
        log.error("mail job %s failed for good and names no site: see rq's failed jobs", job.id)
        return
    args = list(job.args)
    to = str(args[1]) if len(args) >= 2 else ""
    kind, subject = _letter(job.func_name, args)
    lines = [line.strip() for line in (error or "").strip().splitlines() if line.strip()]
    record = {
        "id": job.id, "job": job.func_name, "args": args, "kwargs": kwargs,
        "kind": kind, "to": to, "subject": subject,
        "failed_at": int(time.time() * 1000), "error": (lines[-1] if lines else "unknown error")[:300],
    }
    connection.hset(keys.dead_letters(site), job.id, json.dumps(record))
    log.warning("mail job %s failed for good; kept as a dead letter of its site", job.id)


class Jobs:
    """Enqueues jobs, lists a site's dead letters and resends them. rq's client is
    synchronous, so callers on the event loop go through ``asyncio.to_thread``; the
    connection is made on first use."""

    def __init__(self, settings: Settings, redis: aioredis.Redis | None = None) -> None:
        self.settings = settings
        self.redis = redis
        self.retry = Retry(max=len(settings.mail_retry_s), interval=list(settings.mail_retry_s))
        self._queue: Queue | None = None

    @property
    def queue(self) -> Queue:
        if self._queue is None:
            self._queue = Queue(QUEUE, connection=Redis.from_url(self.settings.queue_url))
        return self._queue

    async def _enqueue(self, fn: Callable[..., None], args: list[Any], kwargs: dict[str, Any]) -> None:
        await asyncio.to_thread(self.queue.enqueue, fn, args=tuple(args), kwargs=kwargs, retry=self.retry,
                                job_timeout=MAIL_TIMEOUT_S)

    async def visitor_message(self, site: str, site_name: str, to: str, fields: dict[str, str],
                              visitor: dict[str, Any]) -> None:
        await self._enqueue(send_visitor_message, [site_name, to, fields, visitor], {"site": site})

    async def transcript(self, site: str, site_name: str, to: str, messages: list[dict[str, Any]]) -> None:
        await self._enqueue(send_transcript, [site_name, to, messages], {"site": site})

    async def decision(self, site: str, site_name: str, to: str, name: str, status: str, note: str,
                       login_url: str) -> None:
        await self._enqueue(send_decision, [site_name, to, name, status, note, login_url], {"site": site})

    async def application_waiting(self, site: str, site_name: str, to: str, applicant: str, url: str) -> None:
        await self._enqueue(send_application_waiting, [site_name, to, applicant, url], {"site": site})

    async def unanswered(self, site: str, site_name: str, to: str, waited_s: int, rule_set: str,
                         visitor: dict[str, Any], url: str) -> None:
        await self._enqueue(send_unanswered, [site_name, to, waited_s, rule_set, visitor, url], {"site": site})

    async def request_waiting(self, site: str, site_name: str, to: str, name: str, waited_s: int, page: str,
                              url: str) -> None:
        await self._enqueue(send_request_waiting, [site_name, to, name, waited_s, page, url], {"site": site})

    async def lead(self, site: str, site_name: str, to: str, subject: str, reply_to: str,
                   context: dict[str, Any]) -> None:
        await self._enqueue(send_lead, [site_name, to, subject, reply_to, context], {"site": site})

    async def help_alert(self, site: str, site_name: str, to: str, subject: str, context: dict[str, Any]) -> None:
        await self._enqueue(send_help_alert, [site_name, to, subject, context], {"site": site})

    async def dead_letters(self, site: str) -> list[DeadLetter]:
        """The site's mail that could not be sent, newest first."""
        assert self.redis is not None
        letters = []
        for raw in (await self.redis.hgetall(keys.dead_letters(site))).values():
            r = json.loads(raw)
            letters.append(DeadLetter(r["id"], r["kind"], r["to"], r["subject"], int(r["failed_at"]),
                                      r["error"]))
        return sorted(letters, key=lambda letter: letter.failed_at_ms, reverse=True)

    async def resend(self, site: str, letter_id: str) -> bool:
        """Queue a dead letter of this site again (with its retries); False if there is none
        by that id. It leaves the list, and comes back if it fails for good again."""
        assert self.redis is not None
        key = keys.dead_letters(site)
        raw = await self.redis.hget(key, letter_id)
        if raw is None or not await self.redis.hdel(key, letter_id):
            return False  # (another admin resent it just now)
        record = json.loads(raw)
        try:
            await self._enqueue(JOBS[record["job"]], record["args"], record["kwargs"])
        except BaseException:
            await self.redis.hset(key, letter_id, raw)  # not queued: keep it
            raise
        return True
