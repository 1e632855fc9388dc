"""Gives the demo shop rules that react within a minute and offer settings that show every
path (a panel; "leave a message" when nobody is on duty), so trying it shows something."""

from __future__ import annotations

import asyncio

from backend import store
from backend.config import Settings
from backend.domain.sites import Sites

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


async def main() -> None:
    settings = Settings.from_env()
    redis = store.connect(settings)
    try:
        sites = Sites(redis, settings)
        key = settings.demo_site_key
        await sites.set_rules(key, DEMO_RULES)
        site = await sites.get(key, fresh=True)
        if site is not None:  # with nobody on duty, the demo offers "leave a message"
            await sites.set_offer_settings(key, DEMO_OFFER, site.offer)
    finally:
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
