"""Who is calling: a verified access token turned into a Principal, read afresh on every request.

Role, billing access, account status, an API client's scopes and a portal token's revocation are
read from the database each time, so a grant or a revocation takes effect on the very next request.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.models import ApiClient
from auth.principal import Principal, PrincipalKind
from auth.repositories import ApiClientRepository, PortalTokenRepository, RefreshTokenRepository
from auth.tokens import PORTAL_AUDIENCE, USER_AUDIENCE, InvalidToken, TokenSigner
from core.clock import utcnow
from db.database import Database
from db.scope import PLATFORM_TENANT_ID, TenantScope
from tenants.models import AccountStatus, PlatformAdmin, Reseller, User, UserStatus
from tenants.repositories import UserRepository


class Callers:
    def __init__(self, db: Database, signer: TokenSigner) -> None:
        self.db = db
        self.signer = signer

    async def principal(self, token: str) -> Principal:
        """The caller behind a bearer token; InvalidToken for any reason (never told which)."""
        return await self.of_claims(self.verify(token))

    def verify(self, token: str) -> dict[str, Any]:
        """A bearer token's claims, once its signature, expiry and audience hold (no database
        read: that is ``of_claims``); InvalidToken otherwise."""
        claims = self.signer.verify(token, [USER_AUDIENCE, PORTAL_AUDIENCE])
        if (claims["aud"] == PORTAL_AUDIENCE) != str(claims["sub"]).startswith("portal:"):
            raise InvalidToken("subject")
        return claims

    async def of_claims(self, claims: dict[str, Any]) -> Principal:
        """The principal named by a verified token's claims (sub, rid, jti, scope), as it stands
        now in the database: an access token's, or a download link's."""
        return await self._read(claims, None)

    async def of_claims_keeping_read(
        self, claims: dict[str, Any]
    ) -> tuple[Principal, AsyncSession | None]:
        """``of_claims``, and the read session it used, still open, for the caller to read on
        and close: one transaction (one ``set_config``, one connection checkout) for the caller
        and the request's first read. None where the caller's read is not in a scope the
        request reads in (a portal token is read before its customer is known)."""
        kept: list[AsyncSession] = []
        try:
            principal = await self._read(claims, kept)
        except BaseException:
            for session in kept:
                await session.close()
            raise
        return principal, (kept[0] if kept else None)

    async def _first(
        self,
        scope: TenantScope,
        statement: Callable[[AsyncSession], Select[Any]],
        kept: list[AsyncSession] | None,
    ) -> Any:
        """The first row of ``statement``, read in ``scope``; the session is appended to
        ``kept`` and left open, when ``kept`` is given."""
        if kept is None:
            async with self.db.read(scope) as session:
                return (await session.execute(statement(session))).first()
        session = self.db.open_read(scope)
        kept.append(session)
        return (await session.execute(statement(session))).first()

    async def _read(self, claims: dict[str, Any], kept: list[AsyncSession] | None) -> Principal:
        kind, _, raw = str(claims["sub"]).partition(":")
        try:
            subject_id = uuid.UUID(raw)
            reseller_id = uuid.UUID(str(claims["rid"])) if "rid" in claims else None
        except ValueError:
            raise InvalidToken("subject") from None
        token_id = str(claims["jti"])
        principal: Principal
        if kind == "portal" and reseller_id is not None:
            principal = await self._portal(subject_id, reseller_id, token_id)
        elif kind == "admin" and reseller_id is None:
            principal = await self._admin(subject_id, _session_id(claims), token_id, kept)
        elif kind == "user" and reseller_id is not None:
            session_id = _session_id(claims)
            principal = await self._user(subject_id, reseller_id, session_id, token_id, kept)
        elif kind == "client" and reseller_id is not None:
            principal = await self._client(subject_id, reseller_id, claims, token_id, kept)
        else:
            raise InvalidToken("subject")
        return replace(principal, expires_at=int(claims["exp"]))

    async def _admin(
        self,
        admin_id: uuid.UUID,
        session_id: uuid.UUID,
        token_id: str,
        kept: list[AsyncSession] | None,
    ) -> Principal:
        signed_in = RefreshTokenRepository.is_open(PLATFORM_TENANT_ID, session_id)
        statement = select(PlatformAdmin, signed_in).where(PlatformAdmin.id == admin_id)
        row = await self._first(TenantScope.system(), lambda _session: statement, kept)
        if row is None or row[0].status is not UserStatus.ACTIVE or not row[1]:
            raise InvalidToken("account")
        admin = row[0]
        return principal_of(admin, token_id, session_id)

    async def _user(
        self,
        user_id: uuid.UUID,
        reseller_id: uuid.UUID,
        session_id: uuid.UUID,
        token_id: str,
        kept: list[AsyncSession] | None,
    ) -> Principal:
        scope = TenantScope.tenant(reseller_id)
        signed_in = RefreshTokenRepository.is_open(reseller_id, session_id)

        def statement(session: AsyncSession) -> Select[Any]:
            users = UserRepository(session, scope).select().where(User.id == user_id)
            return users.add_columns(signed_in, _deactivated(reseller_id))

        row = await self._first(scope, statement, kept)
        if row is None or row[0].status is not UserStatus.ACTIVE or not row[1]:
            raise InvalidToken("account")
        user = row[0]
        return replace(principal_of(user, token_id, session_id), deactivated=bool(row[2]))

    async def _client(
        self,
        client_id: uuid.UUID,
        reseller_id: uuid.UUID,
        claims: dict[str, Any],
        token_id: str,
        kept: list[AsyncSession] | None,
    ) -> Principal:
        scope = TenantScope.tenant(reseller_id)

        def statement(session: AsyncSession) -> Select[Any]:
            clients = ApiClientRepository(session, scope).select()
            return clients.where(ApiClient.id == client_id).add_columns(_deactivated(reseller_id))

        row = await self._first(scope, statement, kept)
        if row is None or row[0].revoked_at is not None:
            raise InvalidToken("client")
        client = row[0]
        granted = frozenset(str(claims.get("scope", "")).split())
        return Principal(
            PrincipalKind.API_CLIENT,
            client.id,
            reseller_id=reseller_id,
            # Scopes taken from the client since the token was issued are gone at once.
            scopes=granted & client.scope_set,
            token_id=token_id,
            name=client.name,
            deactivated=bool(row[1]),
        )

    async def _portal(
        self, portal_token_id: uuid.UUID, reseller_id: uuid.UUID, token_id: str
    ) -> Principal:
        scope = TenantScope.tenant(reseller_id)
        async with self.db.read(scope) as session:
            row = await PortalTokenRepository(session, scope).get(portal_token_id)
        if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
            raise InvalidToken("portal token")
        return Principal(
            PrincipalKind.PORTAL,
            row.id,
            reseller_id=reseller_id,
            customer_id=row.customer_id,
            token_id=token_id,
            name="customer portal",
        )


def _deactivated(reseller_id: uuid.UUID) -> Any:
    """Whether the caller's reseller is DEACTIVATED, read in the caller's own statement."""
    return (
        select(Reseller.status == AccountStatus.DEACTIVATED)
        .where(Reseller.id == reseller_id)
        .scalar_subquery()
    )


def _session_id(claims: dict[str, Any]) -> uuid.UUID:
    """The sign-in a user's or admin's token belongs to; a token without one is refused."""
    try:
        return uuid.UUID(str(claims["sid"]))
    except (KeyError, ValueError):
        raise InvalidToken("session") from None


def principal_of(
    account: User | PlatformAdmin,
    token_id: str | None = None,
    session_id: uuid.UUID | None = None,
) -> Principal:
    if isinstance(account, PlatformAdmin):
        return Principal(
            PrincipalKind.PLATFORM_ADMIN,
            account.id,
            token_id=token_id,
            name=account.email,
            session_id=session_id,
        )
    return Principal(
        PrincipalKind.USER,
        account.id,
        reseller_id=account.reseller_id,
        role=account.role,
        billing_access=account.has_billing_access,
        token_id=token_id,
        name=account.email,
        session_id=session_id,
    )
