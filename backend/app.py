"""The web application: collector, snippet and its modules, site API, offers, push, chat, console."""

from __future__ import annotations

import contextlib
import socket
from typing import AsyncIterator

import redis.exceptions
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.websockets import WebSocket

from backend.config import Settings
from backend.domain.services import Services
from backend.web import (
    accreditation_api, collector, console, downloads, enterprise_api, material_report_api, materials_api, offer_ui,
    orders_api, page_socket, reports_api, sales_api, site_api, widget_assets,
)
from backend.web import contact_ui, leads_api, records_api
from backend.web import webhooks_api
from backend.web.http import HTTPError, services
from backend.web.load_gate import GateLimits, LoadGate
from backend.web.logs import quiet_client_mistakes


# Names the host that answered /healthz: behind a balancer, which of them took the request.
HOST_NAME = socket.gethostname()


async def health(request: Request) -> Response:
    """200 only while this worker can both reach Redis and deliver live: its push reader is
    subscribed (after an outage it is not until it has subscribed again)."""
    svc = services(request)
    await svc.redis.ping()
    if not svc.hub.delivering:
        return JSONResponse({"error": "live delivery is reconnecting to Redis"}, status_code=503,
                            headers={"Retry-After": "5"})
    # host: this machine and the port it listens on (several hosts may share a machine);
    # connections: live ones held by this worker, what a host takes with it when it dies
    port = (request.scope.get("server") or ("", 0))[1]
    return JSONResponse({"ok": True, "host": f"{HOST_NAME}:{port}", "connections": svc.hub.connections})


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPError)
    return exc.response()


async def starlette_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def storage_down(request: Request | WebSocket, exc: Exception) -> Response | None:
    if isinstance(request, WebSocket):  # a live connection: "try again later"; it reconnects
        with contextlib.suppress(Exception):
            await request.close(code=1013, reason="storage is unavailable; retry shortly")
        return None
    return JSONResponse(
        {"error": "storage is unavailable; retry shortly"}, status_code=503, headers={"Retry-After": "5"}
    )


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    quiet_client_mistakes()

    gate = LoadGate(GateLimits(settings.collector_max_inflight, settings.collector_max_lag_ms))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Built here, on the worker's own event loop, which the Redis pool binds to.
        services = Services.build(settings)
        app.state.services = services
        app.state.gate = gate
        await services.open()
        services.start()
        gate.start()
        try:
            yield
        finally:
            await gate.stop()
            await services.stop()

    routes = []
    # The collector first: routes are matched in order and it takes nearly all requests.
    for path in {"/v1/events", settings.collect_path}:
        routes.append(Route(path, collector.ingest, methods=["POST"]))
        routes.append(Route(path, collector.preflight, methods=["OPTIONS"]))
    routes += [
        Route("/healthz", health),
        *widget_assets.routes(settings),
        *page_socket.routes,
        *offer_ui.routes,
        *contact_ui.routes,
        *site_api.routes,
        *orders_api.routes,
        *accreditation_api.routes,
        *materials_api.routes,
        *records_api.routes,
        *webhooks_api.routes,
        *leads_api.routes,
        *downloads.routes,
        *enterprise_api.routes,
        *sales_api.routes,
        *reports_api.routes,
        *material_report_api.routes,
        console.mount(settings),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            HTTPError: http_error,
            HTTPException: starlette_error,
            redis.exceptions.ConnectionError: storage_down,
            redis.exceptions.TimeoutError: storage_down,
        },
    )
