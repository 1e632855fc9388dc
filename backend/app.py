"""The web application: collector, snippet and its modules, site API, offers, push, chat, console."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
from pathlib import Path
from types import SimpleNamespace
from typing import AsyncIterator

import redis.exceptions
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend import store
from backend.web import console, site_api as api
from backend.domain.chat import Chats
from backend.web import offers as offer_routes
from backend.domain.offers import Broker, Ticker
from backend.domain.push import Hub
from backend.domain.reps import Reps
from backend.web.collector import Collector
from backend.config import Settings
from backend.web.http import HTTPError
from backend.web import widget_assets
from backend.domain.sites import Sites
from backend.store.scripts import Scripts

ROOT = Path(__file__).resolve().parent.parent
SNIPPET_DIR = ROOT / "snippet"


class StaticScript:
    """Serves one JavaScript file from memory, pre-gzipped, with an ETag: the snippet is
    fetched by every page view of every site, so it must cost next to nothing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.body = path.read_bytes() if path.exists() else b"/* missing */"
        self.gz = gzip.compress(self.body, 9)
        self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'

    async def serve(self, request: Request) -> Response:
        headers = {
            "Cache-Control": "public, max-age=300",
            "ETag": self.etag,
            "Access-Control-Allow-Origin": "*",
            "Vary": "Accept-Encoding",
        }
        if request.headers.get("if-none-match") == self.etag:
            return Response(status_code=304, headers=headers)
        body = self.body
        if "gzip" in request.headers.get("accept-encoding", ""):
            body = self.gz
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type="application/javascript; charset=utf-8", headers=headers)


async def health(request: Request) -> Response:
    await request.app.state.redis.ping()
    return JSONResponse({"ok": True})


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPError)
    return exc.response()


async def starlette_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def storage_down(request: Request, exc: Exception) -> Response:
    return JSONResponse(
        {"error": "storage is unavailable; retry shortly"}, status_code=503, headers={"Retry-After": "5"}
    )


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    state = SimpleNamespace(settings=settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.redis = store.connect(settings)
        state.sites = Sites(state.redis, settings)
        state.reps = Reps(state.redis)
        state.scripts = Scripts(state.redis)
        state.hub = Hub(state.redis)
        state.broker = Broker(state.redis, state.scripts, state.hub.publish, state.sites.offer_settings)
        state.ticker = Ticker(state.broker, state.redis, cooldown_for)
        state.chats = Chats(state.redis, state.scripts, state.hub, state.reps, settings.visitor_ttl_s)
        for name, value in vars(state).items():
            setattr(app.state, name, value)
        state.hub.start()
        state.ticker.start()
        try:
            yield
        finally:
            await state.ticker.stop()
            await state.hub.stop()
            await state.redis.aclose()

    async def cooldown_for(site: str) -> float:
        cfg = await state.sites.offer_settings(site)
        return cfg.cooldown_s if cfg else 0.0

    collector = Collector(state)
    script = StaticScript(SNIPPET_DIR / "b.js")
    offer_module = StaticScript(SNIPPET_DIR / "o.js")
    routes = []
    # The collector first: routes are matched in order and it takes nearly all requests.
    for path in {"/v1/events", settings.collect_path}:
        routes.append(Route(path, collector.ingest, methods=["POST"]))
        routes.append(Route(path, collector.preflight, methods=["OPTIONS"]))
    routes += [
        Route("/healthz", health),
        Route("/o.js", offer_module.serve, methods=["GET", "HEAD"]),
        Route("/c.js", StaticScript(SNIPPET_DIR / "c.js").serve, methods=["GET", "HEAD"]),
        *widget_assets.routes,
        *api.routes,
        *offer_routes.routes,
        console.mount(settings),
    ]
    for path in {"/b.js", settings.script_path}:
        routes.append(Route(path, script.serve, methods=["GET", "HEAD"]))
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            HTTPError: http_error,
            HTTPException: starlette_error,
            redis.exceptions.ConnectionError: storage_down,
            redis.exceptions.TimeoutError: storage_down,
        },
    )
    app.state.settings = settings
    return app
