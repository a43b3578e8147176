"""Permission rules of access.md as plain functions of a principal; the API declares which apply."""

from __future__ import annotations

from auth.principal import Principal, PrincipalKind
from tenants.models import Role

MANAGERS = frozenset({Role.OWNER, Role.ADMIN})


def _client_has(principal: Principal, scope: str) -> bool:
    return principal.kind is PrincipalKind.API_CLIENT and scope in principal.scopes


def can_read_tenant(principal: Principal) -> bool:
    """Reseller profile, customers, users, catalog."""
    if principal.kind in (PrincipalKind.PLATFORM_ADMIN, PrincipalKind.USER):
        return True
    return _client_has(principal, "customers:read")


def can_write_customers(principal: Principal) -> bool:
    if principal.is_platform_admin:
        return True
    if principal.is_user:
        return principal.role in MANAGERS
    return _client_has(principal, "customers:write")


def can_manage_users(principal: Principal) -> bool:
    return principal.is_platform_admin or (principal.is_user and principal.role in MANAGERS)


def has_billing_access(principal: Principal) -> bool:
    if principal.is_platform_admin:
        return True
    if principal.is_user:
        return principal.role is Role.OWNER or principal.billing_access
    if principal.kind is PrincipalKind.API_CLIENT:
        return "billing:read" in principal.scopes
    return principal.kind is PrincipalKind.PORTAL
