"""All SQL about credentials: refresh tokens, invitation links, API clients, portal tokens.

Secrets are looked up by their SHA-256 digest: each is random and long, so a slow hash would add
nothing, and the digest can be indexed.
"""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from auth.models import ActivationToken, ApiClient, PortalToken, RefreshToken
from core.clock import utcnow
from tenants.repositories import ScopedRepository


def digest(secret: str) -> str:
    return hashlib.sha256((secret or "").encode()).hexdigest()


class RefreshTokenRepository:
    """Refresh tokens name their account ("user:<id>", "admin:<id>") and carry its tenant (the
    platform's for an admin). Sign-in code finds a presented token by its hash, in the system
    scope; each request asks whether its sign-in is still open, in the caller's scope."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def is_open(tenant: uuid.UUID, family_id: uuid.UUID) -> ColumnElement[bool]:
        """Whether the sign-in exists and none of its tokens was revoked (a reuse, a disabled
        account): one revoked token closes the whole family. An expression, so the caller's
        row and this come back in one statement."""
        family = (RefreshToken.reseller_id == tenant, RefreshToken.family_id == family_id)
        revoked = select(RefreshToken.id).where(*family, RefreshToken.revoked_at.is_not(None))
        return and_(select(RefreshToken.id).where(*family).exists(), ~revoked.exists())

    async def by_secret(self, secret: str, *, for_update: bool = False) -> RefreshToken | None:
        statement = select(RefreshToken).where(RefreshToken.token_hash == digest(secret))
        if for_update:
            statement = statement.with_for_update()
        return await self.session.scalar(statement)

    async def revoke_family(self, family_id: uuid.UUID, *, tenant: uuid.UUID | None = None) -> None:
        if tenant is None:
            await self._revoke(RefreshToken.family_id == family_id)
        else:
            await self._revoke(
                and_(RefreshToken.reseller_id == tenant, RefreshToken.family_id == family_id)
            )

    async def revoke_subject(self, subject: str) -> None:
        await self._revoke(RefreshToken.subject == subject)

    async def _revoke(self, condition: object) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(condition)  # type: ignore[arg-type]
            .where(RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


class ActivationTokenRepository(ScopedRepository[ActivationToken]):
    model = ActivationToken

    async def by_secret_for_update(self, secret: str) -> ActivationToken | None:
        return await self.session.scalar(
            self.select().where(ActivationToken.token_hash == digest(secret)).with_for_update()
        )

    async def spend_all_of(self, reseller_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """Every open link of the user stops working (a new one replaces them)."""
        await self.session.execute(
            update(ActivationToken)
            .where(ActivationToken.reseller_id == reseller_id)
            .where(ActivationToken.user_id == user_id)
            .where(ActivationToken.used_at.is_(None))
            .values(used_at=utcnow())
        )


class ApiClientRepository(ScopedRepository[ApiClient]):
    model = ApiClient

    async def by_client_id(self, client_id: str) -> ApiClient | None:
        """By the public client id, for the token endpoint: there the session runs in the
        system scope, since the client id is what names the tenant."""
        return await self.session.scalar(self.select().where(ApiClient.client_id == client_id))


class PortalTokenRepository(ScopedRepository[PortalToken]):
    model = PortalToken
