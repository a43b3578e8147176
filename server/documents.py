"""GET /documents/{token}: the file behind a signed download link.

Any reason a link does not open (expired, altered, another tenant's document, a caller who has
since lost billing access) answers the same bare 404: a link reveals nothing about what exists.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from auth.callers import Callers
from auth.permissions import has_billing_access
from auth.principal import Principal, PrincipalKind
from auth.tokens import InvalidToken
from documents.formats import DocumentFormat
from documents.links import DocumentLinks, OpenedLink, StatementTarget
from documents.service import Documents
from tenants.scope import scope_for

# The print view embeds everything it shows; it may load nothing and run no script.
PRINT_VIEW_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _not_found() -> Response:
    return PlainTextResponse("Not Found", status_code=404)


def _may_open(principal: Principal, link: OpenedLink) -> bool:
    if not has_billing_access(principal):
        return False
    # A reseller's own statement with the platform is never a customer portal's business.
    target = link.target
    reseller_own = isinstance(target, StatementTarget) and target.owner_type == "Reseller"
    return not (reseller_own and principal.kind is PrincipalKind.PORTAL)


class DocumentDownloads:
    def __init__(self, callers: Callers, links: DocumentLinks, documents: Documents) -> None:
        self.callers = callers
        self.links = links
        self.documents = documents

    async def handle(self, request: Request) -> Response:
        try:
            link = self.links.open(request.path_params["token"])
            principal = await self.callers.of_claims(link.claims)
        except InvalidToken:
            return _not_found()
        if not _may_open(principal, link):
            return _not_found()
        found = await self.documents.file(
            scope_for(principal), link.target, link.tenant, link.format
        )
        if found is None:
            return _not_found()
        inline = link.format is DocumentFormat.HTML
        disposition = "inline" if inline else "attachment"
        headers = {
            "Content-Disposition": (
                f'{disposition}; filename="{_ascii(found.filename)}";'
                f" filename*=UTF-8''{quote(found.filename)}"
            ),
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }
        if inline:
            headers["Content-Security-Policy"] = PRINT_VIEW_POLICY
        return Response(found.body, media_type=found.content_type, headers=headers)


def _ascii(filename: str) -> str:
    return "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
