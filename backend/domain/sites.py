"""Sites: who may send events (key, allowed origins), their rule sets and flagged customers.

Site configuration is read on every ingest, so it is cached in-process for a couple of
seconds; the rule set proper is read inside the ingest script, so scoring always uses the
current rules.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit

import redis.asyncio as aioredis

from backend.core.protocol import new_id
from backend.core import scoring
from backend.core.policy import OfferSettings, validate_settings
from backend.config import Settings
from backend.store import keys
from backend.store.keys import ProfileHash as P
from backend.store.keys import SiteHash as S
from backend.core.validation import ValidationError, is_text

NAME_MAX = 100
ORIGINS_MAX = 20


class SiteError(ValidationError):
    """A site failed validation."""


@dataclass(frozen=True)
class Site:
    key: str
    name: str
    origins: frozenset[str]
    consent_required: bool
    rules: dict[str, Any]
    offer: OfferSettings
    identity_secret: str = ""
    signed_identity: bool = False
    enterprise: str = ""  # the id of the enterprise that owns the site, if one does

    def identity_trusted(self, ev: dict[str, Any]) -> bool:
        """May this ``id`` event's id / e-mail be taken as who the visitor is (the flagged-
        customer rule)? Always on sites that do not require signing; otherwise only when
        its signature is the site's HMAC of the id (or, with no id, the e-mail)."""
        return identity_signed(self.identity_secret, ev) or not self.signed_identity

    def claimed(self, profile: Mapping[str, str], signed_only: bool = False) -> tuple[str, str]:
        """The customer id and e-mail a visitor's stored profile names, as far as they may be
        taken as who the visitor is: when they came signed, or, unless ``signed_only`` (what
        shows the page the customer's record), on a site that does not require signing."""
        if profile.get(P.VERIFIED) == "1" or not (signed_only or self.signed_identity):
            return profile.get(P.ID, ""), profile.get(P.EMAIL, "")
        return "", ""

    def as_json(self, settings: Settings) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "origins": sorted(self.origins),
            "consent_required": self.consent_required,
            "script_tag": script_tag(settings, self.key, self.consent_required),
        }


def identity_signature(secret: str, value: str) -> str:
    """What the site's server computes to sign Beckon.identify(): hex HMAC-SHA256."""
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def identity_signed(secret: str, ev: dict[str, Any]) -> bool:
    value = ev.get("id") or ev.get("email") or ""
    sig = ev.get("sig") or ""
    return bool(secret and value and sig) and hmac.compare_digest(identity_signature(secret, value), sig)


def script_tag(settings: Settings, key: str, consent_required: bool = False) -> str:
    attrs = f'src="{settings.public_url}{settings.script_path}" data-site="{key}"'
    if settings.collect_path != Settings.collect_path:
        attrs += f' data-endpoint="{settings.public_url}{settings.collect_path}"'
    if consent_required:
        attrs += ' data-consent="required"'
    return f"<script {attrs} async></script>"


def normalise_origin(raw: Any) -> str:
    """'https://Shop.example.com:443/' -> 'https://shop.example.com'. Raises ValueError."""
    if not isinstance(raw, str) or len(raw) > 200:
        raise ValueError("an origin must be a string like https://shop.example.com")
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{raw!r} is not an origin like https://shop.example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"{raw!r} has a path, query or user; an origin is scheme://host[:port]")
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        if not re.fullmatch(r"[0-9a-f:.]+", host):
            raise ValueError(f"{raw!r} has an invalid host")
        host = f"[{host}]"
    elif not re.fullmatch(r"[a-z0-9.-]+", host):
        raise ValueError(f"{raw!r} has an invalid host")
    port = parts.port
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def validate_site(data: Any) -> tuple[str, list[str], bool]:
    errors: list[tuple[str, str]] = []
    if not isinstance(data, dict):
        raise SiteError([("", "the body must be a JSON object")])
    name = data.get("name")
    if not is_text(name) or not name.strip() or len(name) > NAME_MAX:
        errors.append(("name", f"must be 1-{NAME_MAX} characters"))
    raw_origins = data.get("origins")
    origins: list[str] = []
    if not isinstance(raw_origins, list) or not raw_origins or len(raw_origins) > ORIGINS_MAX:
        errors.append(("origins", f"must be a list of 1-{ORIGINS_MAX} origins like https://shop.example.com"))
    else:
        for i, raw in enumerate(raw_origins):
            try:
                origins.append(normalise_origin(raw))
            except ValueError as exc:
                errors.append((f"origins[{i}]", str(exc)))
    consent = data.get("consent_required", False)
    if not isinstance(consent, bool):
        errors.append(("consent_required", "must be true or false"))
    if errors:
        raise SiteError(errors)
    return name.strip(), sorted(set(origins)), consent


class Sites:
    """Reads and writes site configuration; caches lookups for the collector."""

    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self._cache: dict[str, tuple[float, Site | None]] = {}

    async def create(self, name: str, origins: list[str], consent_required: bool = False,
                     key: str | None = None) -> Site:
        key = key or new_id(12)
        # Not one transaction: the site's hash and the global lists live in different cluster
        # slots; each write stands alone and a retried create repeats them harmlessly.
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(
                keys.site(key),
                mapping={
                    S.NAME: name,
                    S.ORIGINS: json.dumps(origins),
                    S.CONSENT_REQUIRED: int(consent_required),
                    S.CREATED: int(time.time()),
                },
            )
            pipe.sadd(keys.SITES, key)
            if origins:
                pipe.sadd(keys.ORIGINS, *origins)
            await pipe.execute()
        self._cache.pop(key, None)
        site = await self.get(key)
        assert site is not None
        return site

    async def update(self, key: str, name: str, origins: list[str], consent_required: bool) -> Site:
        """Replace name, origins and consent setting; the global origin index is rebuilt
        from every site so an origin another site still uses stays allowed."""
        await self.create(name, origins, consent_required, key=key)
        await self.rebuild_origin_index()
        site = await self.get(key, fresh=True)
        assert site is not None
        return site

    async def rebuild_origin_index(self) -> None:
        all_origins: set[str] = set()
        for key in await self.redis.smembers(keys.SITES):
            raw = await self.redis.hget(keys.site(key), S.ORIGINS)
            all_origins.update(json.loads(raw or "[]"))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.ORIGINS)
            if all_origins:
                pipe.sadd(keys.ORIGINS, *all_origins)
            await pipe.execute()

    async def get(self, key: str, fresh: bool = False) -> Site | None:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit and hit[0] > now and not fresh:
            return hit[1]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.site(key))
            pipe.get(keys.rules(key))
            pipe.get(keys.offer_settings(key))
            raw, rules_raw, offer_raw = await pipe.execute()
        site = None
        if raw:
            site = Site(
                key=key,
                name=raw.get(S.NAME, ""),
                origins=frozenset(json.loads(raw.get(S.ORIGINS, "[]"))),
                consent_required=raw.get(S.CONSENT_REQUIRED) == "1",
                rules=json.loads(rules_raw) if rules_raw else scoring.DEFAULT_RULES,
                # a new site's holdout (and one saved before the holdout existed): the operator's default
                offer=OfferSettings(**{"holdout_share": self.settings.holdout_default,
                                       **json.loads(offer_raw or "{}")}),
                identity_secret=raw.get(S.IDENTITY_SECRET, ""),
                signed_identity=raw.get(S.SIGNED_IDENTITY) == "1",
                enterprise=raw.get(S.ENTERPRISE, ""),
            )
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (now + self.settings.site_cache_s, site)
        return site

    async def set_signed_identity(self, key: str, required: bool, rotate: bool = False) -> Site:
        """Require signed identities (or not); a secret is made on first need, or anew."""
        site = await self.get(key, fresh=True)
        assert site is not None
        secret = site.identity_secret if site.identity_secret and not rotate else secrets.token_hex(32)
        await self.redis.hset(keys.site(key), mapping={S.IDENTITY_SECRET: secret,
                                                        S.SIGNED_IDENTITY: int(required)})
        self._cache.pop(key, None)
        fresh = await self.get(key, fresh=True)
        assert fresh is not None
        return fresh

    async def claim_for(self, key: str, enterprise: str) -> bool:
        """Make ``enterprise`` the site's owner unless one is already (HSETNX in the site's
        slot: of two enterprises claiming a site at once, one gets it). True when it owns it."""
        if not await self.redis.exists(keys.site(key)):
            return False
        claimed = await self.redis.hsetnx(keys.site(key), S.ENTERPRISE, enterprise)
        self._cache.pop(key, None)
        return bool(claimed) or await self.redis.hget(keys.site(key), S.ENTERPRISE) == enterprise

    async def release_from(self, key: str, enterprise: str) -> None:
        """The site no longer belongs to ``enterprise`` (and stays with any other owner)."""
        if await self.redis.hget(keys.site(key), S.ENTERPRISE) == enterprise:
            await self.redis.hdel(keys.site(key), S.ENTERPRISE)
        self._cache.pop(key, None)

    async def origin_known(self, origin: str) -> bool:
        return bool(await self.redis.sismember(keys.ORIGINS, origin))

    async def all(self) -> list[str]:
        return sorted(await self.redis.smembers(keys.SITES))

    async def every(self) -> list[Site]:
        found = [await self.get(key) for key in await self.all()]
        return [site for site in found if site is not None]

    async def set_rules(self, key: str, data: Any) -> dict[str, Any]:
        rules = scoring.validate_rules(data)
        await self.redis.set(keys.rules(key), json.dumps(rules))
        self._cache.pop(key, None)
        return rules

    async def get_rules(self, key: str) -> dict[str, Any]:
        raw = await self.redis.get(keys.rules(key))
        return json.loads(raw) if raw else scoring.DEFAULT_RULES

    async def set_offer_settings(self, key: str, data: Any, current: OfferSettings) -> OfferSettings:
        cfg = validate_settings(data, current)
        await self.redis.set(keys.offer_settings(key), json.dumps(cfg.as_json()))
        self._cache.pop(key, None)
        return cfg

    async def offer_settings(self, key: str) -> OfferSettings | None:
        site = await self.get(key)
        return site.offer if site else None

    async def flag_customers(self, key: str, customers: list[str], flag: bool = True) -> list[str]:
        """Flag (or unflag) customer ids or e-mails; e-mails are compared lower-cased."""
        clean = [c.strip().lower() if "@" in c else c.strip() for c in customers]
        clean = [c for c in clean if c]
        if clean:
            if flag:
                await self.redis.sadd(keys.flagged(key), *clean)
            else:
                await self.redis.srem(keys.flagged(key), *clean)
        return sorted(await self.redis.smembers(keys.flagged(key)))

    async def flagged_customers(self, key: str) -> list[str]:
        return sorted(await self.redis.smembers(keys.flagged(key)))
