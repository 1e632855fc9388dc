"""A representative's presence changes, from the console or the API: the one place that
turns "available" into capacity the offer broker uses at once."""

from __future__ import annotations

from backend.domain.offers import Broker
from backend.domain.reps import STATUSES, Rep, RepError, Reps

CHOICES = (*STATUSES, "offline")


class Presence:
    def __init__(self, reps: Reps, broker: Broker) -> None:
        self.reps = reps
        self.broker = broker

    async def set(self, site: str, rid: str, status: object) -> Rep | None:
        """Record a heartbeat (or signing off) and return the rep as now seen; None when the
        rep no longer exists or was deactivated. Raises RepError for an unknown status. A rep
        leaving widens the ranked requests offered to them; one arriving is ranked in."""
        rep = await self.reps.get(site, rid)
        if rep is None or not rep.active:
            return None
        routing = self.broker.routing
        if status == "offline":
            await self.reps.sign_off(site, rid)
            if routing and rep.status == "available":
                await routing.rep_left(site, rid)
        elif not isinstance(status, str) or status not in STATUSES:
            raise RepError([("status", f"must be one of {', '.join(CHOICES)}")])
        elif await self.reps.heartbeat(site, rid, status):
            await self.broker.run(site)  # newly available: its capacity is usable at once
            if routing:
                await routing.rep_arrived(site)
        elif status == "away" and routing and rep.status == "available":
            await routing.rep_left(site, rid)
        return await self.reps.get(site, rid)
