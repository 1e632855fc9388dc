"""Accreditation tests in the console: a representative's page (their accreditations with
expiry dates, the site's tests, taking one and its result) and the admin's pages to write the
tests. The questions are written as text (core/accreditation.py:questions_from_text): the
prompt, then one line per choice, "* " before a right one and "- " before a wrong one."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from backend.core import accreditation as core
from backend.core.accreditation import Test
from backend.core.protocol import ID_RE
from backend.domain.accreditations import AccreditationError, Result, RetryWait
from backend.web.console.admin import collect
from backend.web.console.web import Ctx, Form, error_page, page, redirect, render
from backend.web.http import services

NOT_FOUND = "No such accreditation test."
NUMBERS = ("pass_mark", "validity_days", "retry_wait_hours", "level")
TEXTS = ("subject", "title")
FIELD_MAX = 200_000  # the questions' text; the form itself is bounded by FORM_MAX_BYTES


# --- the representative's pages ----------------------------------------------------------


@page()
async def accreditations_home(request: Request, ctx: Ctx) -> Response:
    service = services(request).accreditations
    return render(request, "accreditations.html", {
        "rep": ctx.rep, "site": ctx.site, "nav": "accreditations", "now": service.now_ms(),
        "held": await service.of_rep(ctx.site.key, ctx.rep.id),
        "offered": await service.offered(ctx.site.key, ctx.rep.id)})


def _take(request: Request, ctx: Ctx, test: Test, status: int = 200, chosen: dict[int, list[str]] | None = None,
          errors: list[str] | None = None, result: Result | None = None, retry_at: int | None = None) -> Response:
    return render(request, "accreditation_take.html", {
        "rep": ctx.rep, "site": ctx.site, "nav": "accreditations", "test": test.view(), "chosen": chosen or {},
        "errors": errors or [], "result": result, "retry_at": retry_at,
        "now": services(request).accreditations.now_ms()}, status=status)


async def _test(request: Request, ctx: Ctx) -> Test | None:
    tid = request.path_params["tid"]
    return await services(request).accreditations.test(ctx.site.key, tid) if ID_RE.fullmatch(tid) else None


@page()
async def take_form(request: Request, ctx: Ctx) -> Response:
    test = await _test(request, ctx)
    if test is None:
        return error_page(request, 404, NOT_FOUND, ctx.rep)
    try:
        await services(request).accreditations.start(ctx.site.key, ctx.rep.id, test.id)
    except RetryWait as exc:
        return _take(request, ctx, test, 429, retry_at=exc.retry_at_ms)
    return _take(request, ctx, test)


def answers_of(form: Form, test: Test) -> tuple[list[object], dict[int, list[str]]]:
    """The form's answers as the domain reads them (an index, or a list for a multiple
    question), and what was ticked, to show again after an error."""
    answers: list[object] = []
    chosen: dict[int, list[str]] = {}
    for i, q in enumerate(test.questions):
        picked = form.getlist(f"q{i}")[:len(q.choices) + 1]
        chosen[i] = picked
        values = [int(p) if p.isascii() and p.isdigit() and len(p) < 3 else p for p in picked]
        answers.append(values if q.multiple else (values[0] if len(values) == 1 else values))
    return answers, chosen


@page()
async def take_submit(request: Request, ctx: Ctx) -> Response:
    test = await _test(request, ctx)
    if test is None:
        return error_page(request, 404, NOT_FOUND, ctx.rep)
    answers, chosen = answers_of(ctx.form, test)
    try:
        result = await services(request).accreditations.submit(ctx.site.key, ctx.rep.id, test.id, answers)
    except RetryWait as exc:
        return _take(request, ctx, test, 429, retry_at=exc.retry_at_ms)
    except AccreditationError as exc:
        return _take(request, ctx, test, 400, chosen, [message for _, message in exc.errors])
    if result is None:
        return error_page(request, 404, NOT_FOUND, ctx.rep)
    return _take(request, ctx, result.test, result=result)


# --- the admin's pages ---------------------------------------------------------------------


@page(admin=True)
async def tests_list(request: Request, ctx: Ctx) -> Response:
    return render(request, "admin_accreditation_tests.html", {
        "rep": ctx.rep, "site": ctx.site, "nav": "accreditation-tests",
        "tests": await services(request).accreditations.tests(ctx.site.key),
        "saved": request.query_params.get("saved", "")})


def _values(test: Test | None) -> dict[str, str]:
    if test is None:
        return {"subject": "", "title": "", "pass_mark": "80", "validity_days": str(core.DEFAULTS["validity_days"]),
                "retry_wait_hours": str(core.DEFAULTS["retry_wait_hours"]), "level": "1", "questions": ""}
    return {"subject": test.subject, "title": test.title, "pass_mark": f"{test.pass_mark:g}",
            "validity_days": str(test.validity_days), "retry_wait_hours": f"{test.retry_wait_hours:g}",
            "level": str(test.level), "questions": core.questions_as_text(test.questions)}


def _editor(request: Request, ctx: Ctx, test: Test | None, status: int = 200, typed: dict[str, str] | None = None,
            errors: dict[str, list[str]] | None = None) -> Response:
    return render(request, "admin_accreditation_test.html", {
        "rep": ctx.rep, "site": ctx.site, "nav": "accreditation-tests", "test": test,
        "v": typed or _values(test), "errs": errors or {}, "max_level": core.MAX_LEVEL}, status=status)


def _number(text: str) -> object:
    """A number as typed; what is no number stays text, for validation to say so."""
    text = text.strip()
    if re.fullmatch(r"[0-9]{1,6}", text):
        return int(text)
    if re.fullmatch(r"[0-9]{1,6}\.[0-9]{1,6}", text):
        return float(text)
    return text


def _readable(path: str) -> str:
    """``questions[1].choices[0]`` as a writer reads it: question 2, choice 1."""
    out = re.sub(r"questions\[(\d+)\]", lambda m: f"question {int(m.group(1)) + 1}", path)
    out = re.sub(r"\.?choices\[(\d+)\]", lambda m: f", choice {int(m.group(1)) + 1}", out)
    return out.replace(".", ", ")


def parse_test_form(form: Form) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    data: dict[str, Any] = {name: form.get(name) for name in TEXTS}
    for name in NUMBERS:
        if form.get(name).strip():
            data[name] = _number(form.get(name))
    data["questions"], errors = core.questions_from_text(form.get("questions")[:FIELD_MAX])
    return data, errors


async def _save(request: Request, ctx: Ctx, test: Test | None) -> Response:
    service = services(request).accreditations
    data, text_errors = parse_test_form(ctx.form)
    typed = {name: ctx.form.get(name) for name in (*TEXTS, *NUMBERS, "questions")}
    try:
        if text_errors:  # with every other field's problems too
            found = core.validate_test(data, "")
            others = [e for e in found if not e[0].startswith("questions")] if isinstance(found, list) else []
            raise AccreditationError(others + text_errors)
        saved = await service.update(ctx.site.key, test.id, data) if test else await service.create(ctx.site.key, data)
    except AccreditationError as exc:
        found = [(p, m if p.startswith("questions[") and m.startswith("question ") else
                  (f"{_readable(p)}: {m}" if p.startswith("questions[") else m)) for p, m in exc.errors]
        grouped = collect([(p.split("[")[0].split(".")[0], m) for p, m in found])
        return _editor(request, ctx, test, 400, typed, grouped)
    if saved is None:
        return error_page(request, 404, NOT_FOUND, ctx.rep)
    return redirect(request, f"/console/admin/accreditation-tests?saved={saved.id}")


@page(admin=True)
async def test_new(request: Request, ctx: Ctx) -> Response:
    return _editor(request, ctx, None)


@page(admin=True)
async def test_create(request: Request, ctx: Ctx) -> Response:
    return await _save(request, ctx, None)


@page(admin=True)
async def test_edit(request: Request, ctx: Ctx) -> Response:
    test = await _test(request, ctx)
    return error_page(request, 404, NOT_FOUND, ctx.rep) if test is None else _editor(request, ctx, test)


@page(admin=True)
async def test_update(request: Request, ctx: Ctx) -> Response:
    test = await _test(request, ctx)
    return error_page(request, 404, NOT_FOUND, ctx.rep) if test is None else await _save(request, ctx, test)


@page(admin=True)
async def test_delete(request: Request, ctx: Ctx) -> Response:
    test = await _test(request, ctx)
    if test is None or not await services(request).accreditations.delete(ctx.site.key, test.id):
        return error_page(request, 404, NOT_FOUND, ctx.rep)
    return redirect(request, "/console/admin/accreditation-tests?saved=deleted")
