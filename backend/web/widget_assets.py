"""Files browsers load from us besides the snippet's scripts.

``/v1/chat.css`` is the chat pop-up's stylesheet (``widget_templates/chat.css``, beside the
offer's): ``c.js`` fetches it from the host page's origin and adopts it as a constructable
stylesheet, so it is cacheable and open to every origin, like the scripts.

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

TEMPLATES = Path(__file__).resolve().parents[2] / "widget_templates"


class Asset:
    """One small file from memory, pre-gzipped, with an ETag; anyone may fetch it."""

    def __init__(self, path: Path, media_type: str) -> None:
        self.body = path.read_bytes()
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


routes = [
    Route("/v1/chat.css", Asset(TEMPLATES / "chat.css", "text/css; charset=utf-8").serve, methods=["GET", "HEAD"]),
]


class Revalidated(StaticFiles):
    """StaticFiles answering ``Cache-Control: no-cache``: cached, but checked (a 304) on each use."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response
