"""Signed access tokens (JWT, HS256 via joserfc); every registered claim required and checked."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

ALGORITHM = "HS256"
USER_AUDIENCE = "channelbill-api"
PORTAL_AUDIENCE = "channelbill-portal"
LEEWAY_SECONDS = 10


class InvalidToken(Exception):
    """Any reason a token is refused; the reason is never shown to the caller."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: int
    jti: str


class TokenSigner:
    def __init__(self, secret: str, issuer: str) -> None:
        if len(secret.encode()) < 32:
            raise ValueError("the signing secret must be at least 32 bytes")
        self._key = OctKey.import_key(secret.encode())
        self.issuer = issuer

    def issue(self, subject: str, audience: str, ttl_seconds: int, **claims: Any) -> IssuedToken:
        now = int(time.time())
        jti = secrets.token_urlsafe(16)
        payload = {
            **claims,
            "iss": self.issuer,
            "aud": audience,
            "sub": subject,
            "iat": now,
            "exp": now + ttl_seconds,
            "jti": jti,
        }
        token = jwt.encode({"alg": ALGORITHM, "typ": "JWT"}, payload, self._key)
        return IssuedToken(token=token, expires_at=now + ttl_seconds, jti=jti)

    def verify(self, token: str, audience: str | list[str]) -> dict[str, Any]:
        """The claims of a valid token for (one of) ``audience``; InvalidToken otherwise."""
        audiences = [audience] if isinstance(audience, str) else audience
        try:
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
            if decoded.header.get("alg") != ALGORITHM:
                raise InvalidToken("algorithm")
            registry = jwt.JWTClaimsRegistry(
                leeway=LEEWAY_SECONDS,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "values": audiences},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
                jti={"essential": True},
            )
            registry.validate(decoded.claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidToken(str(exc)) from None
        claims = dict(decoded.claims)
        if not isinstance(claims.get("sub"), str) or claims["iat"] > time.time() + LEEWAY_SECONDS:
            raise InvalidToken("claims")
        if claims["aud"] not in audiences:  # one audience per token, never a list of them
            raise InvalidToken("audience")
        return claims
