"""Files browsers load from us besides the snippet's scripts.

``Revalidated`` serves the console's static files so a browser revalidates each one (by its
ETag) before using it: the console is ES modules that import each other by plain URL,
without the ``?v=`` version the templates add, and a browser must never run a stale mix.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.staticfiles import StaticFiles


class Revalidated(StaticFiles):
    """StaticFiles answering ``Cache-Control: no-cache``: cached, but checked (a 304) on each use."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response
