"""The one place that turns a principal into a tenant scope."""

from __future__ import annotations

import uuid
from typing import Protocol

from db.scope import TenantScope


class ScopedPrincipal(Protocol):
    @property
    def reseller_id(self) -> uuid.UUID | None: ...

    @property
    def customer_id(self) -> uuid.UUID | None: ...

    @property
    def is_platform_admin(self) -> bool: ...


def scope_for(principal: ScopedPrincipal | None) -> TenantScope:
    """Platform admins see every tenant; a customer portal its reseller, and of its customers only
    its own; anyone else their token's reseller; an anonymous caller nothing."""
    if principal is None:
        return TenantScope.nothing()
    if principal.is_platform_admin:
        return TenantScope.system()
    if principal.reseller_id is None:
        return TenantScope.nothing()
    if principal.customer_id is not None:
        return TenantScope.customer(principal.reseller_id, principal.customer_id)
    return TenantScope.tenant(principal.reseller_id)
