"""Gives the demo shop rules that react within a minute, so trying it shows something."""

from __future__ import annotations

import asyncio
import os

from backend import store
from backend.config import Settings
from backend.sites import Sites

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


async def main() -> None:
    settings = Settings.from_env()
    redis = store.connect(settings)
    try:
        await Sites(redis, settings).set_rules(os.environ["BECKON_DEMO_SITE_KEY"], DEMO_RULES)
    finally:
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
