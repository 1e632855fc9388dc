"""Settings from ``BECKON_*`` environment variables, with defaults that work on a laptop."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}") from None


def _ints(name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return tuple(int(part) for part in raw.split(","))
    except ValueError:
        raise SystemExit(f"{name} must be whole numbers separated by commas, got {raw!r}") from None


def _str(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None


def _bool(name: str, default: bool) -> bool:
    raw = (os.environ.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SystemExit(f"{name} must be 1 or 0, got {raw!r}")


def _share(name: str, default: float) -> float:
    value = _float(name, default)
    if not 0 <= value <= 0.5:
        raise SystemExit(f"{name} must be a share from 0 to 0.5, got {value!r}")
    return value


@dataclass(frozen=True)
class MailSettings:
    """What a mail job needs, and nothing secret: jobs are stored in Redis until they run."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    mail_from: str = "beckon@localhost"


@dataclass(frozen=True)
class WebhookSettings:
    """What a webhook delivery job needs from the worker's own settings."""

    allow_http: bool = False
    timeout_s: float = 10.0


@dataclass(frozen=True)
class Settings:
    # redis://host:port/db for one Redis; redis+cluster://host:port (any node) for a Redis Cluster.
    redis_url: str = "redis://127.0.0.1:6379/0"
    # The job queue's Redis (rq needs a single Redis, not a cluster); by default the main one.
    queue_redis_url: str = ""
    admin_token: str = "change-me"
    secret_key: str = "dev-secret-change-me"
    public_url: str = "http://127.0.0.1:8000"
    # Site owners may serve the script and the collector under paths of their choosing,
    # so that ad-blockers' lists of well-known paths do not match them.
    script_path: str = "/b.js"
    collect_path: str = "/v1/events"
    max_body_bytes: int = 64 * 1024
    max_events: int = 50
    visitor_ttl_s: int = 30 * 60
    heartbeat_s: int = 15
    rate_visitor_per_min: int = 120
    rate_ip_per_min: int = 1200
    site_cache_s: float = 2.0
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    mail_from: str = "beckon@localhost"
    # How often each web worker runs the offer broker for sites with needy visitors and
    # withdraws expired offers; offers reach pages within about this long.
    offer_tick_s: float = 0.5
    # After a page's goodbye (pagehide) or its live connection closing, how long the next page
    # of the same visit has to arrive before the visitor counts as gone: no more offers, and
    # a waiting chat request ends.
    page_grace_s: float = 10.0
    # The demo shop (backend/demo): which site key its pages carry.
    demo_site_key: str = "demo-site-key"
    # Addresses of the reverse proxies whose X-Forwarded-For is believed (comma-separated IPs
    # or networks). Nobody's by default: a client could otherwise pick its own address and
    # slip past the per-address limits.
    trusted_proxies: str = ""
    # A worker answers batches of events 503 (with Retry-After) while it has this many in
    # flight or its event loop runs this late: chat and offers stay responsive under a flood.
    # Batches one worker works on at once. Each is a few loop turns of work, and every chat frame
    # waits behind those in flight: at 16, chat p95 was 0.5 s under a flood; at 8 or 4, 9-21 ms,
    # and the worker took as many batches (scripts/bench/chat.py, README). 8 leaves room for a
    # Redis across a network, whose round trips a worker fills with other batches.
    collector_max_inflight: int = 8
    collector_max_lag_ms: float = 100.0
    # A console session ends after this long without a request (and 12 h after login at most).
    session_idle_s: int = 2 * 3600
    # A chat (and a request nobody took) is gone this long after its last message: its
    # messages with it, and the representative's slot is free again.
    chat_ttl_s: int = 24 * 3600
    # Orders a site records (raw, with their items) are kept this long after their time.
    order_retention_days: int = 400
    # Leads (contact requests, registration updates, purchases; domain/leads.py) are kept this long.
    lead_retention_days: int = 400
    # A mail job that fails is tried again after each of these delays (s); after the last it
    # is kept as a dead letter of its site, for an admin to resend.
    mail_retry_s: tuple[int, ...] = (5, 30, 120, 600)
    # A webhook delivery that fails (no 2xx, or no answer in 10 s) is tried again after each of
    # these delays (s); after the last it is marked failed in the delivery log, to be resent.
    webhook_retry_s: tuple[int, ...] = (10, 60, 300, 1800, 7200)
    # For development only: webhook endpoints may be http:// and local addresses (127.0.0.1,
    # private networks); otherwise only https:// to public addresses.
    webhooks_allow_http: bool = False
    # The job worker runs each job in its own process (rq's SimpleWorker); True: in a work horse
    # forked per job (rq's Worker), which isolates a job that crashes or leaks and costs ~40 ms
    # of CPU per job (scripts/bench/notify.py).
    worker_fork: bool = False
    # A chat message is acknowledged to its sender only once this many replicas have it (Redis
    # WAIT, up to chat_replica_timeout_ms; fewer in time: the sender is told to send it again):
    # replication is asynchronous, and a master that dies loses what it had not yet shipped.
    # None: 1 on a cluster (whose masters have replicas to promote), 0 on a single Redis.
    chat_replicas: int | None = None
    chat_replica_timeout_ms: int = 1000
    # The funnel's daily counters (core/counters.py) are kept this long, then expire.
    counter_retention_days: int = 400
    # A new site's holdout share (core/policy.py:OfferSettings.holdout_share): of the visitors
    # who come to need help, this share is never offered it, to measure what help changes.
    holdout_default: float = 0.10
    # Documents uploaded to the materials library (PDF and images) are stored here, in a
    # folder per site, each under a random name. Empty: a media/ folder beside the project.
    media_dir: str = ""
    # An upload larger than this is refused (413) while its body is read.
    media_max_bytes: int = 10 * 1024 * 1024

    @property
    def media_path(self) -> Path:
        return Path(self.media_dir) if self.media_dir else Path(__file__).resolve().parent.parent / "media"

    @property
    def chat_wait_replicas(self) -> int:
        if self.chat_replicas is not None:
            return max(0, self.chat_replicas)
        return 1 if self.redis_url.startswith("redis+cluster://") else 0

    @property
    def queue_url(self) -> str:
        if self.queue_redis_url:
            return self.queue_redis_url
        if self.redis_url.startswith("redis+cluster://"):
            raise SystemExit("BECKON_QUEUE_URL must name a single Redis for the job queue (rq cannot use a "
                             "cluster) when BECKON_REDIS_URL is a cluster")
        return self.redis_url

    def weak_secrets(self) -> list[str]:
        """The secrets still at their defaults or too short to resist guessing."""
        weak = []
        if self.admin_token == Settings.admin_token or len(self.admin_token) < 16:
            weak.append("BECKON_ADMIN_TOKEN (at least 16 characters)")
        if self.secret_key == Settings.secret_key or len(self.secret_key) < 32:
            weak.append("BECKON_SECRET_KEY (at least 32 characters)")
        return weak

    @property
    def mail(self) -> MailSettings:
        return MailSettings(self.smtp_host, self.smtp_port, self.mail_from)

    @property
    def hooks(self) -> WebhookSettings:
        return WebhookSettings(allow_http=self.webhooks_allow_http)

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            redis_url=_str("BECKON_REDIS_URL", cls.redis_url),
            queue_redis_url=_str("BECKON_QUEUE_URL", cls.queue_redis_url),
            admin_token=_str("BECKON_ADMIN_TOKEN", cls.admin_token),
            secret_key=_str("BECKON_SECRET_KEY", cls.secret_key),
            public_url=_str("BECKON_PUBLIC_URL", cls.public_url).rstrip("/"),
            script_path=_str("BECKON_SCRIPT_PATH", cls.script_path),
            collect_path=_str("BECKON_COLLECT_PATH", cls.collect_path),
            max_body_bytes=_int("BECKON_MAX_BODY_BYTES", cls.max_body_bytes),
            max_events=_int("BECKON_MAX_EVENTS", cls.max_events),
            visitor_ttl_s=_int("BECKON_VISITOR_TTL", cls.visitor_ttl_s),
            heartbeat_s=_int("BECKON_HEARTBEAT", cls.heartbeat_s),
            rate_visitor_per_min=_int("BECKON_RATE_VISITOR_PER_MIN", cls.rate_visitor_per_min),
            rate_ip_per_min=_int("BECKON_RATE_IP_PER_MIN", cls.rate_ip_per_min),
            smtp_host=_str("BECKON_SMTP_HOST", cls.smtp_host),
            smtp_port=_int("BECKON_SMTP_PORT", cls.smtp_port),
            mail_from=_str("BECKON_MAIL_FROM", cls.mail_from),
            offer_tick_s=_float("BECKON_OFFER_TICK_S", cls.offer_tick_s),
            page_grace_s=_float("BECKON_PAGE_GRACE_S", cls.page_grace_s),
            demo_site_key=_str("BECKON_DEMO_SITE_KEY", cls.demo_site_key),
            trusted_proxies=_str("BECKON_TRUSTED_PROXIES", cls.trusted_proxies),
            session_idle_s=_int("BECKON_SESSION_IDLE_S", cls.session_idle_s),
            chat_ttl_s=_int("BECKON_CHAT_TTL_S", cls.chat_ttl_s),
            order_retention_days=_int("BECKON_ORDER_RETENTION_DAYS", cls.order_retention_days),
            lead_retention_days=_int("BECKON_LEAD_RETENTION_DAYS", cls.lead_retention_days),
            mail_retry_s=_ints("BECKON_MAIL_RETRY_S", cls.mail_retry_s),
            webhook_retry_s=_ints("BECKON_WEBHOOK_RETRY_S", cls.webhook_retry_s),
            webhooks_allow_http=_bool("BECKON_WEBHOOKS_ALLOW_HTTP", cls.webhooks_allow_http),
            worker_fork=_bool("BECKON_WORKER_FORK", cls.worker_fork),
            chat_replicas=_int("BECKON_CHAT_REPLICAS", 0) if os.environ.get("BECKON_CHAT_REPLICAS") else None,
            chat_replica_timeout_ms=_int("BECKON_CHAT_REPLICA_TIMEOUT_MS", cls.chat_replica_timeout_ms),
            collector_max_inflight=_int("BECKON_COLLECTOR_MAX_INFLIGHT", cls.collector_max_inflight),
            collector_max_lag_ms=_float("BECKON_COLLECTOR_MAX_LAG_MS", cls.collector_max_lag_ms),
            counter_retention_days=_int("BECKON_COUNTER_RETENTION_DAYS", cls.counter_retention_days),
            holdout_default=_share("BECKON_HOLDOUT_DEFAULT", cls.holdout_default),
            media_dir=_str("BECKON_MEDIA_DIR", cls.media_dir),
            media_max_bytes=_int("BECKON_MEDIA_MAX_BYTES", cls.media_max_bytes),
        )
