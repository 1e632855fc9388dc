"""A site's records over the site API (``/v1/sites/KEY/records/KIND``, KIND one of customers,
staff, products; the site's key or the operator token, as the other site endpoints).

``POST .../KIND`` ``{"records": [...]}`` upserts at most 1,000 rows and ``POST .../KIND.csv`` a
CSV file (UTF-8, a byte-order mark allowed); both answer 200 with one result per row, so a bad
row is reported beside the good ones that were stored (JSON rows numbered by their index, CSV
rows as a spreadsheet shows them, the header being row 1). ``GET .../KIND`` pages through the
records (``?cursor=&limit=``) or exports them all (``?format=csv``); ``GET``/``DELETE
.../KIND/ID`` one record (a customer also by e-mail, a product by model)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from backend.core.records import KINDS
from backend.core.validation import is_text
from backend.domain.records import Busy, RecordsError, RowResult, results_summary
from backend.web.http import HTTPError, errors_json, parse_int, parse_json, read_body, services
from backend.web.site_api import site_or_404

MAX_ROWS = 1000  # per JSON call
JSON_MAX_BYTES = 2 * 1024 * 1024
CSV_MAX_BYTES = 4 * 1024 * 1024
CSV_TYPES = ("text/csv", "text/plain", "application/csv", "application/octet-stream", "")
BUSY = "an import of these records is running; delete again in a moment"


def _kind(request: Request) -> str:
    kind = request.path_params["kind"]
    if kind not in KINDS:
        raise HTTPError(404, "no such kind of record; known: " + ", ".join(KINDS))
    return kind


def _results(results: list[RowResult]) -> JSONResponse:
    return JSONResponse({"results": [r.as_json() for r in results], "counts": results_summary(results)})


async def collection(request: Request) -> Response:
    """POST: upsert rows; GET: a page of records, or all of them as CSV."""
    site = await site_or_404(request)
    kind = _kind(request)
    records = services(request).records
    if request.method == "POST":
        body = parse_json(await read_body(request, JSON_MAX_BYTES), decimals=True)
        if not isinstance(body, dict) or set(body) != {"records"} or not isinstance(body["records"], list):
            raise HTTPError(400, 'the body must be a JSON object {"records": [...]}')
        if len(body["records"]) > MAX_ROWS:
            raise HTTPError(413, f"at most {MAX_ROWS} records per call; send the rest in another")
        return _results(await records.upsert(site.key, kind, body["records"]))
    fmt = request.query_params.get("format", "json")
    if fmt == "csv":
        return StreamingResponse(records.export_csv(site.key, kind), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{kind}.csv"',
                                          "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})
    if fmt != "json":
        raise HTTPError(400, "'format' must be json or csv")
    cursor = request.query_params.get("cursor", "")
    if not is_text(cursor) or len(cursor) > 400:
        raise HTTPError(400, "'cursor' must be the cursor a previous page gave")
    page = await records.list(site.key, kind, cursor, parse_int(request.query_params.get("limit"), 100, 1, 1000,
                                                                  "limit"))
    return JSONResponse({"records": [r.as_json() for r in page.records], "cursor": page.cursor})


async def import_csv(request: Request) -> Response:
    site = await site_or_404(request)
    kind = _kind(request)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in CSV_TYPES:
        raise HTTPError(415, "send the file as text/csv")
    raw = await read_body(request, CSV_MAX_BYTES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPError(400, f"the file is not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                             "save it as CSV UTF-8") from None
    try:
        return _results(await services(request).records.import_csv(site.key, kind, text))
    except RecordsError as exc:
        raise HTTPError(400, "the file cannot be imported", errors=errors_json(exc.errors)) from None


async def detail(request: Request) -> Response:
    site = await site_or_404(request)
    kind = _kind(request)
    rid = request.path_params["rid"]
    records = services(request).records
    found = None
    if is_text(rid) and 0 < len(rid) <= 254:
        try:
            found = await (records.delete if request.method == "DELETE" else records.get)(site.key, kind, rid)
        except Busy:
            raise HTTPError(409, BUSY, headers={"Retry-After": "1"}) from None
    if found is None:
        raise HTTPError(404, "no such record")
    return JSONResponse(found.as_json())


routes = [
    Route("/v1/sites/{key}/records/{kind}.csv", import_csv, methods=["POST"]),
    Route("/v1/sites/{key}/records/{kind}", collection, methods=["GET", "POST"]),
    Route("/v1/sites/{key}/records/{kind}/{rid:path}", detail, methods=["GET", "DELETE"]),
]
