"""``GET /v1/d/SITE/MID/EXP/SIG``: a customer downloads a document a representative sent in a
chat, on the collector's origin and without a login; the signed link is the permission
(core/download_links.py). Anything but a good link to the material's current file is 404
with one message (nobody learns which part was wrong); a good link whose week is over, 410."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from backend.domain.materials import LinkExpired
from backend.web.http import HTTPError, services
from backend.web.media import download

NOT_VALID = "this download link is not valid; ask the representative to send the document again"
EXPIRED = "this download link has expired; ask the representative to send the document again"


async def customer_download(request: Request) -> Response:
    p, svc = request.path_params, services(request)
    try:
        opened = await svc.materials.open_link(p["site"], p["mid"], p["exp"], p["sig"],
                                               secret=svc.settings.secret_key)
    except LinkExpired:
        raise HTTPError(410, EXPIRED) from None
    if opened is None:
        raise HTTPError(404, NOT_VALID)
    return download(opened)


routes = [Route("/v1/d/{site}/{mid}/{exp}/{sig}", customer_download, methods=["GET"])]
