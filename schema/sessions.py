"""login and refreshToken."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from auth.callers import principal_of
from auth.repositories import RefreshTokenRepository
from auth.sessions import RESELLER_REQUIRED, TOKEN_REUSED, LoginFailed, SignedIn, login_name
from auth.throttle import LOGIN
from core.errors import ErrorCode
from db.scope import PLATFORM_TENANT_ID, TenantScope
from limits.errors import RateLimited
from schema.context import Info
from schema.errors import Payload, UserError, user_errors
from schema.mutations import INPUT, transact
from schema.permissions import IsAuthenticated
from schema.users import User


@strawberry.type(description="Result of logout.")
class LogoutPayload(Payload):
    signed_out: bool = strawberry.field(
        default=False, description="Whether the sign-in was ended (it is refused from now on)."
    )


@strawberry.input(description="Credentials of a user or platform admin.")
class LoginInput:
    email: str = strawberry.field(description="The sign-in address.")
    password: str = strawberry.field(description="The password.")
    reseller: str | None = strawberry.field(
        default=None,
        description=(
            "The slug of the reseller to sign in at, needed only when the address and password"
            " open accounts at several resellers (the answer is then RESELLER_REQUIRED)."
        ),
    )


@strawberry.input(description="A refresh token to trade.")
class RefreshTokenInput:
    refresh_token: str = strawberry.field(description="The refresh token of the last sign-in.")


@strawberry.type(description="A signed-in session: a short-lived access token and a refresh token.")
class LoginPayload:
    access_token: str | None = strawberry.field(
        default=None, description="Bearer token for the Authorization header (15 minutes)."
    )
    refresh_token: str | None = strawberry.field(
        default=None, description="Trade it for new tokens with refreshToken; single use."
    )
    expires_at: datetime | None = strawberry.field(
        default=None, description="When the access token expires."
    )
    user: User | None = strawberry.field(default=None, description="Who signed in.")
    errors: list[UserError] = strawberry.field(
        default_factory=list,
        description=(
            "INVALID_CREDENTIALS, RESELLER_REQUIRED, RATE_LIMITED or TOKEN_REUSED; empty on"
            " success."
        ),
    )
    retry_after_seconds: int | None = strawberry.field(
        default=None,
        description="With RATE_LIMITED: seconds to wait before the next sign-in may be tried.",
    )

    @classmethod
    def of(cls, signed_in: SignedIn | None, errors: list[UserError]) -> LoginPayload:
        if signed_in is None:
            return cls(errors=errors)
        return cls(
            access_token=signed_in.access_token,
            refresh_token=signed_in.refresh_token,
            expires_at=datetime.fromtimestamp(signed_in.expires_at, UTC),
            user=User.from_model(signed_in.account),
        )


@strawberry.type
class SessionMutations:
    @strawberry.mutation(
        description=(
            "Sign in with email and password. Failed sign-ins back off (per account, per"
            " address, and both): RATE_LIMITED says how long to wait."
        )
    )
    async def login(self, info: Info, input: Annotated[LoginInput, INPUT]) -> LoginPayload:
        authenticator = info.context.services.authenticator
        throttle = info.context.services.throttle
        try:
            # Counted before the password is checked: Argon2's cost is no lever either.
            admission = await throttle.admit(
                LOGIN, login_name(input.email), info.context.client_address
            )
        except RateLimited as refused:
            errors = user_errors(refused)
            return LoginPayload(errors=errors, retry_after_seconds=refused.retry_after)

        system = TenantScope.system()
        try:
            async with info.context.db.read(system) as session:
                account = await authenticator.check_password(
                    session, input.email, input.password, input.reseller
                )
        except LoginFailed as failed:
            # The right password for several resellers' accounts is no guess.
            right = failed.problems[0].code == RESELLER_REQUIRED
            await throttle.settle(admission, succeeded=right)
            return LoginPayload.of(None, user_errors(failed))

        async def sign_in(session: AsyncSession) -> SignedIn:
            return await authenticator.sign_in(session, account, input.password)

        done = await transact(info, sign_in, scope=system)
        await throttle.settle(admission, succeeded=done.value is not None)
        if done.value is not None:
            info.context.act_as(principal_of(done.value.account, session_id=done.value.session_id))
        return LoginPayload.of(done.value, done.errors)

    @strawberry.mutation(
        description=(
            "Sign out: the caller's sign-in ends at once, its access token, refresh token and"
            " download links with it. Only a person signed in with a password has one."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def logout(self, info: Info) -> LogoutPayload:
        caller = info.context.caller
        if caller.session_id is None:
            return LogoutPayload(
                signed_out=False,
                errors=[
                    UserError(
                        code=ErrorCode.BAD_USER_INPUT,
                        message="an API client or a portal token has no sign-in to end:"
                        " revoke it instead",
                        field=None,
                    )
                ],
            )
        tenant = caller.reseller_id or PLATFORM_TENANT_ID
        session_id = caller.session_id

        async def end(session: AsyncSession) -> bool:
            await RefreshTokenRepository(session).revoke_family(session_id, tenant=tenant)
            return True

        done = await transact(info, end, scope=TenantScope.system())
        return LogoutPayload(signed_out=bool(done.value), errors=done.errors)

    @strawberry.mutation(description="Trade a refresh token for new tokens (it is then spent).")
    async def refresh_token(
        self, info: Info, input: Annotated[RefreshTokenInput, INPUT]
    ) -> LoginPayload:
        authenticator = info.context.services.authenticator

        async def rotate(session: AsyncSession) -> SignedIn:
            return await authenticator.refresh(session, input.refresh_token)

        done = await transact(info, rotate, scope=TenantScope.system())
        if any(error.code == TOKEN_REUSED for error in done.errors):
            await transact(
                info,
                lambda session: authenticator.revoke_family(session, input.refresh_token),
                scope=TenantScope.system(),
            )
        if done.value is not None:
            info.context.act_as(principal_of(done.value.account, session_id=done.value.session_id))
        return LoginPayload.of(done.value, done.errors)
