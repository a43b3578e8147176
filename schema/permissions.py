"""Permission classes: declared on fields, never checked inside resolvers.

Each wraps one rule of ``auth.permissions``. A caller without a token gets UNAUTHENTICATED; an
authenticated caller the rule refuses gets FORBIDDEN, or BILLING_ACCESS_REQUIRED for billing.

Billing fields are declared with ``billing_field``: it marks them ``@billingAccess`` in the SDL and
guards them with ``HasBillingAccess``, wherever the type is reached (a list, a node, a nested
field). Such a field is nullable, so a refusal nulls it alone and the rest of the response resolves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import strawberry
from strawberry.permission import BasePermission
from strawberry.schema_directive import Location

from auth import permissions as rules
from auth.principal import Principal, PrincipalKind
from schema.errors import BILLING_ACCESS_REQUIRED, FORBIDDEN, UNAUTHENTICATED, ApiError


class Rule(BasePermission):
    rule: ClassVar[Callable[[Principal], bool]]
    message = "not allowed"
    code = FORBIDDEN

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        principal = info.context.principal
        if principal is None:
            raise ApiError("authentication required", UNAUTHENTICATED)
        if not type(self).rule(principal):
            raise ApiError(self.message, self.refusal(principal))
        return True

    def refusal(self, principal: Principal) -> str:
        return self.code


def _anyone(_principal: Principal) -> bool:
    return True


class IsAuthenticated(Rule):
    rule = staticmethod(_anyone)


class IsPlatformAdmin(Rule):
    rule = staticmethod(lambda p: p.is_platform_admin)
    message = "platform admins only"


class CanReadTenant(Rule):
    rule = staticmethod(rules.can_read_tenant)


class CanWriteCustomers(Rule):
    rule = staticmethod(rules.can_write_customers)
    message = "you may not create or change customers"


class CanManageUsers(Rule):
    rule = staticmethod(rules.can_manage_users)
    message = "you may not manage users"


class CanReadCustomers(Rule):
    rule = staticmethod(rules.can_read_customers)


class CanReadAudit(Rule):
    rule = staticmethod(rules.can_read_audit)
    message = "only an OWNER or ADMIN may read the audit log"


class HasBillingAccess(Rule):
    rule = staticmethod(rules.has_billing_access)
    message = "billing access required"
    code = BILLING_ACCESS_REQUIRED


class HasResellerBillingAccess(HasBillingAccess):
    """A reseller's own billing (its bills from the platform): never a customer portal's."""

    rule = staticmethod(
        lambda p: rules.has_billing_access(p) and p.kind is not PrincipalKind.PORTAL
    )


class CanWriteBilling(Rule):
    rule = staticmethod(rules.can_write_billing)
    message = "billing access required (API clients: scope billing:write)"
    code = BILLING_ACCESS_REQUIRED


class CanGrantBillingAccess(Rule):
    rule = staticmethod(rules.can_grant_billing_access)
    message = "only a user with billing access can grant or revoke it"
    code = BILLING_ACCESS_REQUIRED

    def refusal(self, principal: Principal) -> str:
        """A user lacks billing access; an API client or a portal may never do this at all."""
        return self.code if principal.is_user else FORBIDDEN


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION, Location.OBJECT],
    name="billingAccess",
    description=(
        "Billing data: resolves only for callers with billing access (users granted it, the"
        " OWNER, API clients with billing:read, a portal for its own customer); anyone else gets"
        " null and an error with code BILLING_ACCESS_REQUIRED. On a type: every field of it is"
        " billing data, reachable only through fields that carry the directive."
    ),
)
class BillingAccess:
    pass


def billing_field(*, description: str, reseller_own: bool = False, **kwargs: Any) -> Any:
    """A field (or resolver decorator) exposing money or payment data; ``reseller_own`` for the
    reseller's own billing, which no customer portal sees."""
    guard = HasResellerBillingAccess if reseller_own else HasBillingAccess
    return strawberry.field(
        description=description,
        permission_classes=[guard],
        directives=[BillingAccess()],
        **kwargs,
    )


def billing_mutation(*, description: str) -> Any:
    """A mutation that changes billing (prices, invoices): billing access, or billing:write."""
    return strawberry.mutation(
        description=description,
        permission_classes=[CanWriteBilling],
        directives=[BillingAccess()],
    )


class CanReadEvents(Rule):
    rule = staticmethod(rules.can_read_events)


class CanManageWebhooks(Rule):
    rule = staticmethod(rules.can_manage_webhooks)
    message = (
        "only the OWNER, an ADMIN with billing access or an API client with settings:write"
        " may manage webhook endpoints"
    )
