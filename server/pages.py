"""The server's own pages: the front page at ``/`` (what this is, where things are) and the
activation page at ``/activate`` that invitation links open, with their stylesheet and script.

Server-rendered from Jinja2 templates (autoescaped) under ``server/pages/``; no inline script or
style, so the pages run under ``default-src 'self'``.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response

from server.demo import PLATFORM_ADMIN, RESELLERS
from server.settings import DEMO, Settings

HERE = Path(__file__).resolve().parent / "pages"
POLICY = (
    "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none';"
    " object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
# Only these files are served from the folder: the templates stay private.
ASSETS = {"pages.css": "text/css", "activate.js": "text/javascript"}


def _demo_users() -> list[tuple[str, str]]:
    users = [(PLATFORM_ADMIN, "platform admin")]
    for spec in RESELLERS:
        for local, who in (
            ("owner", "OWNER, with billing access"),
            ("admin", "ADMIN, without billing access"),
            ("member", "MEMBER"),
        ):
            users.append((f"{local}@{spec['domain']}", f"{spec['name']} {who}"))
    return users


class Pages:
    """The pages of one app, rendered with its settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.templates = Environment(
            loader=FileSystemLoader(HERE),
            autoescape=select_autoescape(default=True),
            auto_reload=False,
        )

    def _page(self, name: str, **context: object) -> HTMLResponse:
        html = self.templates.get_template(name).render(
            platform_name=self.settings.platform_name, **context
        )
        return HTMLResponse(html, headers=HEADERS)

    async def front(self, _request: Request) -> Response:
        demo = None
        if self.settings.seed_demo:
            # The password is shown only while it is the documented one: a changed demo
            # password is a secret of whoever changed it.
            shown = self.settings.demo_password if self.settings.demo_password == DEMO else None
            demo = {"users": _demo_users(), "password": shown}
        return self._page(
            "index.html",
            demo=demo,
            example_email="owner@acme.example" if demo else "you@example.com",
            example_password=(demo and demo["password"]) or "your password",
        )

    async def activate(self, _request: Request) -> Response:
        response = self._page("activate.html")
        response.headers["Cache-Control"] = "no-store"
        return response

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        media_type = ASSETS.get(name)
        if media_type is None:
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(
            HERE / name,
            media_type=media_type,
            headers={**HEADERS, "Cache-Control": "max-age=3600"},
        )
