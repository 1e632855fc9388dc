"""Enterprises: one owner of several sites, whose representatives may serve any of them.

An enterprise is its name and its sites; a site belongs to at most one enterprise, which the
site's own hash records (``Sites.claim_for``: decided once, in the site's cluster slot). It may
share one set of customer, staff and product records among its sites (``records_scope``), so a
customer known to one shop is known to all and one sales team serves them. All other data
stays per site: an enterprise gives its admins a choice of sites to staff, never a view across
their visitors, chats or leads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import redis.asyncio as aioredis

from backend.core.protocol import ID_RE, new_id
from backend.core.validation import ValidationError, is_text
from backend.domain.sites import Sites
from backend.store import keys
from backend.store.keys import EnterpriseHash as E

NAME_MAX = 100
SITES_MAX = 50


class EnterpriseError(ValidationError):
    """An enterprise or its list of sites failed validation."""


@dataclass(frozen=True)
class Enterprise:
    id: str
    name: str
    sites: tuple[str, ...]  # site keys, sorted
    shared_records: bool = False  # its sites keep one set of records (keys.enterprise_records)

    def as_json(self, names: dict[str, str]) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "shared_records": self.shared_records,
                "sites": [{"key": key, "name": names.get(key, "")} for key in self.sites]}


def validate_name(data: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    name = data.get("name")
    if not is_text(name) or not name.strip() or len(name) > NAME_MAX:
        return "", [("name", f"must be 1-{NAME_MAX} characters")]
    return name.strip(), []


def validate_site_list(raw: Any) -> tuple[list[str], list[tuple[str, str]]]:
    """The shape of a list of site keys: 1-SITES_MAX keys, no repeats (existence is checked
    against the store)."""
    if not isinstance(raw, list) or not raw or len(raw) > SITES_MAX:
        return [], [("sites", f"must be a list of 1-{SITES_MAX} site keys")]
    errors: list[tuple[str, str]] = []
    out: list[str] = []
    for i, key in enumerate(raw):
        if not isinstance(key, str) or not ID_RE.fullmatch(key):
            errors.append((f"sites[{i}]", "must be a site key"))
        elif key in out:
            errors.append((f"sites[{i}]", "is listed twice"))
        else:
            out.append(key)
    return out, errors


SCOPE_CACHE_S = 5.0  # how long a worker keeps where a site's records are: sharing turned on or
# off, or a site leaving, reaches every worker within this


class Enterprises:
    def __init__(self, redis: aioredis.Redis, sites: Sites) -> None:
        self.redis = redis
        self.sites = sites
        self._scopes: dict[str, tuple[float, str]] = {}

    async def _check_sites(self, chosen: list[str], eid: str) -> list[tuple[str, str]]:
        errors = []
        for i, key in enumerate(chosen):
            site = await self.sites.get(key, fresh=True)
            if site is None:
                errors.append((f"sites[{i}]", "no such site"))
            elif site.enterprise and site.enterprise != eid:
                errors.append((f"sites[{i}]", "belongs to another enterprise"))
        return errors

    async def _claim(self, eid: str, chosen: list[str]) -> None:
        """Claim each site for the enterprise; one taken meanwhile undoes the claims made."""
        claimed: list[str] = []
        for i, key in enumerate(chosen):
            if not await self.sites.claim_for(key, eid):
                for done in claimed:
                    await self.sites.release_from(done, eid)
                raise EnterpriseError([(f"sites[{i}]", "belongs to another enterprise")])
            claimed.append(key)

    async def create(self, data: Any) -> Enterprise:
        if not isinstance(data, dict):
            raise EnterpriseError([("", "the body must be a JSON object")])
        unknown = [(k if is_text(k) and len(k) <= 64 else "(a field)", "unknown field; allowed: name, sites")
                   for k in data if k not in ("name", "sites")]
        name, errors = validate_name(data)
        chosen, site_errors = validate_site_list(data.get("sites"))
        errors = unknown + errors + site_errors
        eid = new_id()
        errors += await self._check_sites(chosen, eid) if not site_errors else []
        if errors:
            raise EnterpriseError(errors)
        await self._claim(eid, chosen)
        async with self.redis.pipeline(transaction=True) as pipe:  # one slot: the enterprise's
            pipe.hset(keys.enterprise(eid), mapping={E.NAME: name, E.CREATED: int(time.time())})
            pipe.sadd(keys.enterprise_sites(eid), *chosen)
            await pipe.execute()
        return Enterprise(eid, name, tuple(sorted(chosen)))

    async def get(self, eid: str) -> Enterprise | None:
        if not ID_RE.fullmatch(eid):
            return None
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(keys.enterprise(eid), [E.NAME, E.SHARED_RECORDS])
            pipe.smembers(keys.enterprise_sites(eid))
            (name, shared), sites = await pipe.execute()
        return None if name is None else Enterprise(eid, name, tuple(sorted(sites)), shared == "1")

    async def set_shared_records(self, eid: str, data: Any) -> Enterprise | None:
        """``{"shared": true}``: the sites keep one set of records from now on, the
        enterprise's (empty at first: import into it through any of the sites); each site's
        own records stay, unseen, and are seen again with ``false``. Nothing is copied or
        merged, so turning it on or off loses nothing."""
        current = await self.get(eid)
        if current is None:
            return None
        if not isinstance(data, dict) or set(data) != {"shared"} or not isinstance(data["shared"], bool):
            raise EnterpriseError([("shared", 'the body must be {"shared": true} or {"shared": false}')])
        await self.redis.hset(keys.enterprise(eid), E.SHARED_RECORDS, "1" if data["shared"] else "0")
        self._scopes.clear()
        return replace(current, shared_records=data["shared"])

    async def records_scope(self, site_key: str) -> str:
        """Where the site's records are: its enterprise's, when it shares them, else its own
        (the site key). Kept per worker for SCOPE_CACHE_S."""
        now = time.monotonic()
        hit = self._scopes.get(site_key)
        if hit and hit[0] > now:
            return hit[1]
        site = await self.sites.get(site_key)
        scope = site_key
        if site is not None and site.enterprise:
            found = await self.get(site.enterprise)
            if found is not None and found.shared_records and site_key in found.sites:
                scope = keys.enterprise_records(found.id)
        if len(self._scopes) > 10_000:
            self._scopes.clear()
        self._scopes[site_key] = (now + SCOPE_CACHE_S, scope)
        return scope

    async def set_sites(self, eid: str, data: Any) -> Enterprise | None:
        """Replace the enterprise's sites: new ones are claimed, dropped ones released (their
        reps keep their accounts there; nobody chooses that site for them any more)."""
        current = await self.get(eid)
        if current is None:
            return None
        raw = data.get("sites") if isinstance(data, dict) else None
        chosen, errors = validate_site_list(raw)
        if not errors:
            errors = await self._check_sites(chosen, eid)
        if errors:
            raise EnterpriseError(errors)
        added = [k for k in chosen if k not in current.sites]
        await self._claim(eid, added)
        dropped = [k for k in current.sites if k not in chosen]
        for key in dropped:
            await self.sites.release_from(key, eid)
        self._scopes.clear()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.enterprise_sites(eid))
            pipe.sadd(keys.enterprise_sites(eid), *chosen)
            await pipe.execute()
        return Enterprise(eid, current.name, tuple(sorted(chosen)))

    async def sites_of(self, site_key: str) -> tuple[str, ...]:
        """The sites a rep of ``site_key`` may be chosen to serve: its enterprise's sites, or
        the site alone. Read fresh: it bounds what an admin may do."""
        site = await self.sites.get(site_key, fresh=True)
        if site is None:
            return ()
        if not site.enterprise:
            return (site_key,)
        enterprise = await self.get(site.enterprise)
        return enterprise.sites if enterprise and site_key in enterprise.sites else (site_key,)

    async def names(self, site_keys: tuple[str, ...] | list[str]) -> dict[str, str]:
        found = [await self.sites.get(key) for key in site_keys]
        return {s.key: s.name for s in found if s}
