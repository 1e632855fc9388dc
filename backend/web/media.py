"""What uploads and downloads of documents share, on the site API and in the console: the
body read in chunks up to the size limit, the upload's refusals as HTTP errors, and a
download that a browser saves and never renders or runs as a page of ours."""

from __future__ import annotations

from typing import AsyncIterator

from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse

from backend.domain.materials import MaterialError, Opened, Refused, TooLarge
from backend.web.http import HTTPError, errors_json

DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def declared_size(request: Request, limit: int) -> None:
    """413 before reading when the declared body is over the limit."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise HTTPError(400, "Content-Length is not a number")
        if int(declared) > limit:
            raise HTTPError(413, f"the file is too large: at most {limit} bytes")


async def body_chunks(request: Request) -> AsyncIterator[bytes]:
    """The request body as it arrives (the domain counts it against the limit)."""
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        raise HTTPError(400, "the request body was cut off") from None


def upload_error(exc: TooLarge | Refused | MaterialError) -> HTTPError:
    if isinstance(exc, TooLarge):
        return HTTPError(413, f"the file is too large: at most {exc.limit} bytes")
    status = 415 if isinstance(exc, Refused) else 400
    return HTTPError(status, "the file is not accepted" if status == 415 else "the material is not valid",
                     errors=errors_json(exc.errors))


def download(opened: Opened) -> FileResponse:
    """The file with the type sniffed at upload, saved by the browser under its safe name."""
    return FileResponse(opened.path, media_type=opened.document.content_type, filename=opened.document.filename,
                        content_disposition_type="attachment", headers=DOWNLOAD_HEADERS)
