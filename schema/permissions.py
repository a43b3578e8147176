"""Permission classes: declared on fields, never checked inside resolvers.

Each wraps one rule of ``auth.permissions``. A caller without a token gets UNAUTHENTICATED; an
authenticated caller the rule refuses gets FORBIDDEN.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from strawberry.permission import BasePermission

from auth import permissions as rules
from auth.principal import Principal
from schema.errors import FORBIDDEN, UNAUTHENTICATED, ApiError


class Rule(BasePermission):
    rule: ClassVar[Callable[[Principal], bool]]
    message = "not allowed"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        principal = info.context.principal
        if principal is None:
            raise ApiError("authentication required", UNAUTHENTICATED)
        if not type(self).rule(principal):
            raise ApiError(self.message, FORBIDDEN)
        return True


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
