"""Enterprises for the operator (``BECKON_ADMIN_TOKEN`` only): ``/v1/enterprises``.

An enterprise owns several sites; its representatives may be chosen to serve any of them
(the reps API's ``sites`` field), and its sites may share one set of records (``/records``).
A site's own key never opens these routes.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.domain.enterprises import Enterprise, EnterpriseError
from backend.web.http import HTTPError, errors_json, read_json, services
from backend.web.site_api import require_operator


async def _answer(request: Request, enterprise: Enterprise, status: int = 200) -> Response:
    names = await services(request).enterprises.names(enterprise.sites)
    return JSONResponse(enterprise.as_json(names), status_code=status)


def _invalid(exc: EnterpriseError) -> HTTPError:
    return HTTPError(400, "the enterprise is not valid", errors=errors_json(exc.errors))


async def create_enterprise(request: Request) -> Response:
    await require_operator(request)
    try:
        enterprise = await services(request).enterprises.create(await read_json(request))
    except EnterpriseError as exc:
        raise _invalid(exc) from None
    return await _answer(request, enterprise, 201)


async def enterprise_detail(request: Request) -> Response:
    await require_operator(request)
    enterprise = await services(request).enterprises.get(request.path_params["eid"])
    if enterprise is None:
        raise HTTPError(404, "no such enterprise")
    return await _answer(request, enterprise)


async def _change(request: Request, change: Callable[[str, Any], Awaitable[Enterprise | None]]) -> Response:
    """An operator's PUT to one enterprise: its body to ``change``, every mistake listed."""
    await require_operator(request)
    try:
        enterprise = await change(request.path_params["eid"], await read_json(request))
    except EnterpriseError as exc:
        raise _invalid(exc) from None
    if enterprise is None:
        raise HTTPError(404, "no such enterprise")
    return await _answer(request, enterprise)


async def enterprise_sites(request: Request) -> Response:
    """``{"sites": [...]}`` replaces the enterprise's sites."""
    return await _change(request, services(request).enterprises.set_sites)


async def enterprise_records(request: Request) -> Response:
    """``{"shared": true | false}``: whether the enterprise's sites keep one set of records."""
    return await _change(request, services(request).enterprises.set_shared_records)


routes = [
    Route("/v1/enterprises", create_enterprise, methods=["POST"]),
    Route("/v1/enterprises/{eid}", enterprise_detail, methods=["GET"]),
    Route("/v1/enterprises/{eid}/sites", enterprise_sites, methods=["PUT"]),
    Route("/v1/enterprises/{eid}/records", enterprise_records, methods=["PUT"]),
]
