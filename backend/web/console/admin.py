"""The site owner's pages (role admin): site settings, rule set, offer settings,
representatives, and a live view of current visitors. Every validation message is shown
next to what it is about; the site is always the admin's own (from the session)."""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backend.core import matching, scoring, strict_json
from backend.core.validation import ValidationError
from backend.web.http import services
from backend.web.console import profile_form
from backend.web.console.web import Ctx, Form, error_page, page, redirect, render, security_headers
from backend.core.policy import VARIANTS, SettingsError, validate_settings
from backend.domain.matching import MatchingError
from backend.domain.reps import ROLES, Rep, RepError
from backend.core.scoring import RulesError
from backend.domain.sites import SiteError, script_tag, validate_site

Errors = dict[str, list[str]]

# (field, label, kind, help) of the offer settings form, in the order shown.
OFFER_FIELDS: list[tuple[str, str, str, str]] = [
    ("variant", "HELP variant", "variant", "how the offer appears in the page"),
    ("headline", "Headline", "text", "at most 80 characters"),
    ("message", "Message", "textarea", "at most 300 characters"),
    ("acceptable_wait_s", "Acceptable wait (s)", "number", "offer help while the estimated wait is this or less"),
    ("learn_acceptable_wait", "Learn the acceptable wait from real waits", "bool", ""),
    ("response_timeout_s", "Response timeout (s)", "number", "how long an offer stays, until learned"),
    ("timeout_min_s", "Learned timeout: at least (s)", "number", ""),
    ("timeout_max_s", "Learned timeout: at most (s)", "number", ""),
    ("cooldown_s", "Cool-down (s)", "number", "no new offer to a visitor for this long after one"),
    ("min_cart_value", "Minimum cart value", "number", "offer only above this cart value (0: any)"),
    ("require_access_code", "Require an access code", "bool", ""),
    ("access_codes", "Access codes", "lines", "one per line, 3-64 characters each"),
    ("short_for_first_visit", "Short offer for first visits", "bool", ""),
    ("leave_message", "Leave a message when nobody is free", "bool", "needs the sales e-mail below"),
    ("sales_email", "Sales e-mail", "text", "where left messages go; 'leave a message' works only with one"),
    ("audio_url", "Audio message URL", "text", "for the audio variant"),
    ("video_url", "Video message URL", "text", "for the video variant"),
    ("captions_url", "Video captions URL (WebVTT)", "text", ""),
    ("must_contact_alert_s", "Alert when a must-contact request waits (s)", "number",
     "the site's admins get an e-mail when nobody has accepted it by then"),
    ("holdout_share", "Holdout share", "number",
     "0 to 0.5: this share of the visitors who need help is never offered it (reports compare them)"),
]
OFFER_KINDS = {name: kind for name, _, kind, _ in OFFER_FIELDS}


def collect(errors: list[tuple[str, str]], alias: dict[str, str] | None = None) -> Errors:
    """(path, message) pairs grouped by the form field they belong to."""
    out: Errors = {}
    for path, message in errors:
        field = path.split("[")[0].split(".")[0] if path else ""
        field = (alias or {}).get(field, field)
        out.setdefault(field, []).append(f"{path}: {message}" if path and path != field else message)
    return out


def site_values(ctx: Ctx) -> dict[str, Any]:
    return {"name": ctx.site.name, "origins": "\n".join(sorted(ctx.site.origins)),
            "consent_required": ctx.site.consent_required}


def offer_values(cfg: dict[str, Any]) -> dict[str, Any]:
    values = dict(cfg)
    values["access_codes"] = "\n".join(cfg.get("access_codes", []))
    return {k: (f"{v:g}" if isinstance(v, float) else v) for k, v in values.items()}


async def site_page(request: Request, ctx: Ctx, status: int = 200, **override: Any) -> Response:
    rules = await services(request).sites.get_rules(ctx.site.key)
    rule_sets = await services(request).matching.rule_sets(ctx.site.key)
    context: dict[str, Any] = {
        "rep": ctx.rep, "site": ctx.site, "nav": "site",
        "script_tag": script_tag(services(request).settings, ctx.site.key, ctx.site.consent_required),
        "site_values": site_values(ctx), "site_errors": {},
        "rules_text": json.dumps(rules, indent=2), "rules_errors": [], "rule_help": scoring.RULE_HELP,
        "matching_text": json.dumps(rule_sets.as_json(), indent=2, ensure_ascii=False), "matching_errors": [],
        "matching_help": matching.RULE_HELP,
        "offer_fields": OFFER_FIELDS, "variants": VARIANTS, "offer": offer_values(ctx.site.offer.as_json()),
        "offer_errors": collect(ctx.site.offer.warnings()), "saved": request.query_params.get("saved", ""),
        "order_secret": await services(request).orders.secret(ctx.site.key),
    }
    context.update(override)
    return render(request, "admin_site.html", context, status=status)


@page(admin=True)
async def admin_index(request: Request, ctx: Ctx) -> Response:
    return redirect(request, "/console/admin/site")


@page(admin=True)
async def site_settings(request: Request, ctx: Ctx) -> Response:
    return await site_page(request, ctx)


@page(admin=True)
async def save_site(request: Request, ctx: Ctx) -> Response:
    form = ctx.form
    origins = [line.strip() for line in form.get("origins").splitlines() if line.strip()]
    values = {"name": form.get("name"), "origins": form.get("origins"),
              "consent_required": "consent_required" in form}
    try:
        name, clean, consent = validate_site({"name": values["name"], "origins": origins,
                                              "consent_required": values["consent_required"]})
    except SiteError as exc:
        return await site_page(request, ctx, 400, site_values=values, site_errors=collect(exc.errors))
    await services(request).sites.update(ctx.site.key, name, clean, consent)
    return redirect(request, "/console/admin/site?saved=site")


async def _save_json(request: Request, ctx: Ctx, name: str, save: Callable[[str, Any], Awaitable[Any]],
                     invalid: type[ValidationError], whole: str) -> Response:
    """A JSON document typed into the site page (the form field ``name``): read with the API's
    rules (no deep nesting, no absurd numbers), handed to ``save``; the page again with every
    problem listed under the field, else a redirect."""
    text = ctx.form.get(name)
    errors: list[str] = []
    try:
        await save(ctx.site.key, strict_json.loads(text))
    except strict_json.JSONInputError as exc:
        errors = [f"This is not valid JSON: {exc}"]
    except invalid as exc:
        errors = [f"{p or whole}: {m}" for p, m in exc.errors]
    if errors:
        return await site_page(request, ctx, 400, **{f"{name}_text": text, f"{name}_errors": errors})
    return redirect(request, f"/console/admin/site?saved={name}")


@page(admin=True)
async def save_rules(request: Request, ctx: Ctx) -> Response:
    return await _save_json(request, ctx, "rules", services(request).sites.set_rules, RulesError, "rule set")


@page(admin=True)
async def save_matching(request: Request, ctx: Ctx) -> Response:
    """The page map and matching rule sets as one JSON document, every error listed."""
    return await _save_json(request, ctx, "matching", services(request).matching.set_rule_sets, MatchingError,
                            "matching")


def parse_offer(form: Form) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Form strings to the types validate_settings expects; unreadable numbers are errors."""
    data: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    for name, kind in OFFER_KINDS.items():
        raw = form.get(name).strip()
        if kind == "bool":
            data[name] = name in form
        elif kind == "number":
            try:
                number = float(raw)
            except ValueError:
                errors.append((name, "must be a number"))
                continue
            data[name] = int(number) if number.is_integer() else number
        elif kind == "lines":
            data[name] = [line.strip() for line in raw.splitlines() if line.strip()]
        else:
            data[name] = raw
    return data, errors


@page(admin=True)
async def save_offer(request: Request, ctx: Ctx) -> Response:
    state = services(request)
    data, errors = parse_offer(ctx.form)
    readable = {k: v for k, v in data.items() if k not in {p for p, _ in errors}}
    try:  # checked even when some numbers were unreadable, so every problem shows at once
        validate_settings(readable, ctx.site.offer)
    except SettingsError as exc:
        errors += exc.errors
    if errors:
        shown = {**offer_values(ctx.site.offer.as_json()), **offer_values(data),
                 **{name: ctx.form.get(name) for name, kind in OFFER_KINDS.items() if kind == "number"}}
        return await site_page(request, ctx, 400, offer=shown, offer_errors=collect(errors))
    await state.sites.set_offer_settings(ctx.site.key, readable, ctx.site.offer)
    await state.broker.run(ctx.site.key)
    return redirect(request, "/console/admin/site?saved=offer")


@page(admin=True)
async def save_identity(request: Request, ctx: Ctx) -> Response:
    await services(request).sites.set_signed_identity(ctx.site.key, "signed_identity" in ctx.form,
                                                      rotate="rotate" in ctx.form)
    return redirect(request, "/console/admin/site?saved=identity")


@page(admin=True)
async def rotate_order_secret(request: Request, ctx: Ctx) -> Response:
    await services(request).orders.rotate_secret(ctx.site.key)
    return redirect(request, "/console/admin/site?saved=order-secret#orders-h")


# --- representatives ---------------------------------------------------------------------


def rep_data(form: Form, creating: bool) -> dict[str, Any]:
    """Form strings to what the reps service validates (the site API's shape): the account
    fields the form has, then the profile's; a blank password on edit keeps the old one."""
    data: dict[str, Any] = {name: form.get(name) for name in ("name", "email", "role") if name in form}
    if creating or form.get("password"):
        data["password"] = form.get("password")
    if "sites_shown" in form:  # an enterprise's site: which of its sites the rep serves
        data["sites"] = form.getlist("sites")
    return {**data, **profile_form.admin_part(form), **profile_form.own_part(form)}


async def choosable(request: Request, ctx: Ctx) -> list[tuple[str, str]]:
    """(key, name) of the sites a rep of this site may serve, when there is a choice."""
    svc = services(request)
    keys = await svc.enterprises.sites_of(ctx.site.key)
    names = await svc.enterprises.names(keys)
    return [(key, names.get(key, key)) for key in keys] if len(keys) > 1 else []


NEW_REP = ("name", "email", "capacity", "skills", "areas", "role")


async def reps_page(request: Request, ctx: Ctx, status: int = 200, **override: Any) -> Response:
    reps = await services(request).reps.list(ctx.site.key)
    context: dict[str, Any] = {
        "rep": ctx.rep, "site": ctx.site, "nav": "reps", "reps": reps, "roles": ROLES,
        "new": {"name": "", "email": "", "capacity": "3", "skills": "", "areas": "", "role": "rep"},
        "new_errors": {}, "row_errors": {}, "saved": request.query_params.get("saved", ""),
    }
    context["choosable"] = await choosable(request, ctx)
    context["chosen"] = [key for key, _ in context["choosable"]]  # a new rep serves them all unless told
    context.update(override)
    return render(request, "admin_reps.html", context, status=status)


@page(admin=True)
async def reps_list(request: Request, ctx: Ctx) -> Response:
    return await reps_page(request, ctx)


@page(admin=True)
async def rep_create(request: Request, ctx: Ctx) -> Response:
    data = rep_data(ctx.form, creating=True)
    try:
        await services(request).memberships.create(ctx.site.key, data)
    except RepError as exc:
        new = {k: ctx.form.get(k) for k in NEW_REP}
        return await reps_page(request, ctx, 400, new=new, new_errors=profile_form.collect(exc.errors),
                               chosen=ctx.form.getlist("sites"))
    return redirect(request, "/console/admin/reps?saved=created")


async def _target(request: Request, ctx: Ctx) -> Rep | None:
    rid = request.path_params["rid"]
    return await services(request).reps.get(ctx.site.key, rid) if len(rid) <= 64 else None


async def rep_page(request: Request, ctx: Ctx, target: Rep, status: int = 200,
                   typed: dict[str, Any] | None = None, errors: Errors | None = None) -> Response:
    """One representative's account and whole profile, each error beside its field."""
    values = typed or {"name": target.name, "email": target.email, "role": target.role,
                       **profile_form.values(target.profile)}
    sites = await choosable(request, ctx)
    chosen = ctx.form.getlist("sites") if typed else (await services(request).memberships.serving(target)
                                                       if sites else [])
    return render(request, "admin_rep.html", {
        "rep": ctx.rep, "site": ctx.site, "nav": "reps", "target": target, "roles": ROLES, "v": values,
        "choosable": sites, "chosen": chosen,
        "errs": errors or {}, "days": profile_form.DAY_NAMES, "saved": request.query_params.get("saved", ""),
    }, status=status)


@page(admin=True)
async def rep_edit(request: Request, ctx: Ctx) -> Response:
    target = await _target(request, ctx)
    if target is None:
        return error_page(request, 404, "No such representative on this site.", ctx.rep)
    return await rep_page(request, ctx, target)


@page(admin=True)
async def rep_update(request: Request, ctx: Ctx) -> Response:
    target = await _target(request, ctx)
    if target is None:
        return error_page(request, 404, "No such representative on this site.", ctx.rep)
    data = rep_data(ctx.form, creating=False)
    errors: list[tuple[str, str]] = []
    if target.id == ctx.rep.id and data.get("role", "admin") != "admin":
        errors.append(("role", "you cannot remove your own admin role; ask another admin"))
    if target.id == ctx.rep.id and ctx.site.key not in data.get("sites", [ctx.site.key]):
        errors.append(("sites", "you cannot stop serving the site you administer here; ask another admin"))
    try:
        if not errors:
            await services(request).memberships.update(ctx.site.key, target.id, data)
    except RepError as exc:
        errors += exc.errors
    if errors:
        typed = {"name": ctx.form.get("name", target.name), "email": ctx.form.get("email", target.email),
                 "role": ctx.form.get("role", target.role), **profile_form.typed(ctx.form)}
        return await rep_page(request, ctx, target, 400, typed, profile_form.collect(errors))
    return redirect(request, f"/console/admin/reps/{target.id}?saved=1")


@page(admin=True)
async def rep_active(request: Request, ctx: Ctx) -> Response:
    target = await _target(request, ctx)
    if target is None:
        return error_page(request, 404, "No such representative on this site.", ctx.rep)
    active = ctx.form.get("active") == "1"
    if target.id == ctx.rep.id and not active:
        return await reps_page(request, ctx, 400,
                               row_errors={target.id: {"active": ["you cannot deactivate your own account"]}})
    await services(request).reps.update(ctx.site.key, target.id, {"active": active})
    if not active:
        await services(request).reps.sign_off(ctx.site.key, target.id)
    return redirect(request, "/console/admin/reps?saved=" + ("reactivated" if active else "deactivated"))


# --- live visitors -----------------------------------------------------------------------


async def _visitors(request: Request, ctx: Ctx) -> list[dict[str, Any]]:
    return await services(request).visitors.active(ctx.site.key, 200)


@page(admin=True)
async def visitors_page(request: Request, ctx: Ctx) -> Response:
    return render(request, "admin_visitors.html", {
        "rep": ctx.rep, "site": ctx.site, "nav": "visitors", "visitors": await _visitors(request, ctx)})


@page(admin=True)
async def visitors_json(request: Request, ctx: Ctx) -> Response:
    return JSONResponse({"visitors": await _visitors(request, ctx)}, headers=security_headers(request))


# --- mail that could not be sent ------------------------------------------------------------

LETTER_ID_MAX = 100


@page(admin=True)
async def mail_page(request: Request, ctx: Ctx) -> Response:
    """The site's dead letters (domain/jobs.py), each with a button to send it again."""
    return render(request, "admin_mail.html", {
        "rep": ctx.rep, "site": ctx.site, "nav": "mail", "resent": request.query_params.get("resent", ""),
        "letters": await services(request).jobs.dead_letters(ctx.site.key)})


@page(admin=True)
async def mail_resend(request: Request, ctx: Ctx) -> Response:
    letter = request.path_params["letter"]
    if len(letter) > LETTER_ID_MAX or not await services(request).jobs.resend(ctx.site.key, letter):
        return error_page(request, 404, "No such undelivered mail on this site (it may have been sent "
                                        "again).", ctx.rep)
    return redirect(request, "/console/admin/mail?resent=1")
