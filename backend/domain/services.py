"""Every domain service of a running web worker, built once and handed to the edge.

The edge reaches a service as ``services(request).chats`` (``backend.web.http``), so every
handler names exactly which service it calls, with its type.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from backend import store
from backend.config import Settings
from backend.domain.accreditations import Accreditations
from backend.domain.api_keys import ApiKeys
from backend.domain.applications import Applications
from backend.domain.chat import Chats
from backend.domain.contact_form import ContactForms
from backend.domain.counters import Counters
from backend.domain.reports import Reports
from backend.domain.enterprises import Enterprises
from backend.domain.jobs import Jobs
from backend.domain.leads import Leads
from backend.domain.logins import LoginThrottle
from backend.domain.matching import Matching
from backend.domain.materials import Materials
from backend.domain.media import MediaDir
from backend.domain.memberships import Memberships
from backend.domain.offers import Broker, Ticker
from backend.domain.attribution import Attribution
from backend.domain.best_practices import BestPractices
from backend.domain.orders import Orders
from backend.domain.presence import Presence
from backend.domain.push import Hub
from backend.domain.practices import Practices
from backend.domain.ratings import Ratings
from backend.domain.reveals import Reveals
from backend.domain.sales import Sales
from backend.domain.touches import Touches
from backend.domain.record_imports import RecordImports
from backend.domain.records import Records
from backend.domain.reps import Reps
from backend.domain.routing import Routing
from backend.domain.sessions import Sessions
from backend.domain.sites import Sites
from backend.domain.tasks import Outage
from backend.domain.visitors import Visitors
from backend.domain.webhooks import Webhooks
from backend.store.scripts import Scripts


@dataclass(frozen=True)
class Services:
    settings: Settings
    redis: store.Client
    scripts: Scripts
    sites: Sites
    api_keys: ApiKeys
    reps: Reps
    sessions: Sessions
    logins: LoginThrottle
    visitors: Visitors
    orders: Orders
    hub: Hub
    broker: Broker
    ticker: Ticker
    presence: Presence
    chats: Chats
    jobs: Jobs
    accreditations: Accreditations
    matching: Matching
    routing: Routing
    applications: Applications
    enterprises: Enterprises
    memberships: Memberships
    ratings: Ratings
    sales: Sales
    touches: Touches
    counters: Counters
    reports: Reports
    materials: Materials
    practices: Practices
    best_practices: BestPractices
    records: Records
    webhooks: Webhooks
    record_imports: RecordImports
    leads: Leads
    contacts: ContactForms
    reveals: Reveals

    @classmethod
    def build(cls, settings: Settings) -> "Services":
        redis = store.connect(settings)
        scripts = Scripts(redis, settings.counter_retention_days * 86400)
        sites = Sites(redis, settings)
        reps = Reps(redis, Sessions(redis, settings.session_idle_s))
        visitors = Visitors(redis, scripts, settings)
        grace_ms = int(settings.page_grace_s * 1000)
        outage = Outage(logging.getLogger("beckon"))  # one line per outage, whichever loop notices
        hub = Hub(redis, grace_ms, outage)
        # dead letters live beside the queue, where the job worker writes them
        jobs = Jobs(settings, redis if settings.queue_url == settings.redis_url else store.connect_queue(settings))
        broker = Broker(redis, scripts, hub, sites, settings.heartbeat_s, grace_ms, settings.chat_ttl_s)
        chats = Chats(redis, scripts, hub, reps, visitors, jobs, settings.chat_ttl_s, settings.chat_wait_replicas,
                      settings.chat_replica_timeout_ms)
        hub.catch_up = chats.catch_up
        accreditations = Accreditations(redis)
        matching = Matching(redis, reps, visitors, accreditations)
        routing = Routing(redis, scripts, sites, matching, chats, jobs, settings.public_url.rstrip("/") + "/console/")
        broker.routing = routing
        broker.touches = chats.touches = touches = Touches(redis)
        counters_ = Counters(redis)
        sales = Sales(redis)
        orders = Orders(redis, settings.order_retention_days)
        materials = Materials(redis, MediaDir(settings.media_path, settings.media_max_bytes))
        practices = Practices(redis, materials, visitors, matching, sites)
        orders.attribution = Attribution(redis, touches, sales, settings.counter_retention_days * 86400,
                                         orders.retention_ms, practices)
        records = Records(redis)
        enterprises = Enterprises(redis, sites)
        records.scope_of = enterprises.records_scope
        leads = Leads(redis, sites, records, visitors, matching, jobs, hub, settings.lead_retention_days,
                      settings.public_url)
        records.on_customers_updated = leads.customers_updated
        orders.leads = leads
        webhooks = Webhooks(settings, jobs)
        orders.webhooks = records.webhooks = leads.webhooks = webhooks
        return cls(
            settings=settings, redis=redis, scripts=scripts, sites=sites, api_keys=ApiKeys(redis), reps=reps,
            sessions=reps.sessions, logins=LoginThrottle(redis), visitors=visitors, hub=hub, broker=broker,
            orders=orders,
            ticker=Ticker(broker, redis, settings.offer_tick_s, outage), presence=Presence(reps, broker),
            chats=chats, jobs=jobs, accreditations=accreditations, matching=matching, routing=routing,
            applications=Applications(redis, reps, jobs, settings.public_url),
            enterprises=enterprises, ratings=Ratings(scripts, hub, practices), sales=sales,
            touches=touches,
            memberships=Memberships(reps, enterprises), counters=counters_,
            reports=Reports(redis, counters_, reps),
            materials=materials, practices=practices, best_practices=BestPractices(chats, materials, practices),
            records=records, leads=leads, webhooks=webhooks,
            record_imports=RecordImports(redis),
            contacts=ContactForms(redis, records, visitors, matching, leads, broker), reveals=Reveals(redis),
        )

    def __post_init__(self) -> None:
        self.record_imports.records = self.records  # one Records: its hooks (leads) see console imports too

    async def open(self) -> None:
        with contextlib.suppress(*store.UNAVAILABLE):  # without Redis now, the loops wait for it
            await store.prepare(self.redis)

    def start(self) -> None:
        """The per-worker background loops: the push reader and the offer ticker."""
        self.hub.start()
        self.ticker.start()

    async def stop(self) -> None:
        """In order, each step bounded, so a worker exits promptly even without Redis: the
        loops that start work first, then work in flight, then delivery, then the connections."""
        await self.record_imports.stop()
        await self.ticker.stop()
        await self.broker.stop()
        await self.hub.stop()
        self.scripts.lanes.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.redis.aclose(), 2)
        if self.jobs.redis is not None and self.jobs.redis is not self.redis:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.jobs.redis.aclose(), 2)
