"""Signing in: login, refresh-token rotation, and turning a verified access token into a Principal.

Turning a presented token back into a caller is ``auth.callers``.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from auth.models import RefreshToken
from auth.passwords import hash_password_off_loop, needs_rehash, verify_password_off_loop
from auth.repositories import RefreshTokenRepository, digest
from auth.tokens import USER_AUDIENCE, TokenSigner
from core.clock import utcnow
from core.errors import DomainError, ErrorCode
from core.ids import new_id
from db.scope import PLATFORM_TENANT_ID, TenantScope
from tenants.audit import Actor, record
from tenants.models import PlatformAdmin, User, UserStatus
from tenants.repositories import PlatformAdminRepository, ResellerRepository, UserRepository

INVALID_CREDENTIALS = "invalid email or password"
TOKEN_REUSED = ErrorCode.TOKEN_REUSED
RESELLER_REQUIRED = ErrorCode.RESELLER_REQUIRED


class LoginFailed(DomainError):
    code = ErrorCode.INVALID_CREDENTIALS


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    access_ttl_seconds: int = 15 * 60
    refresh_ttl_seconds: int = 30 * 24 * 3600


@dataclass(frozen=True, slots=True)
class SignedIn:
    account: User | PlatformAdmin
    access_token: str
    refresh_token: str
    expires_at: int
    session_id: uuid.UUID  # the refresh-token family: the sign-in its tokens belong to


def login_name(email: str | None) -> str:
    """The sign-in address as accounts are looked up (and sign-ins are limited) by it."""
    return (email or "").strip().lower()


def _subject(account: User | PlatformAdmin) -> str:
    return f"admin:{account.id}" if isinstance(account, PlatformAdmin) else f"user:{account.id}"


class Authenticator:
    def __init__(self, signer: TokenSigner, policy: TokenPolicy | None = None) -> None:
        self.signer = signer
        self.policy = policy or TokenPolicy()

    async def check_password(
        self, session: AsyncSession, email: str, password: str, reseller: str | None = None
    ) -> User | PlatformAdmin:
        """Whose credentials these are, or LoginFailed. Argon2 takes tens of milliseconds on
        purpose: ``session`` should be a read in the system scope (the tenant is not known
        before the user is), so that no write lock, on SQLite the whole database's, waits on it.

        An address is unique per reseller, so it may name accounts at several resellers (and a
        platform admin): the password decides which. When it opens more than one, ``reseller``
        (a slug) chooses; a platform admin's account is the one a bare sign-in opens."""
        accounts = await self._accounts_of(session, login_name(email), reseller)
        opened: list[User | PlatformAdmin] = []
        for account in accounts or [None]:
            password_hash = account.password_hash if account is not None else None
            if not await verify_password_off_loop(password_hash, password or ""):
                continue
            if account is not None and account.status is UserStatus.ACTIVE:
                opened.append(account)
        if not opened:
            raise LoginFailed(INVALID_CREDENTIALS)
        admins = [a for a in opened if isinstance(a, PlatformAdmin)]
        if len(opened) > 1 and not admins:
            raise LoginFailed(
                "this email and password sign in at several resellers: give reseller (its slug)",
                field="reseller",
                code=RESELLER_REQUIRED,
            )
        return admins[0] if admins else opened[0]

    async def sign_in(
        self, session: AsyncSession, account: User | PlatformAdmin, password: str
    ) -> SignedIn:
        """After check_password, in a write transaction: the account as it is now must still be
        ACTIVE with the password that was checked."""
        current = await self._account(session, _subject(account))
        if (
            current is None
            or current.status is not UserStatus.ACTIVE
            or current.password_hash != account.password_hash
        ):
            raise LoginFailed(INVALID_CREDENTIALS)
        if current.password_hash and needs_rehash(current.password_hash):
            current.password_hash = await hash_password_off_loop(password)
        return await self._sign_in(session, current, family_id=new_id())

    async def login(
        self, session: AsyncSession, email: str, password: str, reseller: str | None = None
    ) -> SignedIn:
        """Both steps in one session, where holding it meanwhile does not matter."""
        account = await self.check_password(session, email, password, reseller)
        return await self.sign_in(session, account, password)

    async def _accounts_of(
        self, session: AsyncSession, address: str, reseller: str | None
    ) -> list[User | PlatformAdmin]:
        users = await UserRepository(session, TenantScope.system()).by_email(address)
        if reseller is not None:
            slug = reseller.strip().lower()
            found = await ResellerRepository(session, TenantScope.system()).by_slug(slug)
            return [u for u in users if found is not None and u.reseller_id == found.id]
        admin = await PlatformAdminRepository(session).by_email(address)
        return [*([admin] if admin else []), *users]

    async def refresh(self, session: AsyncSession, refresh_token: str) -> SignedIn:
        """Rotate: the presented token is spent; presenting a spent one revokes its whole family."""
        now = utcnow()
        stored = await RefreshTokenRepository(session).by_secret(refresh_token, for_update=True)
        if stored is None or stored.revoked_at is not None or stored.expires_at <= now:
            raise LoginFailed("invalid or expired refresh token")
        if stored.used_at is not None:
            # The caller must revoke the family in a transaction of its own (``revoke_family``):
            # this one rolls back with the error.
            raise LoginFailed("invalid or expired refresh token", code=TOKEN_REUSED)
        stored.used_at = now
        account = await self._account(session, stored.subject)
        if account is None or account.status is not UserStatus.ACTIVE:
            raise LoginFailed("invalid or expired refresh token")
        return await self._sign_in(session, account, family_id=stored.family_id)

    async def revoke_family(self, session: AsyncSession, refresh_token: str) -> None:
        """A spent token came back: someone holds a copy, so every token of its family dies,
        and the audit log of the account's reseller says so."""
        tokens = RefreshTokenRepository(session)
        stored = await tokens.by_secret(refresh_token)
        if stored is None:
            return
        await tokens.revoke_family(stored.family_id)
        account = await self._account(session, stored.subject)
        record(
            session,
            Actor.system(),
            "session.refresh_token_reused",
            "PlatformAdmin" if isinstance(account, PlatformAdmin) else "User",
            account.id if account else None,
            account.reseller_id if isinstance(account, User) else None,
            family=str(stored.family_id),
        )

    async def _sign_in(
        self, session: AsyncSession, account: User | PlatformAdmin, family_id: uuid.UUID
    ) -> SignedIn:
        subject = _subject(account)
        reseller_id = account.reseller_id if isinstance(account, User) else None
        claims = {"rid": str(reseller_id)} if reseller_id else {}
        access = self.signer.issue(
            subject,
            USER_AUDIENCE,
            self.policy.access_ttl_seconds,
            sid=str(family_id),
            **claims,
        )
        refresh = secrets.token_urlsafe(32)
        session.add(
            RefreshToken(
                reseller_id=reseller_id or PLATFORM_TENANT_ID,
                token_hash=digest(refresh),
                family_id=family_id,
                subject=subject,
                expires_at=utcnow() + timedelta(seconds=self.policy.refresh_ttl_seconds),
            )
        )
        await session.flush()
        return SignedIn(account, access.token, refresh, access.expires_at, family_id)

    async def _account(self, session: AsyncSession, subject: str) -> User | PlatformAdmin | None:
        kind, _, raw = subject.partition(":")
        try:
            account_id = uuid.UUID(raw)
        except ValueError:
            return None
        if kind == "admin":
            return await PlatformAdminRepository(session).get(account_id)
        if kind == "user":
            return await UserRepository(session, TenantScope.system()).get(account_id)
        return None
