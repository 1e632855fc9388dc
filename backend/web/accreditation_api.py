"""Accreditation tests over the site API (``/v1/sites/KEY/accreditation-tests``, the site's
key or the operator token, as the other site endpoints): the admin's tests with their answers,
a rep's accreditations with their expiry, an admin's grant and revoke, and an attempt taken on
a rep's behalf (for a site's own training system; reps take tests in the console)."""

from __future__ import annotations

import math
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.core.matching import norm
from backend.core.protocol import ID_RE
from backend.domain.accreditations import AccreditationError, RetryWait
from backend.web.http import HTTPError, errors_json, read_json, services
from backend.web.site_api import site_or_404

TEST_MAX_BYTES = 256 * 1024  # 100 questions of 8 long choices fit
ANSWERS_MAX_BYTES = 16 * 1024


def invalid(what: str, exc: AccreditationError) -> HTTPError:
    return HTTPError(400, f"the {what} is not valid", errors=errors_json(exc.errors))


def wait_error(exc: RetryWait) -> HTTPError:
    """429 with Retry-After: the rep failed this test lately."""
    seconds = max(1, math.ceil(exc.retry_at_ms / 1000 - time.time()))
    return HTTPError(429, "failed lately: a retry is allowed after the test's wait",
                     headers={"Retry-After": str(seconds)}, retry_at=exc.retry_at_ms)


def _id(request: Request, name: str) -> str:
    value = request.path_params[name]
    return value if ID_RE.fullmatch(value) else ""


async def tests_collection(request: Request) -> Response:
    site = await site_or_404(request)
    service = services(request).accreditations
    if request.method == "POST":
        try:
            test = await service.create(site.key, await read_json(request, TEST_MAX_BYTES))
        except AccreditationError as exc:
            raise invalid("accreditation test", exc) from None
        return JSONResponse(test.as_json(), status_code=201)
    return JSONResponse({"tests": [t.as_json() for t in await service.tests(site.key)]})


async def test_detail(request: Request) -> Response:
    site = await site_or_404(request)
    service = services(request).accreditations
    tid = _id(request, "tid")
    if request.method == "DELETE":
        if not tid or not await service.delete(site.key, tid):
            raise HTTPError(404, "no such accreditation test")
        return JSONResponse({"deleted": True})
    try:
        test = (await service.update(site.key, tid, await read_json(request, TEST_MAX_BYTES))
                if request.method == "PUT" else await service.test(site.key, tid)) if tid else None
    except AccreditationError as exc:
        raise invalid("accreditation test", exc) from None
    if test is None:
        raise HTTPError(404, "no such accreditation test")
    return JSONResponse(test.as_json())


async def _rep_id(request: Request, site: str) -> str:
    rid = _id(request, "rid")
    if not rid or await services(request).reps.get(site, rid) is None:
        raise HTTPError(404, "no such representative")
    return rid


async def rep_accreditations(request: Request) -> Response:
    """GET: every accreditation of the rep, expired ones marked; POST: an admin's grant."""
    site = await site_or_404(request)
    rid = await _rep_id(request, site.key)
    service = services(request).accreditations
    if request.method == "POST":
        try:
            await service.grant(site.key, rid, await read_json(request, ANSWERS_MAX_BYTES))
        except AccreditationError as exc:
            raise invalid("grant", exc) from None
    now = service.now_ms()
    return JSONResponse({"accreditations": [a.as_json(now) for a in await service.of_rep(site.key, rid)]},
                        status_code=201 if request.method == "POST" else 200)


async def revoke(request: Request) -> Response:
    site = await site_or_404(request)
    rid = await _rep_id(request, site.key)
    subject = norm(request.path_params["subject"][:300])  # subjects are stored normalised
    if not await services(request).accreditations.revoke(site.key, rid, subject):
        raise HTTPError(404, "the representative holds no such accreditation")
    return JSONResponse({"revoked": True})


async def attempt(request: Request) -> Response:
    """``{"answers": [index or [indices], ...]}``: graded here; 429 during the retry wait."""
    site = await site_or_404(request)
    rid = await _rep_id(request, site.key)
    data = await read_json(request, ANSWERS_MAX_BYTES)
    if not isinstance(data, dict) or set(data) != {"answers"}:
        raise HTTPError(400, "send {\"answers\": [...]}, one answer per question",
                        errors=errors_json([("", "must be a JSON object with answers")]))
    service = services(request).accreditations
    try:
        result = await service.submit(site.key, rid, _id(request, "tid"), data["answers"]) \
            if _id(request, "tid") else None
    except RetryWait as exc:
        raise wait_error(exc) from None
    except AccreditationError as exc:
        raise invalid("answers", exc) from None
    if result is None:
        raise HTTPError(404, "no such accreditation test")
    g, now = result.grade, service.now_ms()
    return JSONResponse({
        "score": g.score, "right": g.right, "total": g.total, "passed": g.passed, "level": g.level,
        "retry_at": None if g.passed else result.attempt.retry_at_ms,
        "accreditation": result.held.as_json(now) if result.held else None,
    })


routes = [
    Route("/v1/sites/{key}/accreditation-tests", tests_collection, methods=["GET", "POST"]),
    Route("/v1/sites/{key}/accreditation-tests/{tid}", test_detail, methods=["GET", "PUT", "DELETE"]),
    Route("/v1/sites/{key}/reps/{rid}/accreditations", rep_accreditations, methods=["GET", "POST"]),
    Route("/v1/sites/{key}/reps/{rid}/accreditations/{subject}", revoke, methods=["DELETE"]),
    Route("/v1/sites/{key}/reps/{rid}/accreditation-tests/{tid}/attempts", attempt, methods=["POST"]),
]
