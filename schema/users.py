"""User: type and the users connection of the caller's reseller."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from schema.context import Info
from schema.permissions import CanReadTenant
from schema.relay import Connection, Node, page_request, resolve_connection, to_global_id
from schema.resellers import Reseller
from tenants import models
from tenants.repositories import UserRepository

Role = strawberry.enum(models.Role, description="What a reseller's user may do.")
UserStatus = strawberry.enum(
    models.UserStatus, description="INVITED until the invitation is accepted; DISABLED to lock out."
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

    @strawberry.field(description="The reseller this user works for; null for platform admins.")
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
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> UserConnection:
        return await resolve_connection(
            info,
            UserConnection,
            UserRepository,
            page_request(first, after, last, before),
            User.from_model,
        )
