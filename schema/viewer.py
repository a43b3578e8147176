"""viewer: who is calling and what they may do."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

import strawberry

from auth import permissions as rules
from auth.principal import PrincipalKind
from schema.context import Info
from schema.customers import Customer
from schema.enums import described_enum
from schema.permissions import CanReadTenant, IsAuthenticated
from schema.portal_seller import PortalSeller, portal_seller
from schema.resellers import Reseller
from schema.users import User

ViewerKind = described_enum(
    PrincipalKind,
    name="ViewerKind",
    description="Kind of caller.",
    values={
        PrincipalKind.PLATFORM_ADMIN: "Platform staff, signed in.",
        PrincipalKind.USER: "A reseller's user, signed in.",
        PrincipalKind.API_CLIENT: "A reseller's back end, with an OAuth2 client's token.",
        PrincipalKind.PORTAL: "A customer, through a customer portal token.",
    },
)


class Permission(enum.StrEnum):
    READ_TENANT = "READ_TENANT"
    READ_CUSTOMERS = "READ_CUSTOMERS"
    WRITE_CUSTOMERS = "WRITE_CUSTOMERS"
    MANAGE_USERS = "MANAGE_USERS"
    READ_AUDIT = "READ_AUDIT"
    BILLING = "BILLING"
    WRITE_BILLING = "WRITE_BILLING"
    GRANT_BILLING_ACCESS = "GRANT_BILLING_ACCESS"
    PLATFORM_ADMIN = "PLATFORM_ADMIN"


PermissionEnum = described_enum(
    Permission,
    name="Permission",
    description="What a control panel may offer the caller.",
    values={
        Permission.READ_TENANT: "See the reseller, its catalog and settings.",
        Permission.READ_CUSTOMERS: "See customers and their subscriptions.",
        Permission.WRITE_CUSTOMERS: "Add and change customers and subscriptions.",
        Permission.MANAGE_USERS: "Invite, disable and enable users.",
        Permission.READ_AUDIT: "Read the audit log.",
        Permission.BILLING: "See invoices, balances, prices and payment data.",
        Permission.WRITE_BILLING: "Generate and change invoices, prices and payments.",
        Permission.GRANT_BILLING_ACCESS: "Give or take users' billing access.",
        Permission.PLATFORM_ADMIN: "Act on every reseller, as platform staff.",
    },
)

_RULES = {
    Permission.READ_TENANT: rules.can_read_tenant,
    Permission.READ_CUSTOMERS: rules.can_read_customers,
    Permission.WRITE_CUSTOMERS: rules.can_write_customers,
    Permission.MANAGE_USERS: rules.can_manage_users,
    Permission.READ_AUDIT: rules.can_read_audit,
    Permission.BILLING: rules.has_billing_access,
    Permission.WRITE_BILLING: rules.can_write_billing,
    Permission.GRANT_BILLING_ACCESS: rules.can_grant_billing_access,
    Permission.PLATFORM_ADMIN: lambda p: p.is_platform_admin,
}


@strawberry.type(description="The caller, as the API sees them on this request.")
class Viewer:
    kind: ViewerKind = strawberry.field(description="User, platform admin, API client or portal.")

    @strawberry.field(description="The signed-in person; null for API clients and portals.")
    async def user(self, info: Info) -> User | None:
        principal = info.context.principal
        assert principal is not None
        loaders = info.context.loaders
        if principal.kind is PrincipalKind.PLATFORM_ADMIN:
            admin = await loaders.platform_admin_by_id.load(principal.subject_id)
            return User.from_model(admin) if admin else None
        if principal.kind is PrincipalKind.USER:
            user = await loaders.user_by_id.load(principal.subject_id)
            return User.from_model(user) if user else None
        return None

    @strawberry.field(
        permission_classes=[CanReadTenant],
        description=(
            "The caller's reseller; null for platform admins. Its profile is tenant data: API"
            " clients need customers:read, and a customer portal does not see it."
        ),
    )
    async def reseller(self, info: Info) -> Reseller | None:
        principal = info.context.principal
        if principal is None or principal.reseller_id is None:
            return None
        row = await info.context.loaders.reseller_by_id.load(principal.reseller_id)
        return Reseller.from_model(row) if row else None

    @strawberry.field(description="A customer portal's customer; null for anyone else.")
    async def customer(self, info: Info) -> Customer | None:
        principal = info.context.principal
        if principal is None or principal.customer_id is None:
            return None
        row = await info.context.loaders.customer_by_id.load(principal.customer_id)
        return Customer.from_model(row) if row else None

    @strawberry.field(
        description=(
            "A customer portal's seller (its reseller's name and branding, as its emails show"
            " them); null for anyone else."
        )
    )
    async def seller(self, info: Info) -> PortalSeller | None:
        return await portal_seller(info)

    @strawberry.field(description="An API client's granted scopes; empty for anyone else.")
    def scopes(self, info: Info) -> list[str]:
        principal = info.context.principal
        return sorted(principal.scopes) if principal is not None else []

    @strawberry.field(description="When the caller's access token expires.")
    def expires_at(self, info: Info) -> datetime | None:
        principal = info.context.principal
        if principal is None or principal.expires_at is None:
            return None
        return datetime.fromtimestamp(principal.expires_at, UTC)

    @strawberry.field(description="Whether the caller may act on every reseller.")
    def is_platform_admin(self, info: Info) -> bool:
        principal = info.context.principal
        return principal is not None and principal.is_platform_admin

    @strawberry.field(description="Everything the caller may do now (read afresh every request).")
    def permissions(self, info: Info) -> list[PermissionEnum]:
        principal = info.context.principal
        assert principal is not None
        return [permission for permission, rule in _RULES.items() if rule(principal)]


@strawberry.type
class ViewerQueries:
    @strawberry.field(permission_classes=[IsAuthenticated], description="Who is calling.")
    def viewer(self, info: Info) -> Viewer:
        principal = info.context.principal
        assert principal is not None
        return Viewer(kind=principal.kind)
