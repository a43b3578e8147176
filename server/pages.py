"""The server's own pages: the front page at ``/`` (what this is, where things are), the
activation page at ``/activate`` that invitation links open, the card page at ``/billing/card``
that the payment-failed and deactivation emails link to, and the customer portal at ``/portal``
that a reseller's portal links open, with their stylesheets and scripts.

Server-rendered from Jinja2 templates (autoescaped) under ``server/pages/``; no inline script or
style, so the pages run under ``default-src 'self'``. The card page alone also allows the
gateway's origins: Stripe.js is loaded from Stripe (as Stripe requires, never self-hosted), and
the card number goes from its fields to Stripe, never to us.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response

from payments.sandbox import CARDS
from server.demo import PLATFORM_ADMIN, RESELLERS
from server.settings import DEMO, STRIPE_JS_URL, Settings

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
# The customer portal shows a customer's invoices: nothing but our own script, stylesheet and
# API, and images of our own or inline (the seller's logo arrives as a data: URI).
PORTAL_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
    " img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# What Stripe.js and Elements need, as Stripe documents it: the script, its frames (the card
# fields, the 3-D Secure challenge) and its API.
STRIPE_ORIGINS = {
    "script-src": "https://js.stripe.com https://*.js.stripe.com",
    "frame-src": "https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com",
    "connect-src": "https://api.stripe.com",
}
# Only these files are served from the folder: the templates stay private.
ASSETS = {
    "pages.css": "text/css",
    "activate.js": "text/javascript",
    "card.js": "text/javascript",
    "portal.css": "text/css",
    "portal.js": "text/javascript",
}


def card_policy(settings: Settings) -> str:
    """The card page's CSP: our own origin, plus the gateway's when it is Stripe: Stripe's own
    origins, or only the origin of STRIPE_JS_URL when that names a Stripe of our own (tests)."""
    if settings.payment_gateway != "stripe":
        return POLICY
    if settings.stripe_js_url == STRIPE_JS_URL:
        extra = STRIPE_ORIGINS
    else:
        parts = urlsplit(settings.stripe_js_url)
        origin = f"{parts.scheme}://{parts.netloc}"
        extra = dict.fromkeys(STRIPE_ORIGINS, origin)
    allowed = " ".join(f"{directive} 'self' {origins};" for directive, origins in extra.items())
    return f"{POLICY}; {allowed.rstrip(';')}"


def _sandbox_cards() -> list[dict[str, str]]:
    """The sandbox's test tokens, as the card page lists them: what each does."""
    cards = []
    for token, card in CARDS.items():
        if card.refused is not None:
            does = f"refused when saved: {card.refused[0]}"
        elif card.declined is not None:
            does = f"saved, then every charge is declined: {card.declined[0]}"
        else:
            does = "saved, and every charge succeeds"
        cards.append({"token": token, "brand": card.brand, "last4": card.last4, "does": does})
    return cards


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

    async def card(self, _request: Request) -> Response:
        stripe = self.settings.payment_gateway == "stripe"
        response = self._page(
            "card.html",
            stripe_js_url=self.settings.stripe_js_url if stripe else None,
            sandbox_cards=None if stripe else _sandbox_cards(),
        )
        response.headers["Content-Security-Policy"] = card_policy(self.settings)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def portal(self, _request: Request) -> Response:
        """The page a portal link opens; its script reads the token from the fragment."""
        response = self._page("portal.html")
        response.headers["Content-Security-Policy"] = PORTAL_POLICY
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
