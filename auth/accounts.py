"""People's accounts: invitations and activation, disabling, and who holds billing access.

Every change here is recorded in the audit log and, where someone must hear of it, queued in the
outbox, all in the caller's transaction: the change, its audit entry and its email commit together
or not at all.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auth.models import ActivationToken
from auth.passwords import check_password_policy, hash_password_off_loop
from auth.permissions import has_billing_access
from auth.principal import Principal
from auth.repositories import ActivationTokenRepository, RefreshTokenRepository, digest
from core.clock import utcnow
from core.errors import ErrorCode, Forbidden, NotFound, ValidationFailed
from core.ids import new_id
from core.validation import normalize_email, required_text
from db.database import Database
from db.scope import TenantScope
from notifications.branding import branding_of
from notifications.emails import Composer
from notifications.models import NotificationEvent
from notifications.outbox import enqueue
from tenants import services
from tenants.audit import Actor, record
from tenants.models import Reseller, Role, User, UserStatus
from tenants.repositories import ResellerRepository, UserRepository

INVALID_ACTIVATION = "this activation link is invalid, used or expired"
INVALID_TOKEN = ErrorCode.INVALID_TOKEN


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    activation_url: str
    invitation_ttl: timedelta = timedelta(days=7)


def _taken(field: str) -> ValidationFailed:
    return ValidationFailed("email is already in use", field=field, code=ErrorCode.TAKEN)


class Accounts:
    def __init__(self, db: Database, composer: Composer, policy: AccountPolicy) -> None:
        self.db = db
        self.composer = composer
        self.policy = policy

    async def create_reseller(
        self, session: AsyncSession, actor: Actor, data: services.NewReseller
    ) -> tuple[Reseller, User]:
        """A new tenant, its OWNER invited by email."""
        with _unique("owner.email"):
            reseller, owner = await services.create_reseller(session, data)
        record(session, actor, "reseller.created", "Reseller", reseller.id, reseller.id)
        await self._invite(session, actor, reseller, owner)
        return reseller, owner

    async def invite_user(
        self,
        session: AsyncSession,
        principal: Principal,
        scope: TenantScope,
        email: str,
        name: str,
        role: Role,
        reseller_id: uuid.UUID | None = None,
    ) -> User:
        reseller_id = reseller_id or scope.reseller_id
        if reseller_id is None:
            raise ValidationFailed("name the reseller to invite to", field="resellerId")
        reseller = await ResellerRepository(session, scope).get(reseller_id)
        if reseller is None:
            raise NotFound("reseller", field="resellerId")
        problems = []
        try:
            address = normalize_email(email)
        except ValidationFailed as error:
            problems += error.problems
        try:
            full_name = required_text(name, field="name")
        except ValidationFailed as error:
            problems += error.problems
        role = Role(role)  # the API may hand over the bare value
        if role is Role.OWNER:
            problems += ValidationFailed(
                "a reseller has one OWNER; invite an ADMIN or a MEMBER", field="role"
            ).problems
        if problems:
            raise ValidationFailed.many(problems)
        if await UserRepository(session, scope).email_taken(reseller.id, address):
            raise _taken("email")
        user = User(
            reseller_id=reseller.id,
            id=new_id(),
            email=address,
            name=full_name,
            role=role,
            billing_access=False,
            status=UserStatus.INVITED,
        )
        UserRepository(session, scope).add(user)
        with _unique("email"):
            await session.flush()
        await self._invite(session, principal.actor, reseller, user)
        return user

    async def resend_invitation(
        self, session: AsyncSession, principal: Principal, scope: TenantScope, user_id: uuid.UUID
    ) -> User:
        user = await self._user(session, scope, user_id)
        if user.status is not UserStatus.INVITED:
            raise ValidationFailed(
                "only an INVITED user can be sent an invitation",
                field="userId",
                code=ErrorCode.NOT_INVITED,
            )
        reseller = await ResellerRepository(session, scope).get(user.reseller_id)
        assert reseller is not None
        await self._invite(session, principal.actor, reseller, user, action="user.reinvited")
        return user

    async def activate_user(self, session: AsyncSession, token: str, password: str) -> User:
        """Spend an invitation link: the user sets a password and becomes ACTIVE.

        ``session`` runs in the system scope: the link is all that names the tenant.
        """
        now = utcnow()
        system = TenantScope.system()
        link = await ActivationTokenRepository(session, system).by_secret_for_update(token)
        if link is None or link.used_at is not None or link.expires_at <= now:
            raise ValidationFailed(INVALID_ACTIVATION, field="token", code=INVALID_TOKEN)
        user = await UserRepository(session, system).get(link.user_id)
        if user is None or user.status is not UserStatus.INVITED:
            raise ValidationFailed(INVALID_ACTIVATION, field="token", code=INVALID_TOKEN)
        check_password_policy(password or "", user.email)
        user.password_hash = await hash_password_off_loop(password)
        user.status = UserStatus.ACTIVE
        link.used_at = now
        actor = Actor("USER", user.id, user.email)
        record(session, actor, "user.activated", "User", user.id, user.reseller_id)
        await session.flush()
        return user

    async def disable_user(
        self, session: AsyncSession, principal: Principal, scope: TenantScope, user_id: uuid.UUID
    ) -> User:
        user = await self._user(session, scope, user_id)
        if user.role is Role.OWNER:
            raise ValidationFailed(
                "the OWNER cannot be disabled",
                field="userId",
                code=ErrorCode.OWNER_CANNOT_BE_DISABLED,
            )
        if user.id == principal.subject_id:
            raise ValidationFailed(
                "you cannot disable yourself", field="userId", code=ErrorCode.CANNOT_DISABLE_SELF
            )
        if user.status is not UserStatus.DISABLED:
            user.status = UserStatus.DISABLED
            # Whoever lets them back in may not hold billing access to give: it is not restored.
            revoked_billing = user.billing_access
            user.billing_access = False
            # Sessions already handed out die too: no refresh token of theirs works any more.
            await RefreshTokenRepository(session).revoke_subject(f"user:{user.id}")
            record(
                session,
                principal.actor,
                "user.disabled",
                "User",
                user.id,
                user.reseller_id,
                billingAccessRevoked=revoked_billing or None,
            )
        await session.flush()
        return user

    async def enable_user(
        self, session: AsyncSession, principal: Principal, scope: TenantScope, user_id: uuid.UUID
    ) -> User:
        """Undo disableUser: back to ACTIVE, or to INVITED if they never set a password."""
        user = await self._user(session, scope, user_id)
        if user.status is UserStatus.DISABLED:
            user.status = UserStatus.ACTIVE if user.password_hash else UserStatus.INVITED
            record(session, principal.actor, "user.enabled", "User", user.id, user.reseller_id)
        await session.flush()
        return user

    async def set_billing_access(
        self,
        session: AsyncSession,
        principal: Principal,
        scope: TenantScope,
        user_id: uuid.UUID,
        enabled: bool,
    ) -> User:
        """Only someone who has billing access grants or revokes it; it is granted only to an
        ACTIVE user of the same reseller (revoked from anyone); the OWNER never loses it."""
        if not (principal.is_user or principal.is_platform_admin) or not has_billing_access(
            principal
        ):
            raise Forbidden(
                "only a user with billing access can grant or revoke it",
                code=ErrorCode.BILLING_ACCESS_REQUIRED,
            )
        user = await self._user(session, scope, user_id)
        if user.role is Role.OWNER and not enabled:
            raise ValidationFailed(
                "the OWNER always has billing access",
                field="enabled",
                code=ErrorCode.OWNER_KEEPS_BILLING_ACCESS,
            )
        if enabled and user.status is not UserStatus.ACTIVE:
            raise ValidationFailed(
                "billing access can only be given to an ACTIVE user",
                field="userId",
                code=ErrorCode.USER_NOT_ACTIVE,
            )
        if user.billing_access != enabled:
            user.billing_access = enabled
            action = "user.billing_access_granted" if enabled else "user.billing_access_revoked"
            record(session, principal.actor, action, "User", user.id, user.reseller_id)
        await session.flush()
        return user

    async def _user(self, session: AsyncSession, scope: TenantScope, user_id: uuid.UUID) -> User:
        user = await UserRepository(session, scope).get(user_id)
        if user is None:
            raise NotFound("user", field="userId")
        return user

    async def _invite(
        self,
        session: AsyncSession,
        actor: Actor,
        reseller: Reseller,
        user: User,
        action: str = "user.invited",
    ) -> None:
        """A fresh one-time link (earlier ones stop working), emailed through the outbox."""
        now = utcnow()
        await ActivationTokenRepository(session, TenantScope.system()).spend_all_of(
            user.reseller_id, user.id
        )
        token = secrets.token_urlsafe(32)
        expires_at = now + self.policy.invitation_ttl
        session.add(
            ActivationToken(
                reseller_id=user.reseller_id,
                id=new_id(),
                user_id=user.id,
                token_hash=digest(token),
                expires_at=expires_at,
            )
        )
        # From the platform to a user of a reseller: the platform's branding. Sent whatever
        # events the platform turned off: the link in it is the only way into the account.
        brand = await branding_of(session, None, self.composer.platform_name)
        # The token rides in the fragment: a browser never sends it to a server, so it stays out
        # of access logs and Referer headers; the activation page's script reads it.
        message = self.composer.invitation(
            user.email,
            brand,
            name=user.name,
            organisation=reseller.name,
            link=f"{self.policy.activation_url}#token={token}",
            expires_at=expires_at,
            invited_by=actor.name if actor.kind != "SYSTEM" else None,
        )
        enqueue(
            session,
            message,
            event=NotificationEvent.INVITATION,
            reseller_id=user.reseller_id,
            about_type="User",
            about_id=user.id,
        )
        record(session, actor, action, "User", user.id, user.reseller_id, role=str(user.role))
        await session.flush()


@contextmanager
def _unique(field: str) -> Iterator[None]:
    """Two invitations of one address at once: the unique index decides, and the loser gets
    TAKEN, not an internal error."""
    try:
        yield
    except IntegrityError as error:
        if "email" not in str(error.orig):
            raise
        raise _taken(field) from None
