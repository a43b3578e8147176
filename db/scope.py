"""What rows a database session may touch.

A scope is made from a principal in exactly one place (``tenants.scope.scope_for``); the session
carries it, PostgreSQL enforces it with row-level security, and repositories filter by it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, false

S = TypeVar("S", bound=Select[Any])

# The tenant id of rows that belong to the platform itself (its invoice counter, its notification
# settings, its mail and audit entries, limits of anonymous callers): a distribution column is
# never NULL, so the platform is a tenant of its own that no reseller's scope can name.
PLATFORM_TENANT_ID = uuid.UUID(int=0)


@dataclass(frozen=True, slots=True)
class TenantScope:
    reseller_id: uuid.UUID | None = None
    all_tenants: bool = False
    customer_id: uuid.UUID | None = None  # a customer portal: one customer of the reseller

    @classmethod
    def system(cls) -> TenantScope:
        """Every tenant: platform admins, and platform jobs (login lookup, billing runs)."""
        return cls(all_tenants=True)

    @classmethod
    def tenant(cls, reseller_id: uuid.UUID) -> TenantScope:
        return cls(reseller_id=reseller_id)

    @classmethod
    def customer(cls, reseller_id: uuid.UUID, customer_id: uuid.UUID) -> TenantScope:
        """A customer portal: its reseller's rows, and of customer rows only its own."""
        return cls(reseller_id=reseller_id, customer_id=customer_id)

    @classmethod
    def platform(cls) -> TenantScope:
        """The platform's own rows only (its settings, counter, mail): no reseller's."""
        return cls(reseller_id=PLATFORM_TENANT_ID)

    @classmethod
    def nothing(cls) -> TenantScope:
        """An anonymous caller: no tenant row is visible."""
        return cls()

    def allows(self, reseller_id: uuid.UUID | None) -> bool:
        return self.all_tenants or (reseller_id is not None and reseller_id == self.reseller_id)

    def filter(self, statement: S, column: Any) -> S:
        """Restrict a select to this scope, ``column`` being the tenant key of its main entity."""
        if self.all_tenants:
            return statement
        if self.reseller_id is None:
            return statement.where(false())
        return statement.where(column == self.reseller_id)
