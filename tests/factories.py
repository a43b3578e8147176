"""Test data made through the real services: two resellers (A and B) with users and customers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from functools import cache

from auth.models import ApiClient, PortalToken, RefreshToken
from auth.passwords import hash_password
from auth.repositories import digest
from auth.tokens import PORTAL_AUDIENCE, USER_AUDIENCE, TokenSigner
from core.clock import utcnow
from core.ids import new_id
from db.database import Database
from db.scope import PLATFORM_TENANT_ID, TenantScope
from tenants import services
from tenants.models import PlatformAdmin, Role, User, UserStatus

PASSWORD = "correct horse battery staple"
CLIENT_SECRET = "s3cret-of-a-test-client-0123456789"
# API clients every tenant gets: key -> scopes.
CLIENTS = {
    "client_all": "customers:read customers:write billing:read billing:write settings:write",
    "client_read": "customers:read",
    "client_billing": "billing:read billing:write",
}


@cache
def password_hash() -> str:
    """Argon2id is slow on purpose: hash once per test run."""
    return hash_password(PASSWORD)


@dataclass
class Tenant:
    id: uuid.UUID
    slug: str
    users: dict[str, uuid.UUID] = field(default_factory=dict)  # role name -> user id
    emails: dict[str, str] = field(default_factory=dict)
    customers: list[uuid.UUID] = field(default_factory=list)
    clients: dict[str, ApiClient] = field(default_factory=dict)
    portal_token_id: uuid.UUID | None = None  # for customers[0]


@dataclass
class World:
    signer: TokenSigner
    admin_id: uuid.UUID
    a: Tenant
    b: Tenant
    sessions: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # account -> sign-in

    def token(self, who: str, tenant: Tenant | None = None) -> str:
        """An access token for 'platform' (a platform admin); a user of a tenant: 'owner',
        'manager' (ADMIN), 'billing_manager' (ADMIN with billing access), 'member',
        'billing_member' (MEMBER with billing access), 'invited'; one of its API clients
        ('client_all', 'client_read'); or 'portal' (its first customer's portal)."""
        if who == "platform":
            return self.signer.issue(
                f"admin:{self.admin_id}", USER_AUDIENCE, 900, sid=str(self.sessions[self.admin_id])
            ).token
        assert tenant is not None
        if who in CLIENTS:
            client = tenant.clients[who]
            return self.signer.issue(
                f"client:{client.id}", USER_AUDIENCE, 900, rid=str(tenant.id), scope=client.scopes
            ).token
        if who == "portal":
            return self.signer.issue(
                f"portal:{tenant.portal_token_id}",
                PORTAL_AUDIENCE,
                900,
                rid=str(tenant.id),
                cid=str(tenant.customers[0]),
            ).token
        user_id = tenant.users[who]
        return self.signer.issue(
            f"user:{user_id}",
            USER_AUDIENCE,
            900,
            rid=str(tenant.id),
            sid=str(self.sessions[user_id]),
        ).token


async def make_tenant(session, slug: str, customers: int = 3) -> Tenant:  # type: ignore[no-untyped-def]
    reseller, owner = await services.create_reseller(
        session,
        services.NewReseller(
            name=f"{slug.title()} Reseller",
            currency="EUR",
            slug=slug,
            owner_email=f"owner@{slug}.example",
            owner_name=f"{slug} owner",
        ),
    )
    owner.status, owner.password_hash = UserStatus.ACTIVE, password_hash()
    tenant = Tenant(id=reseller.id, slug=slug)
    tenant.users["owner"], tenant.emails["owner"] = owner.id, owner.email
    people = [
        ("manager", Role.ADMIN, False, UserStatus.ACTIVE),
        ("billing_manager", Role.ADMIN, True, UserStatus.ACTIVE),
        ("member", Role.MEMBER, False, UserStatus.ACTIVE),
        ("billing_member", Role.MEMBER, True, UserStatus.ACTIVE),
        ("invited", Role.MEMBER, False, UserStatus.INVITED),
    ]
    for key, role, billing, status in people:
        user = User(
            reseller_id=reseller.id,
            id=new_id(),
            email=f"{key.replace('_', '-')}@{slug}.example",
            name=f"{slug} {key}",
            role=role,
            billing_access=billing,
            status=status,
            password_hash=password_hash() if status is UserStatus.ACTIVE else None,
        )
        session.add(user)
        tenant.users[key], tenant.emails[key] = user.id, user.email
    scope = TenantScope.tenant(reseller.id)
    for n in range(customers):
        customer = await services.create_customer(
            session,
            scope,
            services.NewCustomer(
                name=f"{slug.title()} Customer {n + 1}",
                email=f"c{n + 1}@{slug}-customers.example",
                currency="EUR",
                tax_rate=Decimal("19"),
            ),
        )
        tenant.customers.append(customer.id)
    for key, scopes in CLIENTS.items():
        client = ApiClient(
            reseller_id=reseller.id,
            id=new_id(),
            name=f"{slug} {key}",
            client_id=f"cb_{slug}_{key}",
            secret_hash=digest(CLIENT_SECRET),
            scopes=scopes,
        )
        session.add(client)
        tenant.clients[key] = client
    portal = PortalToken(
        reseller_id=reseller.id,
        id=new_id(),
        customer_id=tenant.customers[0],
        expires_at=utcnow() + timedelta(hours=1),
    )
    session.add(portal)
    tenant.portal_token_id = portal.id
    return tenant


async def build_world(db: Database, signer: TokenSigner) -> World:
    async with db.write(TenantScope.system()) as session:
        admin = PlatformAdmin(
            id=new_id(),
            email="admin@platform.example",
            name="Platform Admin",
            password_hash=password_hash(),
            status=UserStatus.ACTIVE,
        )
        session.add(admin)
        a = await make_tenant(session, "alpha")
        b = await make_tenant(session, "bravo")
        world = World(signer=signer, admin_id=admin.id, a=a, b=b)
        world.sessions[admin.id] = sign_in(session, PLATFORM_TENANT_ID, f"admin:{admin.id}")
        for tenant in (a, b):
            for user_id in tenant.users.values():
                world.sessions[user_id] = sign_in(session, tenant.id, f"user:{user_id}")
    return world


def sign_in(session, tenant: uuid.UUID, subject: str) -> uuid.UUID:  # type: ignore[no-untyped-def]
    """A sign-in (a refresh-token family) as login makes one: access tokens name it."""
    family = new_id()
    session.add(
        RefreshToken(
            reseller_id=tenant,
            token_hash=digest(f"factory-refresh-{family}"),
            family_id=family,
            subject=subject,
            expires_at=utcnow() + timedelta(days=1),
        )
    )
    return family
