"""The owner's report on the materials library (core/material_report.py decides): reads the
library, the counts of one facet and of every chat, and the representatives' names, so the
site API and the console page show the same rows."""

from __future__ import annotations

from dataclasses import dataclass

from backend.core import material_report as core
from backend.core.material_report import FacetError, Group, Row
from backend.core.practices import ALL
from backend.domain.materials import Materials
from backend.domain.practices import Practices
from backend.domain.reps import Reps

__all__ = ["FacetError", "MaterialReport", "Report"]


@dataclass(frozen=True)
class Report:
    facet: str
    label: str  # the facet for people ("Representative: Ria")
    rows: list[Row]
    facets: list[str]  # every facet the site counted, "*" first
    choices: list[Group]
    names: dict[str, str]  # rep id -> name, for the per-representative view


class MaterialReport:
    def __init__(self, materials: Materials, practices: Practices, reps: Reps) -> None:
        self.materials = materials
        self.practices = practices
        self.reps = reps

    async def report(self, site: str, facet: str) -> Report:
        """Raises FacetError for a facet the site never counted (checked before it is read)."""
        facets = [ALL, *(f for f in await self.practices.facets(site) if f != ALL)]
        facet = core.check_facet(facet, facets)
        names = {r.id: r.name for r in await self.reps.list(site)}
        everywhere = await self.practices.records(site, ALL)
        here = everywhere if facet == ALL else await self.practices.records(site, facet)
        found = core.rows(await self.materials.list(site, "all"), facet, here, everywhere, self.materials.now_ms(),
                          names)
        return Report(facet, core.label(facet, names), found, facets, core.choices(facets, names), names)
