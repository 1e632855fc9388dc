"""Sales settings over the site API (``/v1/sites/KEY/sales-settings``, the site's key or the
operator token): the attribution window and the commission rates, merged field by field."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend.domain.sales import SalesSettingsError
from backend.web.http import HTTPError, errors_json, read_json, services
from backend.web.site_api import site_or_404

SETTINGS_MAX_BYTES = 64 * 1024  # 200 category rates fit many times over


async def sales_settings(request: Request) -> Response:
    site = await site_or_404(request)
    sales = services(request).sales
    if request.method == "PUT":
        try:
            found = await sales.set_settings(site.key, await read_json(request, SETTINGS_MAX_BYTES))
        except SalesSettingsError as exc:
            raise HTTPError(400, "the sales settings are not valid", errors=errors_json(exc.errors)) from None
        return JSONResponse(found.as_json())
    return JSONResponse((await sales.settings(site.key)).as_json())


routes = [
    Route("/v1/sites/{key}/sales-settings", sales_settings, methods=["GET", "PUT"]),
]
