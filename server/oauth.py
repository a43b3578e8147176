"""POST /oauth/token: API clients trade their credentials for a short-lived access token."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.util import extract_basic_authorization
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from auth.models import ApiClient
from auth.oauth import TokenRequest, issue_client_token
from auth.repositories import ApiClientRepository
from auth.throttle import CLIENT
from core.clock import utcnow
from core.validation import unstorable
from db.scope import TenantScope
from limits.errors import RateLimited
from schema.context import Services
from server.settings import Settings

FORM = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=NO_STORE
    )


def _refused(refused: RateLimited) -> JSONResponse:
    """429 with Retry-After: failed attempts of this client id or address are backing off."""
    return JSONResponse(
        {"error": "rate_limited", "error_description": str(refused), "code": refused.code},
        status_code=429,
        headers={**NO_STORE, "Retry-After": str(refused.retry_after)},
    )


class TokenEndpoint:
    def __init__(self, services: Services, settings: Settings) -> None:
        self.services = services
        self.settings = settings

    async def handle(self, request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != FORM:
            return _error(400, "invalid_request", f"send the parameters as {FORM}")
        async with request.form(max_files=0, max_fields=10) as form:
            fields = {key: str(value) for key, value in form.items()}
        try:
            basic_id, _ = extract_basic_authorization(request.headers)
        except UnicodeDecodeError:
            return _error(401, "invalid_client", "the credentials are not UTF-8")
        presented = basic_id or fields.get("client_id")
        throttle = self.services.throttle
        address = request.client.host if request.client else None
        try:
            # Counted before the secret is compared; a token issued forgives it.
            admission = await throttle.admit(CLIENT, presented or "", address)
        except RateLimited as refused:
            return _refused(refused)
        client = await self._client(presented)
        token_request = TokenRequest("POST", str(request.url), request.headers, fields)
        result = issue_client_token(
            token_request,
            client,
            self.services.signer,
            self.settings.access_token_ttl_seconds,
            allow_http=self.settings.oauth_allow_http,
        )
        await throttle.settle(admission, succeeded=result.client is not None)
        if result.client is not None:
            await self._touch(result.client)
        return JSONResponse(result.body, status_code=result.status, headers=dict(result.headers))

    async def _client(self, client_id: str | None) -> ApiClient | None:
        """The row the presented client id names: the id alone tells which tenant it is in."""
        if not client_id or len(client_id) > 64 or unstorable(client_id):
            return None
        system = TenantScope.system()
        async with self.services.db.read(system) as session:
            return await ApiClientRepository(session, system).by_client_id(client_id)

    async def _touch(self, client: ApiClient) -> None:
        scope = TenantScope.tenant(client.reseller_id)
        async with self.services.db.write(scope) as session:
            row: Any = await ApiClientRepository(session, scope).get(client.id)
            if row is not None:
                row.last_used_at = utcnow()
