"""The OAuth2 client-credentials grant (RFC 6749 §4.4), on authlib's authorization server.

authlib's server is synchronous and framework-neutral: the HTTP layer looks the client up first
(asynchronously) and hands this module a plain ``TokenRequest``; authlib then authenticates the
client (HTTP Basic or form credentials), checks the grant and the scopes, and we mint a short-lived
JWT carrying the client, its reseller and the granted scopes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import scope_to_list

from auth.clients import SCOPES, secret_matches
from auth.models import ApiClient
from auth.tokens import USER_AUDIENCE, TokenSigner

GRANT_TYPE = "client_credentials"


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """What the token endpoint received, framework-free."""

    method: str
    uri: str
    headers: Mapping[str, str]  # case-insensitive, as HTTP headers are
    form: dict[str, str]


@dataclass(frozen=True, slots=True)
class TokenResponse:
    status: int
    body: dict[str, Any]
    headers: list[tuple[str, str]] = field(default_factory=list)
    client: ApiClient | None = None  # set when a token was issued


class _Client(ClientMixin):
    def __init__(self, row: ApiClient) -> None:
        self.row = row

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = self.row.scope_set
        if not scope:
            return " ".join(s for s in SCOPES if s in allowed)
        return " ".join(s for s in scope_to_list(scope) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return secret_matches(self.row, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in _Grant.TOKEN_ENDPOINT_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == GRANT_TYPE


class _Grant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def validate_requested_scope(self) -> None:
        """A client may ask for fewer scopes than it holds, never for one it does not hold."""
        requested = scope_to_list(self.request.payload.scope) or []
        if not set(requested) <= self.client.row.scope_set:
            raise InvalidScopeError()


class _Request(OAuth2Request):
    def __init__(self, request: TokenRequest) -> None:
        super().__init__(method=request.method, uri=request.uri, headers=request.headers)
        self.payload = BasicOAuth2Payload(request.form)
        self._form = request.form

    @property
    def args(self) -> dict[str, str]:
        return {}

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _Server(AuthorizationServer):
    """One per request: it holds the one client that request may name."""

    def __init__(self, signer: TokenSigner, ttl_seconds: int, client: ApiClient | None) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self._client = client
        self._signer = signer
        self._ttl = ttl_seconds
        self.issued_to: ApiClient | None = None
        self.register_grant(_Grant)
        self.register_token_generator("default", self._generate)

    def query_client(self, client_id: str) -> _Client | None:
        if self._client is None or self._client.client_id != client_id:
            return None
        if self._client.revoked_at is not None:
            return None
        return _Client(self._client)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Access tokens are self-contained JWTs, checked against the client on every request;
        nothing to store."""
        self.issued_to = request.client.row

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def create_oauth2_request(self, request: TokenRequest) -> OAuth2Request:
        return _Request(request)

    def create_json_request(self, request: TokenRequest) -> OAuth2Request:
        raise NotImplementedError("the token endpoint takes form data")

    def handle_response(
        self, status: int, body: dict[str, Any], headers: list[tuple[str, str]]
    ) -> TokenResponse:
        return TokenResponse(status, body, list(headers))

    def _generate(
        self,
        grant_type: str,
        client: _Client,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = False,
    ) -> dict[str, Any]:
        granted = client.get_allowed_scope(scope)
        issued = self._signer.issue(
            f"client:{client.row.id}",
            USER_AUDIENCE,
            self._ttl,
            rid=str(client.row.reseller_id),
            scope=granted,
        )
        return {
            "access_token": issued.token,
            "token_type": "Bearer",
            "expires_in": self._ttl,
            "scope": granted,
        }


def issue_client_token(
    request: TokenRequest,
    client: ApiClient | None,
    signer: TokenSigner,
    ttl_seconds: int,
    *,
    allow_http: bool = False,
) -> TokenResponse:
    """Run the grant for ``request``; ``client`` is the row its client id names, if any."""
    if allow_http:
        # TLS ends at the proxy in front of us, or this is a development machine: authlib would
        # otherwise refuse a plain-http URI outside loopback.
        parts = urlsplit(request.uri)
        request = TokenRequest(
            request.method,
            urlunsplit(parts._replace(scheme="https")),
            request.headers,
            request.form,
        )
    server = _Server(signer, ttl_seconds, client)
    response: TokenResponse = server.create_token_response(request)
    if response.status == 200:
        return TokenResponse(response.status, response.body, response.headers, server.issued_to)
    return response
