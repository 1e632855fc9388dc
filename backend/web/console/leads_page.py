"""Leads in the console (issue 13, "work from the console").

Admins (auditors read): ``/console/admin/leads`` the site's leads, newest first, filtered and
paged, with a CSV export of the filtered list and a page per lead; ``.../leads/territories``
the ordered territory table and the lead settings' extra addressees, each saved whole through
domain/leads.py (which checks them as the site API does), every problem shown beside its row.

A representative who is on the sales staff (a staff record whose ``rep`` is them):
``/console/leads``, the leads routed to them and their own alert choices, which change only
the ``alerts`` of that record. The record is found from the session's rep id, never from the
form, so nobody edits another's.

Lead ids are looked up under the session's own site only: another site's admin finds nothing.
"""

from __future__ import annotations

from typing import Any, AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from backend.core import lead_views as views
from backend.core.leads import KINDS, PATHS, STATUSES, Lead
from backend.core.records import ALERT_CHANNELS, ALERT_EVENTS, Staff
from backend.domain.leads import LeadError
from backend.web.console.web import Ctx, error_page, page, redirect, render, security_headers
from backend.web.http import services
from backend.web.leads_api import LEAD_ID_RE

HOME = "/console/admin/leads"
ROUTING = "/console/admin/leads/territories"
MINE = "/console/leads"
SELECT_MAX = 200  # more staff than this: a text input with a list of suggestions, not a select
TABLE_FIELDS = 3 * 500 + 10  # the territory form: three fields a row, 500 rows, the token and the button
CSV_CHUNK = 1000
CSV_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
               "Content-Disposition": 'attachment; filename="leads.csv"'}


def _now_ms(request: Request) -> int:
    return int(services(request).leads.clock() * 1000)


async def _names(request: Request, site: str) -> dict[str, str]:
    """Staff id -> name (the id when unnamed), for showing who a lead went to."""
    return {sid: s.name or sid for sid, s in (await services(request).records.all_staff(site)).items()}


# --- the admin's list, CSV and detail ------------------------------------------------------------


@page(admin=True, reads=True)
async def leads_home(request: Request, ctx: Ctx) -> Response:
    query, errors = views.parse_query(request.query_params, _now_ms(request))
    try:
        found, after = await services(request).leads.recent(ctx.site.key, query.from_ms, query.to_ms, query.keeps,
                                                            query.cursor, views.PAGE_SIZE)
    except LeadError:  # a cursor parse_query let through but the domain refused
        found, after, errors = [], "", {**errors, "cursor": "must be the link a previous page gave"}
    names = await _names(request, ctx.site.key)
    return render(request, "admin_leads.html", {
        "rep": ctx.rep, "site": ctx.site, "nav": "leads", "leads": found, "q": query, "errors": errors,
        "next": query.params(after) if after else None, "first": query.params() if query.cursor else None,
        "export": query.params(), "names": names, "staff_choices": sorted(names.items(), key=lambda kv: kv[1].lower()),
        "kinds": KINDS, "statuses": STATUSES, "paths": PATHS,
    }, status=400 if errors else 200)


@page(admin=True, reads=True)
async def leads_csv(request: Request, ctx: Ctx) -> Response:
    """The filtered list (every page of it), newest first; cursors are ignored."""
    query, errors = views.parse_query(request.query_params, _now_ms(request))
    if errors:
        return error_page(request, 400, "; ".join(f"{k}: {v}" for k, v in errors.items()), ctx.rep)
    leads, names = services(request).leads, await _names(request, ctx.site.key)

    async def chunks() -> AsyncIterator[str]:
        cursor, header = "", True
        while True:
            found, cursor = await leads.recent(ctx.site.key, query.from_ms, query.to_ms, query.keeps, cursor,
                                               CSV_CHUNK)
            yield views.csv_part(found, names, header)
            header = False
            if not cursor:
                return

    return StreamingResponse(chunks(), media_type="text/csv; charset=utf-8",
                             headers={**security_headers(request), **CSV_HEADERS})


@page(admin=True, reads=True)
async def lead_detail(request: Request, ctx: Ctx) -> Response:
    lid = request.path_params["lid"]
    lead = await services(request).leads.get(ctx.site.key, lid) if LEAD_ID_RE.fullmatch(lid) else None
    if lead is None:
        return error_page(request, 404, "No such lead on this site (or it is older than the lead retention).", ctx.rep)
    names = await _names(request, ctx.site.key)
    return render(request, "admin_lead.html", {"rep": ctx.rep, "site": ctx.site, "nav": "leads", "lead": lead,
                                               "staff_name": names.get(lead.staff, "")})


# --- routing: the territory table and the extra addressees ------------------------------------------


async def routing_page(request: Request, ctx: Ctx, status: int = 200, **override: Any) -> Response:
    leads = services(request).leads
    staff = await services(request).records.all_staff(ctx.site.key)
    context: dict[str, Any] = {
        "rep": ctx.rep, "site": ctx.site, "nav": "leads", "rows": views.table_rows(await leads.territories(ctx.site.key)),
        "row_errors": {}, "table_errors": [], "unsaved": False,
        "staff": sorted(staff.values(), key=lambda s: ((s.name or s.id).lower(), s.id)), "select_max": SELECT_MAX,
        "extra_to": "\n".join((await leads.settings(ctx.site.key)).extra_to), "settings_errors": [],
        "sales_email": ctx.site.offer.sales_email, "saved": request.query_params.get("saved", ""),
    }
    context.update(override)
    return render(request, "admin_territories.html", context, status=status)


@page(admin=True, reads=True)
async def routing_home(request: Request, ctx: Ctx) -> Response:
    return await routing_page(request, ctx)


@page(admin=True, max_fields=TABLE_FIELDS)
async def territories_save(request: Request, ctx: Ctx) -> Response:
    """"save" stores the table whole or not at all; add / remove / move show the table changed,
    not yet saved (no script: each is a submit button of the one form)."""
    form = ctx.form
    rows = views.form_rows(form.getlist("areas"), form.getlist("products"), form.getlist("staff"))
    op = form.get("op", "save")
    if op != "save":
        changed = views.apply_op(rows, op)
        if changed is None:
            return await routing_page(request, ctx, 400, rows=rows, unsaved=True,
                                      table_errors=["That is not something this form does; use its buttons."])
        return await routing_page(request, ctx, rows=changed, unsaved=True)
    try:
        await services(request).leads.set_territories(ctx.site.key, [r.as_data() for r in rows])
    except LeadError as exc:
        by_row, whole = views.row_errors(exc.errors)
        return await routing_page(request, ctx, 400, rows=rows, unsaved=True, row_errors=by_row, table_errors=whole)
    return redirect(request, ROUTING + "?saved=territories")


@page(admin=True)
async def settings_save(request: Request, ctx: Ctx) -> Response:
    typed = ctx.form.get("extra_to")
    try:
        await services(request).leads.set_settings(ctx.site.key, {"extra_to": views.extra_to_lines(typed)})
    except LeadError as exc:
        return await routing_page(request, ctx, 400, extra_to=typed,
                                  settings_errors=[f"{p}: {m}" if p else m for p, m in exc.errors])
    return redirect(request, ROUTING + "?saved=settings#settings-h")


# --- a representative's own leads ------------------------------------------------------------------


async def mine_page(request: Request, ctx: Ctx, staff: Staff | None, status: int = 200,
                    errors: list[str] | None = None, chosen: dict[str, list[str]] | None = None) -> Response:
    found: list[Lead] = []
    after = ""
    cursor = request.query_params.get("cursor", "") if request.method == "GET" else ""
    if staff is not None:
        leads = services(request).leads
        query = views.retention_query(_now_ms(request), leads.retention_ms // views.DAY_MS, staff.id, cursor)
        found, after = await leads.recent(ctx.site.key, query.from_ms, query.to_ms, query.keeps, query.cursor,
                                          views.PAGE_SIZE)
    alerts = chosen or ({"channels": list(staff.alerts.channels), "events": list(staff.alerts.events)}
                        if staff else {"channels": [], "events": []})
    return render(request, "my_leads.html", {
        "rep": ctx.rep, "site": ctx.site, "nav": "my-leads", "staff": staff, "leads": found, "next": after,
        "older": bool(cursor), "alerts": alerts, "channels": ALERT_CHANNELS, "events": ALERT_EVENTS,
        "errors": errors or [], "saved": request.query_params.get("saved", ""),
    }, status=status)


@page()
async def my_leads(request: Request, ctx: Ctx) -> Response:
    staff = await services(request).records.staff_of_rep(ctx.site.key, ctx.rep.id)
    return await mine_page(request, ctx, staff)


@page()
async def my_alerts(request: Request, ctx: Ctx) -> Response:
    """The rep's own staff record's ``alerts``, and nothing else of it, through the records'
    upsert (which checks the choices as an import does)."""
    records = services(request).records
    staff = await records.staff_of_rep(ctx.site.key, ctx.rep.id)
    if staff is None:
        return await mine_page(request, ctx, None, 403, ["You are not on the sales staff of this site."])
    chosen = {"channels": ctx.form.getlist("channels"), "events": ctx.form.getlist("events")}
    result = (await records.upsert(ctx.site.key, "staff", [{"id": staff.id, "alerts": chosen}]))[0]
    if result.status == "error":
        return await mine_page(request, ctx, staff, 400, [f"{p}: {m}" if p else m for p, m in result.errors],
                               chosen)
    return redirect(request, MINE + "?saved=1")
