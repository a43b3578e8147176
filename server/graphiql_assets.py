"""GraphiQL's files, served by the server itself from what the set-up installed from npm."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

HERE = Path(__file__).resolve().parent / "graphiql"

# Only these files are served: the rest of node_modules stays private.
ASSETS: dict[str, tuple[str, str]] = {
    "react.js": ("node_modules/react/umd/react.production.min.js", "text/javascript"),
    "react-dom.js": ("node_modules/react-dom/umd/react-dom.production.min.js", "text/javascript"),
    "graphiql.js": ("node_modules/graphiql/graphiql.min.js", "text/javascript"),
    "graphiql.css": ("node_modules/graphiql/graphiql.min.css", "text/css"),
    "init.js": ("init.js", "text/javascript"),
    "page.css": ("page.css", "text/css"),
}


async def graphiql_asset(request: Request) -> Response:
    entry = ASSETS.get(request.path_params["name"])
    if entry is None:
        return PlainTextResponse("not found", status_code=404)
    relative, media_type = entry
    path = HERE / relative
    if not path.is_file():
        return PlainTextResponse(
            "GraphiQL is not installed: run scripts/serve (or npm ci in server/graphiql).",
            status_code=503,
        )
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "max-age=3600"})
