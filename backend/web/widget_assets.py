"""What pages load from us: the snippet (``b.js``, fetched by every page view of every site,
so served from memory, pre-gzipped, with an ETag), its lazy modules ``o.js``, ``c.js`` and
``f.js`` (the contact form), and ``/v1/chat.css``, the chat pop-up's stylesheet
(``widget_templates/chat.css``, beside the offer's), which ``c.js`` adopts as a constructable
stylesheet. All cacheable and open to every origin.

``Revalidated`` serves the console's static files so a browser revalidates each one (by its
ETag) before using it: the console is ES modules that import each other by plain URL,
without the ``?v=`` version the templates add, and a browser must never run a stale mix.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.staticfiles import StaticFiles

from backend.config import Settings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "widget_templates"
SNIPPET = ROOT / "snippet"
JS = "application/javascript; charset=utf-8"


class Asset:
    """One small file from memory, pre-gzipped, with an ETag; anyone may fetch it."""

    def __init__(self, path: Path, media_type: str) -> None:
        self.body = path.read_bytes() if path.exists() else b"/* missing */"
        self.gz = gzip.compress(self.body, 9)
        self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'
        self.media_type = media_type

    async def serve(self, request: Request) -> Response:
        headers = {"Cache-Control": "public, max-age=300", "ETag": self.etag,
                   "Access-Control-Allow-Origin": "*", "Vary": "Accept-Encoding"}
        if request.headers.get("if-none-match") == self.etag:
            return Response(status_code=304, headers=headers)
        body = self.body
        if "gzip" in request.headers.get("accept-encoding", ""):
            body = self.gz
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=self.media_type, headers=headers)


def routes(settings: Settings) -> list[Route]:
    """The snippet also under the site owner's own path (BECKON_SCRIPT_PATH), which
    ad-blockers' lists of well-known paths do not know."""
    get = ["GET", "HEAD"]
    script = Asset(SNIPPET / "b.js", JS)
    return [
        *(Route(path, script.serve, methods=get) for path in sorted({"/b.js", settings.script_path})),
        Route("/o.js", Asset(SNIPPET / "o.js", JS).serve, methods=get),
        Route("/c.js", Asset(SNIPPET / "c.js", JS).serve, methods=get),
        Route("/f.js", Asset(SNIPPET / "f.js", JS).serve, methods=get),
        Route("/v1/chat.css", Asset(TEMPLATES / "chat.css", "text/css; charset=utf-8").serve, methods=get),
    ]


class Revalidated(StaticFiles):
    """StaticFiles answering ``Cache-Control: no-cache``: cached, but checked (a 304) on each use."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response
