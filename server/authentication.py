"""Bearer tokens of POST and GET /graphql.

The header is checked and the token verified (signature, expiry, audience) as the request
arrives, with no database read; the caller is read once the body is in, just before the operation
runs (``GraphQLView.execute_operation``), so that a slow upload never holds a connection. No
header: anonymous. A bad, expired or revoked token, or one whose account is no longer active:
401 with a GraphQL-shaped UNAUTHENTICATED error (the reason is not told).
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response

from auth.callers import Callers
from auth.tokens import InvalidToken


class Unauthenticated(Exception):
    """The request's token names no caller that may call now: answered with ``unauthenticated``."""


def bearer_claims(headers: Headers, callers: Callers) -> dict[str, Any] | None:
    """The verified claims of the request's bearer token; None without an Authorization header;
    Unauthenticated for anything else (another scheme, no token, a token that does not verify)."""
    header = headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated
    try:
        return callers.verify(token.strip())
    except InvalidToken:
        raise Unauthenticated from None


def unauthenticated() -> Response:
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
