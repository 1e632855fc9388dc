"""What every route shares: the services, bounded body reads, JSON errors, CORS headers."""

from __future__ import annotations

from typing import Any

from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import JSONResponse, Response

from backend.core import strict_json
from backend.domain.services import Services


def services(conn: HTTPConnection) -> Services:
    """The worker's services (built in the app's lifespan)."""
    found: Services = conn.app.state.services
    return found


def cors_headers(origin: str) -> dict[str, str]:
    """For answers to a site's pages, once the origin was checked against the site."""
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": "Retry-After",
        "Vary": "Origin",
    }


def errors_json(errors: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"field": path, "message": message} for path, message in errors]


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
    large or endless body never sits in memory. A client that goes away mid-body gets a 400
    nobody reads, and nothing in the log: that is the client's business, not an error here."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):  # "²".isdigit() is true, int("²") raises
            raise HTTPError(400, "Content-Length is not a number")
        if int(declared) > limit:
            raise HTTPError(413, f"body too large: at most {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPError(413, f"body too large: at most {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise HTTPError(400, "the request body was cut off") from None
    return b"".join(chunks)


def parse_json(body: bytes | str, what: str = "the body", decimals: bool = False) -> Any:
    """The one JSON decoder for request bodies, socket frames and the rule-set editor
    (core/strict_json.py); HTTPError 400 saying what was wrong when it is not JSON we accept.
    ``decimals``: fractions as ``Decimal`` (money)."""
    try:
        return strict_json.loads(body, decimals)
    except strict_json.JSONInputError as exc:
        raise HTTPError(400, f"{what} is not valid JSON: {exc}") from None


async def read_json(request: Request, limit: int = 256 * 1024) -> Any:
    return parse_json(await read_body(request, limit))


async def read_object(request: Request, limit: int = 256 * 1024) -> dict[str, Any]:
    data = await read_json(request, limit)
    if not isinstance(data, dict):
        raise HTTPError(400, "the body must be a JSON object")
    return data


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
