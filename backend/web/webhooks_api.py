"""Webhooks over the site API (the site's key or the operator token), domain/webhooks.py:

``GET/POST /v1/sites/KEY/webhooks`` (list; create: 201 with the endpoint's secret, shown this
once), ``GET/PUT/DELETE .../webhooks/ID``, ``POST .../webhooks/ID/secret`` (a new secret, shown
once), ``GET .../webhooks/deliveries?limit=`` (the delivery log, newest first) and
``POST .../webhooks/deliveries/EVENT/resend?endpoint=ID`` (the same id and body again).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.core.webhooks import EVENTS
from backend.domain.webhooks import LOG_MAX, Created, WebhookError
from backend.web.http import HTTPError, errors_json, parse_int, read_json, services
from backend.web.site_api import site_or_404

ENDPOINT_MAX_BYTES = 16 * 1024


def created_json(done: Created) -> dict[str, object]:
    return {**done.endpoint.public(), "secret": done.secret}


def invalid(exc: WebhookError) -> HTTPError:
    return HTTPError(400, "the webhook endpoint is not valid", errors=errors_json(exc.errors))


async def endpoints(request: Request) -> Response:
    site = await site_or_404(request)
    hooks = services(request).webhooks
    if request.method == "POST":
        try:
            done = await hooks.create(site.key, await read_json(request, ENDPOINT_MAX_BYTES))
        except WebhookError as exc:
            raise invalid(exc) from None
        return JSONResponse(created_json(done), status_code=201)
    return JSONResponse({"endpoints": [e.public() for e in await hooks.endpoints(site.key)], "events": list(EVENTS)})


async def endpoint(request: Request) -> Response:
    site = await site_or_404(request)
    hooks, wid = services(request).webhooks, request.path_params["wid"]
    if request.method == "DELETE":
        if not await hooks.delete(site.key, wid):
            raise HTTPError(404, "no such webhook endpoint")
        return Response(status_code=204)
    if request.method == "PUT":
        try:
            found = await hooks.update(site.key, wid, await read_json(request, ENDPOINT_MAX_BYTES))
        except WebhookError as exc:
            raise invalid(exc) from None
    else:
        found = await hooks.endpoint(site.key, wid)
    if found is None:
        raise HTTPError(404, "no such webhook endpoint")
    return JSONResponse(found.public())


async def rotate(request: Request) -> Response:
    site = await site_or_404(request)
    done = await services(request).webhooks.rotate(site.key, request.path_params["wid"])
    if done is None:
        raise HTTPError(404, "no such webhook endpoint")
    return JSONResponse(created_json(done))


async def deliveries(request: Request) -> Response:
    site = await site_or_404(request)
    limit = parse_int(request.query_params.get("limit"), 100, 1, LOG_MAX, "limit")
    found = await services(request).webhooks.deliveries(site.key, limit)
    return JSONResponse({"deliveries": [a.as_json() for a in found]})


async def resend(request: Request) -> Response:
    site = await site_or_404(request)
    problem = await services(request).webhooks.resend(site.key, request.path_params["event"],
                                                      request.query_params.get("endpoint", ""))
    if problem:
        raise HTTPError(404, problem)
    return JSONResponse({"queued": True}, status_code=202)


routes = [
    Route("/v1/sites/{key}/webhooks", endpoints, methods=["GET", "POST"]),
    Route("/v1/sites/{key}/webhooks/deliveries", deliveries, methods=["GET"]),
    Route("/v1/sites/{key}/webhooks/deliveries/{event}/resend", resend, methods=["POST"]),
    Route("/v1/sites/{key}/webhooks/{wid}", endpoint, methods=["GET", "PUT", "DELETE"]),
    Route("/v1/sites/{key}/webhooks/{wid}/secret", rotate, methods=["POST"]),
]
