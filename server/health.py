"""GET /healthz: the process is up. GET /readyz: the database answers and is migrated to head."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from db.migrate import current_revision, head_revision


async def healthz(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    db = request.app.state.services.db
    try:
        revision = await current_revision(db)
    except Exception:  # any failure to reach the database means "not ready"
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    if revision != head_revision():
        return JSONResponse({"status": "unavailable", "database": "not migrated"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok", "revision": revision})
