"""The stack's ceiling for scripts/bench/collector.py: Starlette on uvicorn, an endpoint that
reads the body and answers 204, nothing else (no validation, no Redis).

    uvicorn scripts.bench.bare_app:create_app --factory
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def events(request: Request) -> Response:
    await request.body()
    return Response(status_code=204)


async def health(request: Request) -> Response:
    return Response(b'{"ok":true}', media_type="application/json")


def create_app() -> Starlette:
    return Starlette(routes=[Route("/v1/events", events, methods=["POST"]), Route("/healthz", health)])
