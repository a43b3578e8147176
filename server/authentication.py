"""Bearer tokens to Principals, as a Starlette AuthenticationBackend.

No header: anonymous. A header with a bad, expired or revoked token, or one whose account is no
longer active: 401 with a GraphQL-shaped UNAUTHENTICATED error (the reason is not told).
"""

from __future__ import annotations

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response

from auth.callers import Callers
from auth.principal import Principal
from auth.tokens import InvalidToken


class AuthenticatedPrincipal(BaseUser):
    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return f"{self.principal.kind}:{self.principal.subject_id}"

    @property
    def identity(self) -> str:
        return str(self.principal.subject_id)


class BearerTokenBackend(AuthenticationBackend):
    def __init__(self, callers: Callers) -> None:
        self.callers = callers

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        header = conn.headers.get("authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("invalid token")
        try:
            principal = await self.callers.principal(token.strip())
        except InvalidToken:
            raise AuthenticationError("invalid token") from None
        return AuthCredentials(sorted(principal.scopes)), AuthenticatedPrincipal(principal)


def unauthenticated(_conn: HTTPConnection, _exc: Exception) -> Response:
    return JSONResponse(
        {
            "data": None,
            "errors": [
                {
                    "message": "invalid or expired token",
                    "extensions": {"code": "UNAUTHENTICATED"},
                }
            ],
        },
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )
