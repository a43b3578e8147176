"""Permission rules of access.md as plain functions of a principal; the API declares which apply.

Role, billing access and scopes on the principal are read from the database on every request.
"""

from __future__ import annotations

from auth.principal import Principal, PrincipalKind
from tenants.models import Role

MANAGERS = frozenset({Role.OWNER, Role.ADMIN})


def _client_has(principal: Principal, scope: str) -> bool:
    return principal.kind is PrincipalKind.API_CLIENT and scope in principal.scopes


def _manager(principal: Principal) -> bool:
    return principal.is_user and principal.role in MANAGERS


def can_read_tenant(principal: Principal) -> bool:
    """Reseller profile, customers, users, catalog."""
    if principal.kind in (PrincipalKind.PLATFORM_ADMIN, PrincipalKind.USER):
        return True
    return _client_has(principal, "customers:read")


def can_read_customers(principal: Principal) -> bool:
    """A customer portal reads its own customer (the scope hides every other one)."""
    return can_read_tenant(principal) or principal.kind is PrincipalKind.PORTAL


def can_write_customers(principal: Principal) -> bool:
    if principal.is_platform_admin:
        return True
    if principal.is_user:
        return principal.role in MANAGERS
    return _client_has(principal, "customers:write")


def can_manage_users(principal: Principal) -> bool:
    """Invite, disable and enable users; create and revoke API clients."""
    return principal.is_platform_admin or _manager(principal)


def can_read_audit(principal: Principal) -> bool:
    return principal.is_platform_admin or _manager(principal)


def can_write_settings(principal: Principal) -> bool:
    """Notification settings: branding, links, sender, events."""
    return (
        principal.is_platform_admin
        or _manager(principal)
        or _client_has(principal, "settings:write")
    )


def can_send_test_notifications(principal: Principal) -> bool:
    """Previews of the emails, to the caller's own address: people who edit the settings."""
    return principal.is_platform_admin or _manager(principal)


def has_billing_access(principal: Principal) -> bool:
    """May see billing fields: a portal only its own customer's (its scope says which)."""
    if principal.is_platform_admin:
        return True
    if principal.is_user:
        return principal.role is Role.OWNER or principal.billing_access
    if principal.kind is PrincipalKind.API_CLIENT:
        return "billing:read" in principal.scopes
    return principal.kind is PrincipalKind.PORTAL


def can_write_billing(principal: Principal) -> bool:
    """Generate, post, void, discard, set prices, make portal tokens."""
    if principal.is_platform_admin:
        return True
    if principal.is_user:
        return principal.role is Role.OWNER or principal.billing_access
    return _client_has(principal, "billing:write")


def can_grant_billing_access(principal: Principal) -> bool:
    """Only a person who has billing access passes it on (never an API client)."""
    if principal.is_platform_admin:
        return True
    return principal.is_user and (principal.role is Role.OWNER or principal.billing_access)


def can_read_events(principal: Principal) -> bool:
    """The event log: whoever reads the tenant's data or its billing (each sees its part)."""
    return can_read_customers(principal) or has_billing_access(principal)


def can_manage_webhooks(principal: Principal) -> bool:
    """Webhook endpoints carry billing events out: the OWNER, an ADMIN with billing access, an
    API client with ``settings:write``. A reseller's own: platform admins have no endpoints."""
    if principal.is_user:
        return principal.role is Role.OWNER or (
            principal.role is Role.ADMIN and principal.billing_access
        )
    return _client_has(principal, "settings:write")
