"""User: type and the users connection of the caller's reseller."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from auth.accounts import INVALID_TOKEN
from auth.principal import Principal
from auth.throttle import ACTIVATE
from db.scope import TenantScope
from limits.errors import RateLimited
from schema.context import Info
from schema.enums import described_enum
from schema.errors import Payload, user_errors
from schema.mutations import INPUT, respond, transact
from schema.permissions import CanGrantBillingAccess, CanManageUsers, CanReadTenant
from schema.relay import (
    After,
    Before,
    Connection,
    First,
    Last,
    Node,
    decode_id,
    page_request,
    resolve_connection,
    to_global_id,
)
from schema.resellers import Reseller
from tenants import models
from tenants.repositories import UserRepository

Role = described_enum(
    models.Role,
    description="What a reseller's user may do.",
    values={
        models.Role.OWNER: "Everything, and always has billing access.",
        models.Role.ADMIN: "Manages customers, subscriptions, users and settings; billing only"
        " with billing access. Platform admins show as ADMIN too.",
        models.Role.MEMBER: "Reads customers, catalog and users; billing only with billing access.",
    },
)
UserStatus = described_enum(
    models.UserStatus,
    description="INVITED until the invitation is accepted; DISABLED to lock out.",
    values={
        models.UserStatus.INVITED: "Invited; cannot sign in until the invitation is accepted.",
        models.UserStatus.ACTIVE: "May sign in.",
        models.UserStatus.DISABLED: "Locked out by an OWNER or ADMIN.",
    },
)


@strawberry.type(description="A person who signs in: a reseller's user, or a platform admin.")
class User(Node):
    email: str = strawberry.field(description="Sign-in and contact address.")
    name: str = strawberry.field(description="Full name.")
    role: Role = strawberry.field(description="ADMIN for platform admins.")
    billing_access: bool = strawberry.field(
        description="May see invoices, balances, prices and payment data (always for the OWNER)."
    )
    status: UserStatus = strawberry.field(description="Only ACTIVE users can sign in.")
    is_platform_admin: bool = strawberry.field(description="Staff of the platform.")
    created_at: datetime = strawberry.field(description="When the account was made.")
    reseller_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field(
        permission_classes=[CanReadTenant],
        description="The reseller this user works for; null for platform admins.",
    )
    async def reseller(self, info: Info) -> Reseller | None:
        if self.reseller_id is None:
            return None
        row = await info.context.loaders.reseller_by_id.load(self.reseller_id)
        return Reseller.from_model(row) if row else None

    @classmethod
    def from_model(cls, row: models.User | models.PlatformAdmin) -> User:
        if isinstance(row, models.PlatformAdmin):
            return cls(
                id=strawberry.ID(to_global_id("PlatformAdmin", row.id)),
                email=row.email,
                name=row.name,
                role=models.Role.ADMIN,
                billing_access=True,
                status=row.status,
                is_platform_admin=True,
                created_at=row.created_at,
                reseller_id=None,
            )
        return cls(
            id=strawberry.ID(to_global_id("User", row.id)),
            email=row.email,
            name=row.name,
            role=row.role,
            billing_access=row.has_billing_access,
            status=row.status,
            is_platform_admin=False,
            created_at=row.created_at,
            reseller_id=row.reseller_id,
        )


@strawberry.type(description="A page of users.")
class UserConnection(Connection[User]):
    pass


@strawberry.type
class UserQueries:
    @strawberry.field(
        permission_classes=[CanReadTenant],
        description="The users of the caller's reseller (every reseller's for platform admins).",
    )
    async def users(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> UserConnection:
        return await resolve_connection(
            info,
            UserConnection,
            UserRepository,
            page_request(first, after, last, before),
            User.from_model,
        )


@strawberry.input(description="Someone to invite to your reseller.")
class InviteUserInput:
    email: str = strawberry.field(description="Where the invitation goes; their sign-in.")
    name: str = strawberry.field(description="Full name.")
    role: Role = strawberry.field(description="ADMIN or MEMBER (a reseller has one OWNER).")
    reseller_id: strawberry.ID | None = strawberry.field(
        default=None, description="Platform admins name the reseller; others omit it."
    )


@strawberry.input(description="A user, by id.")
class UserIdInput:
    user_id: strawberry.ID = strawberry.field(description="The user.")


@strawberry.input(description="An invitation link's token and the password to set.")
class ActivateUserInput:
    token: str = strawberry.field(description="The token from the invitation link.")
    password: str = strawberry.field(
        description="At least 12 characters, and not the email address."
    )


@strawberry.input(description="Grant or revoke billing access.")
class SetBillingAccessInput:
    user_id: strawberry.ID = strawberry.field(description="An ACTIVE user of your reseller.")
    enabled: bool = strawberry.field(description="true grants, false revokes.")


@strawberry.type(description="A user as saved, or why nothing changed.")
class UserPayload(Payload):
    user: User | None = strawberry.field(
        default=None, description="The user as saved; null when there are errors."
    )


@strawberry.type(description="Result of inviteUser.")
class InviteUserPayload(UserPayload):
    pass


@strawberry.type(description="Result of resendInvitation.")
class ResendInvitationPayload(UserPayload):
    pass


@strawberry.type(description="Result of activateUser.")
class ActivateUserPayload(UserPayload):
    pass


@strawberry.type(description="Result of disableUser.")
class DisableUserPayload(UserPayload):
    pass


@strawberry.type(description="Result of enableUser.")
class EnableUserPayload(UserPayload):
    pass


@strawberry.type(description="Result of setBillingAccess.")
class SetBillingAccessPayload(UserPayload):
    pass


P = TypeVar("P", bound=UserPayload)


async def _change_user(
    info: Info,
    payload: type[P],
    user_id: strawberry.ID,
    change: Callable[[AsyncSession, Principal, TenantScope, uuid.UUID], Awaitable[models.User]],
) -> P:
    """Load the user by id in the caller's tenant (another tenant's: NOT_FOUND), change them."""
    principal, scope = info.context.caller, info.context.scope

    async def act(session: AsyncSession) -> models.User:
        return await change(session, principal, scope, decode_id(user_id, "User", field="userId"))

    return await respond(info, payload, act, lambda value: payload(user=User.from_model(value)))


@strawberry.type
class UserMutations:
    @strawberry.mutation(
        permission_classes=[CanManageUsers],
        description="Invite someone by email: they are INVITED until they open the link.",
    )
    async def invite_user(
        self, info: Info, input: Annotated[InviteUserInput, INPUT]
    ) -> InviteUserPayload:
        principal, scope = info.context.caller, info.context.scope
        accounts = info.context.services.accounts

        async def invite(session: AsyncSession) -> models.User:
            reseller_id = None
            if input.reseller_id is not None:
                reseller_id = decode_id(input.reseller_id, "Reseller", field="resellerId")
            return await accounts.invite_user(
                session, principal, scope, input.email, input.name, input.role, reseller_id
            )

        return await respond(
            info,
            InviteUserPayload,
            invite,
            lambda value: InviteUserPayload(user=User.from_model(value)),
        )

    @strawberry.mutation(
        permission_classes=[CanManageUsers],
        description="Send an INVITED user a new link; earlier links stop working.",
    )
    async def resend_invitation(
        self, info: Info, input: Annotated[UserIdInput, INPUT]
    ) -> ResendInvitationPayload:
        accounts = info.context.services.accounts
        return await _change_user(
            info, ResendInvitationPayload, input.user_id, accounts.resend_invitation
        )

    @strawberry.mutation(
        description="Accept an invitation: set a password; the account becomes ACTIVE."
    )
    async def activate_user(
        self, info: Info, input: Annotated[ActivateUserInput, INPUT]
    ) -> ActivateUserPayload:
        accounts = info.context.services.accounts
        throttle = info.context.services.throttle
        try:
            admission = await throttle.admit(ACTIVATE, None, info.context.client_address)
        except RateLimited as refused:
            return ActivateUserPayload(errors=user_errors(refused))

        async def activate(session: AsyncSession) -> models.User:
            return await accounts.activate_user(session, input.token, input.password)

        done = await transact(info, activate, scope=TenantScope.system())
        # Only a link that does not work is a guess; a weak password came with a good one.
        guessed = any(error.code == INVALID_TOKEN for error in done.errors)
        await throttle.settle(admission, succeeded=not guessed)
        if done.value is None:
            return ActivateUserPayload(errors=done.errors)
        return ActivateUserPayload(user=User.from_model(done.value))

    @strawberry.mutation(
        permission_classes=[CanManageUsers],
        description="Lock a user out at once (their sessions end); the OWNER cannot be.",
    )
    async def disable_user(
        self, info: Info, input: Annotated[UserIdInput, INPUT]
    ) -> DisableUserPayload:
        accounts = info.context.services.accounts
        return await _change_user(info, DisableUserPayload, input.user_id, accounts.disable_user)

    @strawberry.mutation(
        permission_classes=[CanManageUsers], description="Let a disabled user back in."
    )
    async def enable_user(
        self, info: Info, input: Annotated[UserIdInput, INPUT]
    ) -> EnableUserPayload:
        accounts = info.context.services.accounts
        return await _change_user(info, EnableUserPayload, input.user_id, accounts.enable_user)

    @strawberry.mutation(
        permission_classes=[CanGrantBillingAccess],
        description=(
            "Grant or revoke billing access (only a user who has it may); effective on the"
            " user's very next request. The OWNER always keeps it."
        ),
    )
    async def set_billing_access(
        self, info: Info, input: Annotated[SetBillingAccessInput, INPUT]
    ) -> SetBillingAccessPayload:
        accounts = info.context.services.accounts

        async def change(
            session: AsyncSession, principal: Principal, scope: TenantScope, user_id: uuid.UUID
        ) -> models.User:
            return await accounts.set_billing_access(
                session, principal, scope, user_id, input.enabled
            )

        return await _change_user(info, SetBillingAccessPayload, input.user_id, change)
