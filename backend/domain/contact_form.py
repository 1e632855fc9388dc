"""The customer's contact form (issue 13, "What makes a lead" 1): Beckon's own form in the
widget, and a site's own form marked ``data-beckon-form="contact"``, both on a visitor's
behalf (the edge has checked site, origin and visitor token).

What the page is told before the customer types (``prefill``) must never be more than the
page may know: a customer record only for an identity the site vouched for with its
signature, and otherwise only what the page itself said in identify(). The product the form
is about comes from the site's page map on the server, never from the page.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

import redis.asyncio as aioredis

from backend.core import leads as core
from backend.core.leads import Lead, Request
from backend.domain.leads import LeadError, Leads
from backend.domain.matching import Matching, session_facts
from backend.domain.offers import Broker, OfferClosed
from backend.domain.records import Records
from backend.domain.sites import Site
from backend.domain.visitors import Visitors
from backend.store import keys
from backend.store.keys import ProfileHash as P

PER_WINDOW, WINDOW_S = 5, 3600  # contact requests per visitor: a person writes a few, a script many
WIDGET_FIELDS = ("name", "email", "phone", "postcode", "comment", "consent")  # no model: the page map says it
PREFILLED = ("name", "email", "phone", "postcode")


class TooMany(Exception):
    def __init__(self, retry_s: int) -> None:
        super().__init__(f"retry in {retry_s} s")
        self.retry_s = retry_s


@dataclass(frozen=True)
class Prefill:
    fields: dict[str, str]  # of PREFILLED; only those known
    source: str  # "record" (a signed identity's customer record), "identify" (what the page said) or ""
    model: str = ""  # the page's product model (page map), lower-cased
    product: str = ""  # its product record's name

    def as_json(self) -> dict[str, Any]:
        return {"fields": self.fields, "source": self.source,
                "about": {"model": self.model, "name": self.product} if self.model else None}


@dataclass(frozen=True)
class Sent:
    lead: Lead

    @property
    def message(self) -> str:
        """What the customer is told. Never the salesperson's name: who gets a lead is the
        site's internal routing (staff, territories, rotation), and a form anyone may post would
        otherwise let a script map the sales staff by postcode and product."""
        if self.lead.status == "sent":
            return "Thank you — a salesperson will contact you."
        return "Thank you — we will contact you."

    def as_json(self) -> dict[str, Any]:
        return {"ok": True, "message": self.message}


class ContactForms:
    def __init__(self, redis: aioredis.Redis, records: Records, visitors: Visitors, matching: Matching,
                 leads: Leads, broker: Broker, per_window: int = PER_WINDOW, window_s: int = WINDOW_S) -> None:
        self.redis = redis
        self.records = records
        self.visitors = visitors
        self.matching = matching
        self.leads = leads
        self.broker = broker
        self.per_window = per_window
        self.window_s = window_s

    async def prefill(self, site: Site, vid: str) -> Prefill:
        """The form's starting values and the page's product. From the customer record only when
        the visitor's identity came signed with the site's secret (profile VERIFIED) and the
        record agrees with it (``Records.claimed_customer``); otherwise only the name and e-mail
        the page gave identify(), which tells the page nothing it did not say."""
        detail = await self.visitors.detail(site.key, vid)
        if detail is None:
            return Prefill({}, "")
        facts = session_facts(site, await self.matching.rule_sets(site.key), detail)
        model = facts.product.lower()
        found = (await self.records.products(site.key, [model])).get(model) if model else None
        prof: dict[str, str] = detail.get("profile") or {}
        claim = site.claimed(prof, signed_only=True)
        customer = await self.records.claimed_customer(site.key, claim, must_match=True)
        if customer is not None:
            values = {"name": customer.name or prof.get(P.NAME, ""), "email": customer.email or prof.get(P.EMAIL, ""),
                      "phone": customer.phone, "postcode": customer.postcode or customer.area_code}
            source = "record"
        else:
            values = {"name": prof.get(P.NAME, ""), "email": prof.get(P.EMAIL, "")}
            source = "identify" if any(values.values()) else ""
        return Prefill({k: v for k, v in values.items() if v}, source, model, found.name if found else "")

    async def submit(self, site: Site, vid: str, fields: object, source: str, offer: str = "") -> Sent:
        """A contact request from the widget (``source`` "widget": WIDGET_FIELDS only) or a
        site's marked form ("form": core.leads.FORM_FIELDS). LeadError lists every problem of
        the fields; TooMany past PER_WINDOW accepted requests per visitor and window (checked
        after validation, so a customer correcting a typo is not counted). ``offer``: the
        "leave a message" offer this form answers; an offer gone meanwhile still takes the lead."""
        if source not in ("widget", "form"):
            raise ValueError(source)
        if not isinstance(fields, dict):
            raise LeadError([("fields", "must be a JSON object of the form's fields")])
        if source == "widget":
            extra = [k for k in fields if k not in WIDGET_FIELDS]
            if extra:
                shown = extra[0][:40] if isinstance(extra[0], str) and extra[0].isprintable() else "?"
                raise LeadError([(shown, "unknown field; known: " + ", ".join(WIDGET_FIELDS))])
        parsed = core.parse_request(fields)
        if not isinstance(parsed, Request):
            raise LeadError(parsed)
        if source == "widget":
            parsed = replace(parsed, model="")  # the page map's, in Leads.contact
        await self._count(site.key, vid)
        if offer:
            try:
                await self.broker.respond(site.key, vid, offer, "message", site.offer, self.visitors.ttl_s)
            except OfferClosed:
                pass
        return Sent(await self.leads.contact(site, parsed, source, vid))

    async def leave_message(self, site: Site, vid: str, offer: str, fields: Mapping[str, str]) -> Lead:
        """The answer to a "leave a message" offer (o.js: name, e-mail, message, checked by its
        form), counted with the contact form's requests so that no route takes more than
        PER_WINDOW an hour from one visitor (TooMany); OfferClosed when that offer is gone."""
        await self._count(site.key, vid)
        await self.broker.respond(site.key, vid, offer, "message", site.offer, self.visitors.ttl_s)
        return await self.leads.contact(site, core.from_message(fields), "widget", vid)

    async def _count(self, site: str, vid: str) -> None:
        key = keys.contact_rate(site, vid)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, self.window_s, nx=True)
            pipe.ttl(key)
            n, _, ttl = await pipe.execute()
        if int(n) > self.per_window:
            raise TooMany(max(1, int(ttl)))
