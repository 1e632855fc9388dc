"""A site's sales settings: the attribution window and the commission rates (decided by
backend/core/attribution.py; stored whole after validation, so a bad write stores nothing)."""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from backend.core import attribution as core
from backend.core.attribution import SalesSettings
from backend.core.validation import ValidationError
from backend.store import keys


class SalesSettingsError(ValidationError):
    """Sales settings failed validation."""


class Sales:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def settings(self, site: str) -> SalesSettings:
        raw = await self.redis.get(keys.sales_settings(site))
        try:
            return core.read_sales_settings(json.loads(raw) if raw else None)
        except ValueError:
            return SalesSettings()

    async def set_settings(self, site: str, data: object) -> SalesSettings:
        """The fields given replace the stored ones; SalesSettingsError lists every problem."""
        found = core.validate_sales_settings(data, await self.settings(site))
        if isinstance(found, list):
            raise SalesSettingsError(found)
        await self.redis.set(keys.sales_settings(site), json.dumps(found.as_json()))
        return found
