"""Leads (issue 13): a customer asked to be contacted (the widget, a marked form, the site's
server), changed their contact details (the records API, a trusted identify()), or bought (an
order stored the first time). Each is merged with the customer's record, routed to a
salesperson (core/leads.py:route decides, with the site's territory table and staff records),
stored like orders (a time index trimmed to the lead retention, the lead's JSON with a TTL),
and handed to the people who should hear of it (``_notify``).

The rotation's turn is a counter per site and product line, advanced only when a lead was
actually given to the next in turn, so assigned and territory leads do not skip anyone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable, Protocol

import redis.asyncio as aioredis

from backend.core import frames
from backend.core import leads as core
from backend.core.leads import Facts, Lead, LeadSettings, Request, Territory
from backend.core.orders import Order
from backend.core.records import Customer, Product, Staff
from backend.core.validation import ValidationError
from backend.domain.jobs import Jobs
from backend.domain.matching import Matching, session_facts
from backend.domain.push import Hub
from backend.domain.records import Records
from backend.domain.sites import Site, Sites, identity_signed
from backend.domain.visitors import Visitors
from backend.store import keys

log = logging.getLogger("beckon.leads")

DAY_MS = 86_400_000
LIST_MAX = 1000
RECENT_CHUNK = 200
RECENT_SCAN_MAX = 5000  # leads read for one page of the console's list at most
SEEN_TTL_S = 30 * 86400  # an identify() reporting the same change again within this makes no new lead


@dataclass(frozen=True)
class Context:
    """What routing and notifying read of a site, read once for a batch of leads."""

    staff: dict[str, Staff]
    table: list[Territory]
    extra_to: list[str]


class Emitter(Protocol):
    """What the leads need of the signed webhooks (domain/webhooks.py:Webhooks.emit)."""

    async def emit(self, site: str, event_type: str, data: dict[str, Any], event_id: str | None = None) -> None: ...


class LeadError(ValidationError):
    """A contact request or a table that cannot be taken; ``errors`` lists every problem."""


def _row_of(error: tuple[str, str]) -> int:
    """A table error's row ("[3].staff" -> 3; the whole table's first)."""
    head = error[0].partition("]")[0]
    return int(head[1:]) if head.startswith("[") and head[1:].isdigit() else -1


def new_id() -> str:
    return "ld_" + secrets.token_urlsafe(12)


def purchase_id(order_id: str) -> str:
    """One purchase lead per order, whoever records it twice."""
    return "ldp_" + hashlib.sha256(order_id.encode()).hexdigest()[:24]


class Leads:
    def __init__(self, redis: aioredis.Redis, sites: Sites, records: Records, visitors: Visitors,
                 matching: Matching, jobs: Jobs, hub: Hub, retention_days: int, public_url: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.sites = sites
        self.records = records
        self.visitors = visitors
        self.matching = matching
        self.jobs = jobs
        self.hub = hub
        self.retention_ms = retention_days * DAY_MS
        self.public_url = public_url.rstrip("/")
        self.clock = clock
        self.webhooks: Emitter | None = None  # lead.created and alert.* events, once wired

    # --- settings ------------------------------------------------------------------------

    async def territories(self, site: str) -> list[Territory]:
        raw = await self.redis.get(keys.lead_territories(site))
        found = core.parse_territories(json.loads(raw)) if raw else []
        return [t for t in found if isinstance(t, Territory)]

    async def set_territories(self, site: str, data: object) -> list[Territory]:
        """The whole table, or nothing: LeadError lists every problem, a row naming a staff id
        that has no record among them."""
        found = core.parse_territories(data)
        staff = await self.records.all_staff(site)
        named = [" ".join(row["staff"].split()) if isinstance(row, dict) and isinstance(row.get("staff"), str) else ""
                 for row in (data if isinstance(data, list) else [])]  # every row's, so all problems show at once
        errors = [(f"[{i}].staff", f"no staff member has the id {sid!r}; add the staff first")
                  for i, sid in enumerate(named) if sid and sid not in staff]
        if not isinstance(found, list) or (found and not isinstance(found[0], Territory)):
            raise LeadError(sorted(found + errors, key=_row_of))  # type: ignore[operator]
        if errors:
            raise LeadError(errors)
        table: list[Territory] = found  # type: ignore[assignment]
        await self.redis.set(keys.lead_territories(site), json.dumps([t.as_json() for t in table]))
        return table

    async def settings(self, site: str) -> LeadSettings:
        raw = await self.redis.get(keys.lead_settings(site))
        found = core.parse_lead_settings(json.loads(raw)) if raw else LeadSettings()
        return found if isinstance(found, LeadSettings) else LeadSettings()

    async def set_settings(self, site: str, data: object) -> LeadSettings:
        found = core.parse_lead_settings(data)
        if not isinstance(found, LeadSettings):
            raise LeadError(found)
        await self.redis.set(keys.lead_settings(site), json.dumps(found.as_json()))
        return found

    async def extra_to(self, site: Site) -> list[str]:
        """The site's own addressees of every lead: its "leave a message" inbox, then extra_to."""
        first = [site.offer.sales_email] if site.offer.sales_email else []
        return first + list((await self.settings(site.key)).extra_to)

    # --- making leads --------------------------------------------------------------------

    async def contact(self, site: Site, request: Request, source: str, vid: str = "") -> Lead:
        """A contact request: the customer's record (by the request's customer id, else e-mail,
        else the visitor's trusted identity) merged under the request (its fields win), the
        model's product line, consent, routed, stored and notified."""
        if source not in core.SOURCES:
            raise LeadError([("source", "must be one of " + ", ".join(core.SOURCES))])
        detail = await self.visitors.detail(site.key, vid) if vid else None
        customer = await self.records.find_customer(site.key, id=request.customer_id or None,
                                                    email=request.email or None)
        page_model = page_line = ""
        if detail is not None:
            facts = session_facts(site, await self.matching.rule_sets(site.key), detail)
            customer = customer or await self._identified_customer(site, detail)
            page_model, page_line = facts.product.lower(), facts.category.lower()
            profile = detail.get("profile") or {}
            request = replace(request, name=request.name or profile.get("name", ""),
                              postcode=request.postcode or core.fold_area(profile.get("area", "")))
        c = customer or Customer()
        model = request.model or page_model
        lead = Lead(id=new_id(), kind="contact", source=source, created_ms=self._now_ms(), visitor=vid,
                    customer=c.label, name=request.name or c.name, email=request.email or c.email,
                    phone=request.phone or c.phone, postcode=request.postcode or core.fold_area(c.postcode),
                    area_code=core.fold_area(c.area_code), company=request.company, comment=request.comment,
                    model=model, line=await self._line(site.key, model) or page_line,
                    consent=core.consented(request.consent, customer))
        return await self._finish(site, lead, c.assigned_staff)

    async def registration(self, site: Site, before: Customer, after: Customer, source: str,
                           context: Context | None = None) -> Lead | None:
        """A registration update when the customer's contact details changed (None if they did
        not). Consent is the customer's stored one."""
        changes = core.changed_details(before, after)
        if not changes:
            return None
        lead = Lead(id=new_id(), kind="registration", source=source, created_ms=self._now_ms(),
                    customer=after.label, name=after.name, email=after.email, phone=after.phone,
                    postcode=core.fold_area(after.postcode), area_code=core.fold_area(after.area_code),
                    consent=after.consent.sales, changes=changes)
        return await self._finish(site, lead, after.assigned_staff, context)

    async def purchase(self, site: Site, order: Order) -> Lead:
        """A purchase lead: the buyer's record by the order's customer id or e-mail, the product
        line of the first item whose model is a product record. An order is no consent to sales
        contact: without the customer's stored consent the lead is kept as no_consent."""
        customer = await self.records.find_customer(site.key, id=order.customer_id or None, email=order.email or None)
        if customer is None and order.visitor_id:  # Beckon.purchase names no customer: the visitor's identity
            customer = await self._identified_customer(site, await self.visitors.detail(site.key, order.visitor_id))
        c = customer or Customer()
        products = await self.records.products(site.key, self.models_of(order))
        first = next((p for p in products.values() if p.category), next(iter(products.values()), None))
        lead = Lead(id=purchase_id(order.order_id), kind="purchase", source="order", created_ms=self._now_ms(),
                    visitor=order.visitor_id, customer=c.label, name=c.name, email=order.email or c.email,
                    phone=c.phone, postcode=core.fold_area(c.postcode), area_code=core.fold_area(c.area_code),
                    model=first.model if first else "",
                    line=first.category if first else next((i.category.lower() for i in order.items if i.category), ""),
                    consent=core.consented(None, customer), order_id=order.order_id)
        return await self._finish(site, lead, c.assigned_staff, order=order)

    async def _identified_customer(self, site: Site, detail: dict[str, Any] | None) -> Customer | None:
        """The record of whom the visitor identified as, when the site trusts that identity
        (signed, where the site requires signatures: ``Site.claimed``)."""
        if detail is None:
            return None
        return await self.records.claimed_customer(site.key, site.claimed(detail.get("profile") or {}))

    @staticmethod
    def models_of(order: Order) -> list[str]:
        """The product models an order's items name (sku, else name), lower-cased, in order."""
        out: list[str] = []
        for item in order.items:
            for value in (item.sku, item.name):
                if value and value.lower() not in out:
                    out.append(value.lower())
        return out

    # --- hooks: what other rooms tell the leads ------------------------------------------

    async def customers_updated(self, site: str, changed: list[tuple[Customer, Customer]]) -> None:
        """From Records.upsert: each updated customer whose contact details changed makes one
        registration lead. Created customers make none: a bulk import is the site moving its
        records in, not a customer action, and a new record changed nothing anyone agreed to."""
        found = await self.sites.get(site)
        if found is None:
            return
        context = await self.context(found)
        for before, after in changed:
            await self.registration(found, before, after, "api", context)

    async def needs_help(self, site: Site, vid: str) -> tuple[str, ...]:
        """The visitor just started needing help: when they are a customer whose identity the site
        vouches for (as matching trusts it) and their assigned salesperson asked to hear of it,
        tell them over the channels they chose, once an hour per customer. The channels used."""
        detail = await self.visitors.detail(site.key, vid)
        if detail is None:
            return ()
        customer = await self._identified_customer(site, detail)
        staff = await self.records.get(site.key, "staff", customer.assigned_staff) \
            if customer and customer.assigned_staff else None
        channels = core.help_channels(staff if isinstance(staff, Staff) else None)
        if not channels or customer is None or not isinstance(staff, Staff) or not await self.redis.set(
                keys.help_alerted(site.key, customer.key), vid, nx=True, ex=core.HELP_ALERT_EVERY_S):
            return ()
        shown = frames.visitor_detail(detail) or {}
        reasons = [str(r.get("rule")) for r in detail.get("reasons") or [] if isinstance(r, dict) and r.get("rule")]
        name = customer.name or customer.email or customer.id
        page = str(shown.get("url") or "")
        if "console" in channels:
            await self.hub.send(keys.rep_channel(site.key, staff.rep),
                                frames.customer_needs_help(vid, customer.id or customer.email, name, page, reasons))
        if "email" in channels and staff.email:
            await self.jobs.help_alert(site.key, site.name, staff.email, core.help_subject(name, site.name), {
                "customer": {"name": customer.name, "email": customer.email, "phone": customer.phone},
                "staff": {"name": staff.name}, "visitor": shown, "reasons": reasons,
                "console_url": f"{self.public_url}/console/visitors/{vid}"})
        if "webhook" in channels and self.webhooks is not None:
            try:
                await self.webhooks.emit(site.key, "alert.customer_needs_help", {
                    "staff": {"id": staff.id, "name": staff.name, "email": staff.email},
                    "customer": customer.as_json(), "visitor": vid, "page": page, "reasons": reasons})
            except Exception:
                log.exception("the customer_needs_help webhook event was not queued")
        return channels

    async def identified(self, site: Site, ev: dict[str, Any]) -> Lead | None:
        """From a trusted identify(): a registration update when it carries a name or e-mail
        differing from the customer's record (not its ``area``: a region or a postcode's first
        part, which a full postcode on record would always "differ" from); the same change
        reported again (every page sends its identity) makes no second lead. Only from a signed
        identify(), even where the site does not require signing: the lead tells the sales staff
        to change a customer's record, which no visitor may do by typing an e-mail address."""
        if not identity_signed(site.identity_secret, ev):
            return None
        customer = await self.records.find_customer(site.key, id=ev.get("id") or None, email=ev.get("email") or None)
        if customer is None:
            return None
        after = replace(customer, name=ev.get("name") or customer.name, email=ev.get("email") or customer.email)
        changes = core.changed_details(customer, after)
        if not changes:
            return None
        digest = hashlib.sha256(json.dumps([customer.key, [getattr(after, f) for f in changes]]).encode()).hexdigest()
        if not await self.redis.set(keys.lead_seen(site.key, digest[:32]), "1", nx=True, ex=SEEN_TTL_S):
            return None
        return await self.registration(site, customer, after, "identify")

    async def order_stored(self, site: str, order: Order) -> None:
        """From Orders.record: the purchase lead of an order stored for the first time (or whose
        lead a crash left unmade: a retried order makes it then)."""
        if await self.redis.exists(keys.lead(site, purchase_id(order.order_id))):
            return
        found = await self.sites.get(site)
        if found is not None:
            await self.purchase(found, order)

    # --- reading -------------------------------------------------------------------------

    async def get(self, site: str, lead_id: str) -> Lead | None:
        raw = await self.redis.get(keys.lead(site, lead_id))
        return Lead.from_json(json.loads(raw)) if raw else None

    async def list(self, site: str, from_ms: int, to_ms: int, cursor: str = "",
                   limit: int = 100) -> tuple[list[Lead], str]:
        """Leads whose time is in [from_ms, to_ms], oldest first, from after ``cursor`` (a
        previous page's: "<ms>.<id>"); the next page's cursor, "" after the last."""
        limit = max(1, min(limit, LIST_MAX))
        floor = max(from_ms, self._now_ms() - self.retention_ms)
        after_ms, after_id = -1, ""
        if cursor:
            after_ms, after_id = self._cursor(cursor)
            floor = max(floor, after_ms)
        ties = int(await self.redis.zcount(keys.leads(site), after_ms, after_ms)) if cursor else 0
        found = await self.redis.zrangebyscore(keys.leads(site), floor, to_ms, start=0, num=limit + 1 + ties,
                                               withscores=True)
        ids = [(lid, int(ms)) for lid, ms in found if not (int(ms) == after_ms and lid <= after_id)][:limit + 1]
        more, ids = len(ids) > limit, ids[:limit]
        if not ids:
            return [], ""
        async with self.redis.pipeline(transaction=False) as pipe:
            for lid, _ in ids:
                pipe.get(keys.lead(site, lid))
            rows = await pipe.execute()
        out = [Lead.from_json(json.loads(raw)) for raw in rows if raw]
        return out, (f"{ids[-1][1]}.{ids[-1][0]}" if more else "")

    @staticmethod
    def _cursor(cursor: str) -> tuple[int, str]:
        found = core.parse_cursor(cursor)
        if found is None:
            raise LeadError([("cursor", "must be the cursor a previous page gave")])
        return found

    async def recent(self, site: str, from_ms: int, to_ms: int, keep: Callable[[Lead], bool],
                     cursor: str = "", limit: int = 50, scan_max: int | None = None) -> tuple[list[Lead], str]:
        """The console's list: leads in [from_ms, to_ms] that ``keep`` passes, newest first, from
        before ``cursor`` ("<ms>.<id>"); the next page's cursor, "" after the last. At most
        ``scan_max`` leads are read per call, so a rare filter over a long period answers with
        a short page and a cursor to go on rather than reading the whole index."""
        scan_max = scan_max or RECENT_SCAN_MAX
        floor = max(from_ms, self._now_ms() - self.retention_ms)
        top_ms, top_id = to_ms, ""
        if cursor:
            ms, lid = self._cursor(cursor)
            top_ms, top_id = (ms, lid) if ms <= to_ms else (to_ms, "")
        out: list[Lead] = []
        scanned = 0
        while scanned < scan_max:
            ties = int(await self.redis.zcount(keys.leads(site), top_ms, top_ms)) if top_id else 0
            want = min(RECENT_CHUNK, scan_max - scanned)
            found = await self.redis.zrevrangebyscore(keys.leads(site), top_ms, floor, start=0, num=want + ties,
                                                      withscores=True)
            ids = [(lid, int(ms)) for lid, ms in found if not (top_id and int(ms) == top_ms and lid >= top_id)][:want]
            if not ids:
                return out, ""
            async with self.redis.pipeline(transaction=False) as pipe:
                for lid, _ in ids:
                    pipe.get(keys.lead(site, lid))
                rows = await pipe.execute()
            for (lid, ms), raw in zip(ids, rows):
                lead = Lead.from_json(json.loads(raw)) if raw else None
                if lead is not None and keep(lead):
                    if len(out) == limit:  # one more than the page: there is a next one
                        last = out[-1]
                        return out, f"{last.created_ms}.{last.id}"
                    out.append(lead)
                top_ms, top_id = ms, lid
            scanned += len(ids)
            if len(ids) < want:
                return out, ""
        return out, f"{top_ms}.{top_id}"

    # --- the common end ------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def _line(self, site: str, model: str) -> str:
        if not model:
            return ""
        found = (await self.records.products(site, [model])).get(model)
        return found.category if found else ""

    async def context(self, site: Site) -> Context:
        return Context(await self.records.all_staff(site.key), await self.territories(site.key),
                       await self.extra_to(site))

    async def _finish(self, site: Site, lead: Lead, assigned: str, context: Context | None = None,
                      order: Order | None = None) -> Lead:
        ctx = context or await self.context(site)
        staff, table = ctx.staff, ctx.table
        facts = Facts(area=lead.postcode or lead.area_code, model=lead.model, line=lead.line, assigned=assigned,
                      consent=lead.consent)
        now = datetime.fromtimestamp(self.clock(), timezone.utc)
        routed = core.route(facts, staff, table, 0, now)
        if routed.path == "rotation":  # only a rotated lead advances the turn
            turn = int(await self.redis.hincrby(keys.lead_turns(site.key), lead.line or lead.model, 1)) - 1
            routed = core.route(facts, staff, table, turn, now)
        lead = replace(lead, staff=routed.staff, path=routed.path, why=routed.why, status=core.status_of(routed))
        person = staff.get(routed.staff)
        lead = replace(lead, notified=tuple(core.addressees(lead, person, ctx.extra_to)))
        if not await self._store(site.key, lead):
            return await self.get(site.key, lead.id) or lead  # a purchase lead made once
        try:
            await self._notify(site, lead, person, order)
        except Exception:  # noqa: BLE001 - the lead is stored and shown in the console; the
            # request that made it (an order, a batch, a form) must not fail over its mail, nor
            # be sent again to make a second lead
            log.exception("lead %s is stored but its people could not be told (the job queue?)", lead.id)
        return lead

    async def _store(self, site: str, lead: Lead) -> bool:
        """The lead's JSON (once: False if its id was stored already) and its place in the index."""
        ttl_ms = lead.created_ms + self.retention_ms - self._now_ms()
        stored = bool(await self.redis.set(keys.lead(site, lead.id), json.dumps(lead.as_json()), nx=True,
                                           px=max(1, ttl_ms)))
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(keys.leads(site), {lead.id: lead.created_ms}, nx=True)
            pipe.zremrangebyscore(keys.leads(site), "-inf", self._now_ms() - self.retention_ms)
            pipe.pexpire(keys.leads(site), self.retention_ms)
            await pipe.execute()
        return stored

    async def _notify(self, site: Site, lead: Lead, staff: Staff | None, order: Order | None) -> None:
        """Tell the people who should hear of the lead over the channels they chose: one mail
        job per addressee (each retried, and a dead letter on its own), the console rep's
        notification, the webhooks."""
        if lead.notified:
            context = await self.mail_context(site, lead, staff, order)
            subject, reply_to = core.subject(lead, site.name), core.reply_to(lead)
            for to in lead.notified:
                await self.jobs.lead(site.key, site.name, to, subject, reply_to, context)
        if core.alerts_console(lead, staff):
            await self.hub.send(keys.rep_channel(site.key, staff.rep), frames.lead(lead))  # type: ignore[union-attr]
        await self._emit(site, lead, staff)

    async def mail_context(self, site: Site, lead: Lead, staff: Staff | None, order: Order | None) -> dict[str, Any]:
        """Plain data for the lead's mail, gathered now (a visit may expire before the job runs):
        the product, what the visitor did, and for a purchase each item's related products."""
        models = [lead.model] if lead.model else []
        related_models: list[str] = []
        bought = await self.records.products(site.key, self.models_of(order)) if order else {}
        asked = await self.records.products(site.key, models) if models and not order else {}
        for p in (*bought.values(), *asked.values()):
            for kind in ("attachments", "expendables", "options"):
                related_models += getattr(p.related, kind)
        found = await self.records.products(site.key, models + related_models)
        product = found.get(lead.model)
        # what goes with the product the customer asked about: a salesperson's opening
        goes_with = {kind: [self._product_json(found.get(m), m) for m in getattr(product.related, kind)]
                     for kind in ("attachments", "expendables", "options")} if product and not order else {}
        items = []
        for item in order.items if order else ():
            p = bought.get(item.sku.lower()) or bought.get(item.name.lower())
            related = {kind: [self._product_json(found.get(m), m) for m in getattr(p.related, kind)] if p else []
                       for kind in ("attachments", "expendables", "options")}
            items.append({"sku": item.sku, "name": item.name or (p.name if p else ""), "qty": item.qty,
                          "price": f"{item.price} {order.currency}", "related": related})  # type: ignore[union-attr]
        detail = await self.visitors.detail(site.key, lead.visitor) if lead.visitor else None
        visitor = None
        if detail is not None:
            shown = frames.visitor_detail(detail) or {}
            visitor = {"pages": shown.get("pages", []), "form_errors": shown.get("form_errors", [])}
        return {
            "lead": lead.as_json(), "items": items, "visitor": visitor, "goes_with": goes_with,
            "product": self._product_json(product, lead.model) if product else None,
            "staff": {"id": staff.id, "name": staff.name, "email": staff.email} if staff and lead.staff else None,
            "visitor_url": f"{self.public_url}/console/visitors/{lead.visitor}" if lead.visitor else "",
        }

    @staticmethod
    def _product_json(p: Product | None, model: str) -> dict[str, Any]:
        if p is None:
            return {"model": model, "name": "", "line": "", "price": "", "currency": ""}
        return {"model": p.model, "name": p.name, "line": p.category,
                "price": "" if p.price is None else str(p.price), "currency": p.currency}

    async def _emit(self, site: Site, lead: Lead, staff: Staff | None) -> None:
        """lead.created, and alert.new_lead / alert.purchase for a staff member who chose the
        webhook channel, over the site's signed webhooks (once wired: ``webhooks``). The lead is
        stored: a queue that is down loses the events (logged), not the lead."""
        if self.webhooks is None:
            return
        try:
            await self.webhooks.emit(site.key, "lead.created", {"lead": lead.as_json()}, event_id=f"evt_{lead.id}")
            if core.alerts_webhook(lead, staff):
                await self.webhooks.emit(site.key, f"alert.{lead.event}", {
                    "staff": {"id": staff.id, "name": staff.name, "email": staff.email},  # type: ignore[union-attr]
                    "lead": lead.as_json()}, event_id=f"evt_alert_{lead.id}")
        except Exception:
            log.exception("webhook events of lead %s not queued", lead.id)
