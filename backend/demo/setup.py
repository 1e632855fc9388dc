"""Gives the demo shop rules that react within a minute and offer settings that show every
path (a panel; "leave a message" when nobody is on duty), so trying it shows something; and
what the rest of the product reads: a page map naming the products, their records and what
goes with them, Ria as the salesperson for kayaks, and a small materials library, so a chat
about the kayak shows suggestions and a contact request reaches someone. Kept as it is when
already there (a restart keeps what the owner changed)."""

from __future__ import annotations

import asyncio

from backend.config import Settings
from backend.domain.services import Services

DEMO_RULES = {
    "threshold": 0.6,
    "rules": {
        "page_dwell": {"weight": 0.3, "threshold": 45},
        "field_dwell": {"weight": 0.3, "threshold": 10},
        "form_errors": {"weight": 0.4, "threshold": 2},
        "return_visits": {"weight": 0.2, "threshold": 3},
        "service_point": {"weight": 0.3, "points": [], "url_patterns": {"checkout": "/checkout*"}},
        "cart_value": {"weight": 0.3, "threshold": 1000},
        "flagged_customer": {"weight": 1.0},
    },
}


# No holdout: a person trying the demo is always offered help.
DEMO_OFFER = {"variant": "panel", "leave_message": True, "sales_email": "sales@demo.beckon", "holdout_share": 0}


# The page map: what the product pages are about (matching, suggestions, the contact form).
DEMO_PAGES = {"pages": [{"pattern": "/product/kayak*", "category": "boats", "product": "kayak"},
                        {"pattern": "/product/paddle*", "category": "paddles", "product": "paddle"},
                        {"pattern": "/product/drysuit*", "category": "clothing", "product": "drysuit"}],
              "rule_sets": []}
DEMO_PRODUCTS = [
    {"model": "kayak", "name": "Touring kayak", "category": "boats", "price": "1299.00", "currency": "EUR",
     "related": {"attachments": ["paddle"], "options": ["drysuit"], "expendables": []}},
    {"model": "paddle", "name": "Carbon paddle", "category": "paddles", "price": "249.00", "currency": "EUR"},
    {"model": "drysuit", "name": "Dry suit", "category": "clothing", "price": "899.00", "currency": "EUR"},
]
DEMO_MATERIALS = [
    {"kind": "reply", "title": "Kayak: which length", "tags": {"products": ["kayak"]},
     "text": "Hello {customer_name}! The {product} is 5.2 m: stable for a beginner, fast enough for touring. "
             "How tall are you, and where will you paddle?"},
    {"kind": "reply", "title": "Free delivery", "text": "Delivery is free this week, {customer_name}."},
    {"kind": "link", "title": "The carbon paddle", "url": "/product/paddle", "tags": {"categories": ["boats"]}},
    {"kind": "reply", "title": "Quote form: postcode", "tags": {"reasons": ["form_errors"]},
     "text": "The postcode goes without spaces, for example SW1A1AA. Shall I fill in the quote with you?"},
]


async def main() -> None:
    settings = Settings.from_env()
    svc = Services.build(settings)
    try:
        key = settings.demo_site_key
        await svc.sites.set_rules(key, DEMO_RULES)
        site = await svc.sites.get(key, fresh=True)
        if site is None:
            return
        await svc.sites.set_offer_settings(key, DEMO_OFFER, site.offer)  # with nobody on duty: "leave a message"
        if not (await svc.matching.rule_sets(key)).pages:
            await svc.matching.set_rule_sets(key, DEMO_PAGES)
        await svc.records.upsert(key, "products", list(DEMO_PRODUCTS))
        ria = next((r for r in await svc.reps.list(key) if r.email == "ria@demo.beckon"), None)
        await svc.records.upsert(key, "staff", [{
            "id": "ria", "name": "Ria Rep", "email": "ria@demo.beckon", "products": ["boats", "paddles"],
            "areas": ["SW", "EC"], "rep": ria.id if ria else None,
            "alerts": {"channels": ["console", "email"] if ria else ["email"],
                       "events": ["new_lead", "purchase", "customer_needs_help"]}}])
        if not await svc.materials.list(key, "all"):
            for body in DEMO_MATERIALS:
                await svc.materials.create(key, body, "demo")
    finally:
        await svc.redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
