"""Representatives: accounts (passwords: backend/domain/passwords.py), profiles
(backend/core/rep_profile.py: what matching reads), presence. An e-mail address is unique
within a site; the same person may hold accounts on several sites with one address.

A rep counts as available only while the console keeps sending presence heartbeats: one
older than ``PRESENCE_TIMEOUT_S`` means offline, whatever the last status was.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from backend.core.protocol import new_id
from backend.core.rep_profile import EMPTY, Profile, read_profile, validate_profile
from backend.core.validation import EMAIL_RE, ValidationError, is_text
from backend.domain.passwords import DUMMY, check_password, hash_password, needs_rehash
from backend.domain.sessions import Sessions
from backend.store import keys
from backend.store.keys import RepHash as H, RequestHash as R

PRESENCE_TIMEOUT_S = 30
STATUSES = ("available", "away")
# An admin also edits the site's settings and representatives; an auditor only reads the
# reports (never takes a chat, never changes anything).
ROLES = ("rep", "admin", "auditor")


LOGIN_ACCOUNTS_MAX = 10  # accounts one e-mail may log in to (one per site)


def email_digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


class RepError(ValidationError):
    """A representative failed validation."""


@dataclass(frozen=True)
class Rep:
    id: str
    site: str
    name: str
    email: str
    active: bool
    status: str  # available | away | offline
    role: str = "rep"  # rep | admin | auditor
    profile: Profile = EMPTY  # capacity, skills, languages, products, areas, schedule, alerts

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_auditor(self) -> bool:
        return self.role == "auditor"

    @property
    def sees_reports(self) -> bool:
        return self.role in ("admin", "auditor")

    @property
    def capacity(self) -> int:
        return self.profile.capacity

    @property
    def skills(self) -> list[str]:
        """The skill names, for lists that show them (proficiencies: ``profile.skills``)."""
        return list(self.profile.skills)

    @property
    def area(self) -> str:
        return ", ".join(self.profile.areas)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "email": self.email, **self.profile.as_json(),
                "active": self.active, "status": self.status, "role": self.role}


ACCOUNT_FIELDS = ("name", "email", "password", "active", "role")
# the profile's fields, stored JSON-encoded each in its own hash field; "area" is the old one
PROFILE_FIELDS = {"capacity": H.CAPACITY, "skills": H.SKILLS, "languages": H.LANGUAGES, "products": H.PRODUCTS,
                  "areas": H.AREAS, "schedule": H.SCHEDULE, "alerts": H.ALERTS}


@dataclass(frozen=True)
class RepChange:
    """A validated create or update: the account fields given, and the profile after it."""

    account: dict[str, Any]
    profile: Profile
    changed: tuple[str, ...]  # the profile fields given (PROFILE_FIELDS' keys)


def validate_rep(data: Any, creating: bool = True, base: Profile = EMPTY) -> RepChange:
    errors: list[tuple[str, str]] = []
    if not isinstance(data, dict):
        raise RepError([("", "the body must be a JSON object")])
    out: dict[str, Any] = {}
    allowed = set(ACCOUNT_FIELDS) | set(PROFILE_FIELDS) | {"area"}
    for key in data:
        if key not in allowed:
            label = key if is_text(key) and len(key) <= 64 else "(a field)"
            errors.append((label, f"unknown field; allowed: {', '.join(sorted(allowed))}"))
    if creating or "name" in data:
        name = data.get("name")
        if not is_text(name) or not name.strip() or len(name) > 100:
            errors.append(("name", "must be 1-100 characters"))
        else:
            out["name"] = name.strip()
    if creating or "email" in data:
        email = data.get("email")
        if not is_text(email) or not EMAIL_RE.match(email.strip()):
            errors.append(("email", "must be an e-mail address"))
        else:
            out["email"] = email.strip().lower()
    if creating or "password" in data:
        password = data.get("password")
        if not is_text(password) or not 10 <= len(password) <= 200:  # hashed as UTF-8
            errors.append(("password", "must be 10-200 characters"))
        else:
            out["password"] = password
    if "role" in data or creating:
        role = data.get("role", "rep")
        if role not in ROLES:
            errors.append(("role", f"must be one of {', '.join(ROLES)}"))
        else:
            out["role"] = role
    if "active" in data:
        if not isinstance(data["active"], bool):
            errors.append(("active", "must be true or false"))
        else:
            out["active"] = data["active"]
    given = {k: v for k, v in data.items() if k in PROFILE_FIELDS or k == "area"}
    profile = validate_profile(given, base)
    if isinstance(profile, list):
        errors += profile
    if errors:
        raise RepError(errors)
    assert isinstance(profile, Profile)
    changed = {"areas" if k == "area" else k for k in given}
    return RepChange(out, profile, tuple(PROFILE_FIELDS if creating else sorted(changed)))


def profile_mapping(profile: Profile, names: tuple[str, ...]) -> dict[str, str | int]:
    """The hash fields that store the profile fields ``names``."""
    encoded = profile.as_json()
    return {PROFILE_FIELDS[n]: encoded[n] if n == "capacity" else json.dumps(encoded[n]) for n in names}


def stored_profile(raw: dict[str, str]) -> Profile:
    """The profile in a rep's hash; a field missing or unreadable reads as empty."""
    decoded: dict[str, object] = {}
    for name, hash_field in PROFILE_FIELDS.items():
        if hash_field in raw:
            try:
                decoded[name] = int(raw[hash_field]) if name == "capacity" else json.loads(raw[hash_field])
            except ValueError:
                pass
    if "areas" not in decoded and raw.get(H.AREA):
        decoded["area"] = raw[H.AREA]
    return read_profile(decoded)


@dataclass(frozen=True)
class Workload:
    chats: int  # held now
    last_accepted_ms: int | None  # the last chat the rep accepted (held now or not); None: none known


@dataclass(frozen=True)
class Login:
    """A login's outcome: every active account (one per site) this e-mail and password open.
    One person may serve several sites (an enterprise's, or as an independent rep approved by
    several): the console opens them all in one session."""

    reps: tuple[Rep, ...] = ()


TAKEN = RepError([("email", "a representative of this site already has this e-mail")])


class Reps:
    def __init__(self, redis: aioredis.Redis, sessions: Sessions) -> None:
        self.redis = redis
        self.sessions = sessions

    async def _claim_email(self, site: str, rid: str, email: str) -> None:
        if not await self.redis.hsetnx(keys.rep_emails(site), email, rid):
            raise TAKEN
        await self.redis.sadd(keys.rep_logins(email_digest(email)), f"{site} {rid}")

    async def _release_email(self, site: str, rid: str, email: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:  # the site's and global keys: several slots
            pipe.hdel(keys.rep_emails(site), email)
            pipe.srem(keys.rep_logins(email_digest(email)), f"{site} {rid}")
            pipe.hdel(keys.REP_LOGINS, email)
            await pipe.execute()

    async def create(self, site: str, data: dict[str, Any]) -> Rep:
        clean = validate_rep(data)
        account = clean.account
        rid = new_id()
        password = await asyncio.to_thread(hash_password, account["password"])
        await self._claim_email(site, rid, account["email"])
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.rep(site, rid), mapping={
                H.NAME: account["name"], H.EMAIL: account["email"], H.PASSWORD: password,
                H.ROLE: account["role"], H.ACTIVE: 1, **profile_mapping(clean.profile, clean.changed),
            })
            pipe.sadd(keys.reps(site), rid)
            pipe.hset(keys.capacity(site), rid, clean.profile.capacity)
            pipe.incr(keys.reps_version(site))
            await pipe.execute()
        rep = await self.get(site, rid)
        assert rep is not None
        return rep

    async def email_taken(self, site: str, email: str) -> bool:
        return bool(await self.redis.hexists(keys.rep_emails(site), email.strip().lower()))

    async def member_id(self, site: str, email: str) -> str | None:
        """The id of the site's rep with this e-mail, if there is one."""
        found = await self.redis.hget(keys.rep_emails(site), email.strip().lower())
        return str(found) if found else None

    async def password_hash(self, site: str, rid: str) -> str:
        """What another membership of the same person copies: the hash, never the password."""
        return str(await self.redis.hget(keys.rep(site, rid), H.PASSWORD) or "")

    async def adopt(self, site: str, rid: str, name: str, email: str, password_hash: str, profile: Profile,
                    role: str = "rep") -> Rep:
        """An approved applicant (or a membership on another site of an enterprise) becomes an
        active rep with the id, password hash and profile given: one rep per id, since the
        e-mail and the id are claimed once (a second call raises TAKEN and writes nothing)."""
        await self._claim_email(site, rid, email)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.rep(site, rid), mapping={
                H.NAME: name, H.EMAIL: email, H.PASSWORD: password_hash, H.ROLE: role, H.ACTIVE: 1,
                **profile_mapping(profile, tuple(PROFILE_FIELDS)),
            })
            pipe.sadd(keys.reps(site), rid)
            pipe.hset(keys.capacity(site), rid, profile.capacity)
            pipe.incr(keys.reps_version(site))
            await pipe.execute()
        rep = await self.get(site, rid)
        assert rep is not None
        return rep

    async def update(self, site: str, rid: str, data: dict[str, Any]) -> Rep | None:
        """Changes the fields ``data`` gives, and only those: an admin editing skills and the
        rep editing their own hours at the same time do not undo each other."""
        current = await self.get(site, rid)
        if current is None:
            return None
        clean = validate_rep(data, creating=False, base=current.profile)
        account = clean.account
        new_email = "email" in account and account["email"] != current.email
        if new_email:
            await self._claim_email(site, rid, account["email"])
            await self._release_email(site, rid, current.email)
        mapping: dict[str, Any] = profile_mapping(clean.profile, clean.changed)
        for k, v in account.items():
            if k == "password":
                mapping[H.PASSWORD] = await asyncio.to_thread(hash_password, v)
            elif k == "active":
                mapping[H.ACTIVE] = int(v)
            else:  # name, email, role: stored as given
                mapping[getattr(H, k.upper())] = v
        async with self.redis.pipeline(transaction=True) as pipe:
            if mapping:  # an empty change ({}) changes nothing; HSET without fields is an error
                pipe.hset(keys.rep(site, rid), mapping=mapping)
            if "areas" in clean.changed:
                pipe.hdel(keys.rep(site, rid), H.AREA)  # the old single area is now in AREAS
            pipe.incr(keys.reps_version(site))
            active = account.get("active", current.active)
            if active:
                pipe.hset(keys.capacity(site), rid, clean.profile.capacity)
            else:  # a deactivated rep stops counting at once
                pipe.hdel(keys.capacity(site), rid)
                pipe.zrem(keys.presence(site), rid)
            await pipe.execute()
        if new_email or "password" in account or not account.get("active", True):
            await self.sessions.end_all(site, rid)  # whoever held the old credentials is out
        return await self.get(site, rid)

    async def version(self, site: str) -> int:
        """Bumped by every change of a rep's profile or account: a cache of reps read at one
        version is good until it moves."""
        return int(await self.redis.get(keys.reps_version(site)) or 0)

    async def get(self, site: str, rid: str) -> Rep | None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.rep(site, rid))
            pipe.zscore(keys.presence(site), rid)
            pipe.hget(keys.rep_status(site), rid)
            raw, seen, status = await pipe.execute()
        if not raw:
            return None
        return self._rep(site, rid, raw, seen, status)

    def _rep(self, site: str, rid: str, raw: dict[str, str], seen: float | None, status: str | None) -> Rep:
        online = seen is not None and seen >= (time.time() - PRESENCE_TIMEOUT_S) * 1000
        active = raw.get(H.ACTIVE) == "1"
        return Rep(
            id=rid, site=site, name=raw.get(H.NAME, ""), email=raw.get(H.EMAIL, ""), active=active,
            status=(status or "away") if online and active else "offline",
            role=raw.get(H.ROLE, "rep") if raw.get(H.ROLE) in ROLES else "rep",
            profile=stored_profile(raw),
        )

    async def list(self, site: str) -> list[Rep]:
        """Every rep of the site in one round trip (consoles refresh this list often)."""
        rids = sorted(await self.redis.smembers(keys.reps(site)))
        if not rids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrange(keys.presence(site), 0, -1, withscores=True)
            pipe.hgetall(keys.rep_status(site))
            for rid in rids:
                pipe.hgetall(keys.rep(site, rid))
            seen_list, statuses, *raws = await pipe.execute()
        seen = dict(seen_list)
        return [self._rep(site, rid, raw, seen.get(rid), statuses.get(rid)) for rid, raw in zip(rids, raws) if raw]

    async def workload(self, site: str, rids: list[str]) -> dict[str, Workload]:
        """Each rep's chats held now, read from the chats themselves (as the broker counts
        load), and when they last accepted one: stored by lua/claim.lua, or the latest held
        (a chat transferred to them); without changing anything."""
        if not rids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for rid in rids:
                pipe.smembers(keys.rep_chats(site, rid))
                pipe.hget(keys.rep(site, rid), H.LAST_CHAT)
            replies = await pipe.execute()
        held, stored = replies[::2], replies[1::2]
        async with self.redis.pipeline(transaction=False) as pipe:
            for chats in held:
                for chat_id in sorted(chats):
                    pipe.hmget(keys.request(site, chat_id), R.STATUS, R.REP, R.ACCEPTED)
            rows = iter(await pipe.execute())
        out = {}
        for rid, chats, last in zip(rids, held, stored):
            mine = [row for row in (next(rows) for _ in chats) if row[0] == "active" and row[1] == rid]
            accepted = [int(float(row[2])) for row in mine if row[2]] + ([int(float(last))] if last else [])
            out[rid] = Workload(len(mine), max(accepted) if accepted else None)
        return out

    async def accounts(self, email: str) -> list[tuple[str, str]]:
        """(site, rep id) of every account this e-mail logs in to."""
        email = email.strip().lower()
        members = await self.redis.smembers(keys.rep_logins(email_digest(email)))
        if not members:  # an account made before e-mails were per site
            old = await self.redis.hget(keys.REP_LOGINS, email)
            members = {old} if old else set()
        return sorted(tuple(m.split(" ", 1)) for m in members)[:LOGIN_ACCOUNTS_MAX]  # type: ignore[misc]

    async def login(self, email: str, password: str) -> Login:
        """Every active account with this e-mail whose password is this one: each account is
        checked on its own, so a password opens only the accounts it was set on."""
        matched: list[tuple[str, str]] = []
        tried = 0
        for acct_site, rid in await self.accounts(email):
            raw = await self.redis.hgetall(keys.rep(acct_site, rid))
            stored = raw.get(H.PASSWORD, DUMMY)
            tried += 1
            # hashing takes tens of milliseconds of CPU: off the event loop, so chats keep flowing
            if await asyncio.to_thread(check_password, password, stored) and raw.get(H.ACTIVE) == "1":
                matched.append((acct_site, rid))
                if needs_rehash(stored):
                    await self.redis.hset(keys.rep(acct_site, rid), H.PASSWORD,
                                          await asyncio.to_thread(hash_password, password))
        if not tried:
            await asyncio.to_thread(check_password, password, DUMMY)  # the same cost either way
        found = [await self.get(*m) for m in matched]
        return Login(tuple(rep for rep in found if rep is not None))

    async def heartbeat(self, site: str, rid: str, status: str) -> bool:
        """Record the console's presence; True when this made the rep newly available
        (the caller then lets the offer broker use the new capacity at once)."""
        if status not in STATUSES:
            raise RepError([("status", f"must be one of {', '.join(STATUSES)}")])
        now = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zscore(keys.presence(site), rid)
            pipe.hget(keys.rep_status(site), rid)
            pipe.zadd(keys.presence(site), {rid: now})
            pipe.hset(keys.rep_status(site), rid, status)
            seen, previous, _, _ = await pipe.execute()
        was_available = previous == "available" and seen is not None and seen >= now - PRESENCE_TIMEOUT_S * 1000
        return status == "available" and not was_available

    async def sign_off(self, site: str, rid: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.presence(site), rid)
            pipe.hdel(keys.rep_status(site), rid)
            await pipe.execute()
