"""A representative serving several sites of one enterprise: one membership per site, each
the ordinary per-site rep record (same id where it is free, same e-mail, same password hash),
so every site's data, sessions and scripts stay in that site's slot.

An admin of a site chooses among the sites of the site's enterprise (``Enterprises.sites_of``:
the site alone when it has none), and nothing outside them: a choice that names another site
is refused as a whole.
"""

from __future__ import annotations

import asyncio
from typing import Any

from backend.core.protocol import new_id
from backend.domain.enterprises import Enterprises
from backend.domain.passwords import hash_password
from backend.domain.reps import TAKEN, Rep, RepError, Reps, validate_rep


def validate_choice(raw: Any, choosable: tuple[str, ...]) -> list[str]:
    """The sites chosen (``raw``: a list of site keys) among ``choosable``; RepError else."""
    if not isinstance(raw, list) or not raw or len(raw) > len(choosable):
        raise RepError([("sites", "choose 1 or more of this enterprise's sites")])
    errors = [(f"sites[{i}]", "is not a site of this enterprise") for i, key in enumerate(raw)
              if not isinstance(key, str) or key not in choosable]
    if errors:
        raise RepError(errors)
    return [key for key in choosable if key in raw]


class Memberships:
    def __init__(self, reps: Reps, enterprises: Enterprises) -> None:
        self.reps = reps
        self.enterprises = enterprises

    async def create(self, site: str, data: Any) -> Rep:
        """A new rep on the chosen sites (``data["sites"]``; by default every site of the
        enterprise, or this site alone). The rep on ``site`` (or the first chosen) is returned."""
        if not isinstance(data, dict) or "sites" not in data and len(await self.enterprises.sites_of(site)) < 2:
            return await self.reps.create(site, data)
        rest = {k: v for k, v in data.items() if k != "sites"}
        choosable = await self.enterprises.sites_of(site)
        errors: list[tuple[str, str]] = []
        chosen: list[str] = list(choosable)
        try:
            if "sites" in data:
                chosen = validate_choice(data["sites"], choosable)
        except RepError as exc:
            errors += exc.errors
        try:
            clean = validate_rep(rest)
        except RepError as exc:
            raise RepError(exc.errors + errors) from None
        if errors:
            raise RepError(errors)
        account = clean.account
        for key in chosen:
            if await self.reps.email_taken(key, account["email"]):
                names = await self.enterprises.names([key])
                raise RepError([("email", f"a representative of {names.get(key, 'a chosen site')} already has "
                                          "this e-mail")])
        rid = new_id()
        password = await asyncio.to_thread(hash_password, account["password"])
        made = [await self.reps.adopt(key, rid, account["name"], account["email"], password, clean.profile,
                                      account["role"]) for key in chosen]
        return next((rep for rep in made if rep.site == site), made[0])

    async def update(self, site: str, rid: str, data: Any) -> Rep | None:
        """Changes the rep on ``site`` as ``Reps.update`` does; ``data["sites"]``, when given,
        is every site of the enterprise the person serves afterwards: memberships are made on
        sites newly chosen (copying this one's account and profile), reactivated, or
        deactivated on sites no longer chosen (their sessions end at once)."""
        if not isinstance(data, dict) or "sites" not in data:
            return await self.reps.update(site, rid, data)
        chosen = validate_choice(data["sites"], await self.enterprises.sites_of(site))
        rep = await self.reps.update(site, rid, {k: v for k, v in data.items() if k != "sites"})
        if rep is None:
            return None
        await self._serve(rep, chosen)
        return await self.reps.get(site, rid)

    async def _serve(self, rep: Rep, chosen: list[str]) -> None:
        password = await self.reps.password_hash(rep.site, rep.id)
        for key in await self.enterprises.sites_of(rep.site):
            mid = await self.reps.member_id(key, rep.email)
            member = await self.reps.get(key, mid) if mid else None
            if key in chosen and member is None:
                rid = rep.id if await self.reps.get(key, rep.id) is None else new_id()
                try:
                    await self.reps.adopt(key, rid, rep.name, rep.email, password, rep.profile, rep.role)
                except RepError as exc:
                    if exc is not TAKEN:  # taken meanwhile: that membership serves already
                        raise
            elif key in chosen and member is not None and not member.active:
                await self.reps.update(key, member.id, {"active": True})
            elif key not in chosen and member is not None and member.active:
                await self.reps.update(key, member.id, {"active": False})
                await self.reps.sign_off(key, member.id)

    async def serving(self, rep: Rep) -> list[str]:
        """The sites of the rep's enterprise where this person is an active representative."""
        out = []
        for key in await self.enterprises.sites_of(rep.site):
            mid = await self.reps.member_id(key, rep.email)
            member = await self.reps.get(key, mid) if mid else None
            if member is not None and member.active:
                out.append(key)
        return out
