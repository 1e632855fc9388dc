"""Request and response helpers shared by every route: bounded body reads and JSON errors."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class HTTPError(Exception):
    """Raised anywhere in a handler; rendered as ``{"error": message, ...}`` with a 4xx."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra

    def response(self, headers: dict[str, str] | None = None) -> Response:
        return JSONResponse(
            {"error": self.message, **self.extra}, status_code=self.status, headers={**self.headers, **(headers or {})}
        )


async def read_body(request: Request, limit: int) -> bytes:
    """Read at most ``limit`` bytes, refusing early on a declared or actual overflow so a
    large or endless body never sits in memory."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise HTTPError(400, "Content-Length is not a number")
        if int(declared) > limit:
            raise HTTPError(413, f"body too large: at most {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPError(413, f"body too large: at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int = 256 * 1024) -> Any:
    body = await read_body(request, limit)
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPError(400, f"the body is not valid JSON: {exc}") from None


def parse_int(raw: str | None, default: int, low: int, high: int, name: str) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HTTPError(400, f"'{name}' must be a whole number") from None
    if not low <= value <= high:
        raise HTTPError(400, f"'{name}' must be from {low} to {high}")
    return value
