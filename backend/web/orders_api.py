"""Orders over HTTP.

``POST /v1/sites/KEY/orders`` comes from the shop's server and is authenticated by its
signature alone (Standard Webhooks headers ``webhook-id``, ``webhook-timestamp``,
``webhook-signature``, under the site's order secret), not by an API key: a shop's order
system can hold one signing secret without holding a key that opens the whole site API.
Answers: 201 stored; 200 with ``"duplicate": true`` when the order id was stored before (a
retry is safe and succeeds); a replayed webhook-id gets its first answer again; 401 for a
signature that is missing, wrong or signed more than 5 minutes away from now; 400 listing every
bad field.

With the site's API key (or the operator token): ``GET .../orders?from=&to=&limit=``,
``GET .../orders/ORDER_ID``, and ``GET/POST .../order-secret`` (read; rotate).
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.core.orders import ORDER_ID_RE, parse_order, signature_problem
from backend.core.protocol import ID_RE
from backend.domain.orders import DeliveryConflict, OrderError, Recorded
from backend.web.http import HTTPError, errors_json, parse_int, parse_json, read_body, services
from backend.web.site_api import site_or_404

ORDER_MAX_BYTES = 128 * 1024  # 200 items of long names fit
LATEST_MS = 10 ** 14  # "to" by default: any time at all


def recorded_json(done: Recorded) -> dict[str, object]:
    return {"stored": done.stored, "duplicate": not done.stored, "order": done.order.as_json()}


async def post_order(request: Request) -> Response:
    svc = services(request)
    key = request.path_params["key"]
    body = await read_body(request, ORDER_MAX_BYTES)
    secret = await svc.orders.current_secret(key) if ID_RE.fullmatch(key) else ""
    msg_id = request.headers.get("webhook-id", "")
    problem = signature_problem(secret, msg_id, request.headers.get("webhook-timestamp", ""),
                                request.headers.get("webhook-signature", ""), body, time.time())
    if problem:
        raise HTTPError(401, problem)
    order, errors = parse_order(parse_json(body, decimals=True), "server", int(time.time() * 1000))
    if order is None:
        raise HTTPError(400, "the order is not valid", errors=errors_json(errors))
    try:
        done = await svc.orders.deliver(key, msg_id, body, order)
    except OrderError as exc:
        raise HTTPError(400, "the order is not valid", errors=errors_json(exc.errors)) from None
    except DeliveryConflict:
        raise HTTPError(409, "this webhook-id came before with another body: give each delivery its own id "
                             "(a retry of the same delivery keeps its id and body)") from None
    return JSONResponse(recorded_json(done), status_code=201 if done.stored else 200)


async def list_orders(request: Request) -> Response:
    site = await site_or_404(request)
    q = request.query_params
    from_ms = parse_int(q.get("from"), 0, 0, LATEST_MS, "from")
    to_ms = parse_int(q.get("to"), LATEST_MS, 0, LATEST_MS, "to")
    limit = parse_int(q.get("limit"), 100, 1, 1000, "limit")
    found = await services(request).orders.list(site.key, from_ms, to_ms, limit)
    return JSONResponse({"orders": [o.as_json() for o in found]})


async def order_detail(request: Request) -> Response:
    site = await site_or_404(request)
    order_id = request.path_params["order_id"]
    found = await services(request).orders.get(site.key, order_id) if ORDER_ID_RE.fullmatch(order_id) else None
    if found is None:
        raise HTTPError(404, "no such order (or it is older than the order retention)")
    return JSONResponse(found.as_json())


async def order_secret(request: Request) -> Response:
    """GET: the secret (made on first read); POST: a new one, the old one refused at once."""
    site = await site_or_404(request)
    orders = services(request).orders
    secret = await orders.rotate_secret(site.key) if request.method == "POST" else await orders.secret(site.key)
    return JSONResponse({"secret": secret})


routes = [
    Route("/v1/sites/{key}/orders", post_order, methods=["POST"]),
    Route("/v1/sites/{key}/orders", list_orders, methods=["GET"]),
    Route("/v1/sites/{key}/orders/{order_id:path}", order_detail, methods=["GET"]),
    Route("/v1/sites/{key}/order-secret", order_secret, methods=["GET", "POST"]),
]
