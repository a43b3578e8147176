"""Demo data for the embedded default: loaded once, on a database that has no platform admin yet."""

from __future__ import annotations

import logging
from decimal import Decimal

from auth.passwords import hash_password
from core.ids import new_id
from db.database import Database
from db.scope import TenantScope
from tenants import services
from tenants.models import PlatformAdmin, Role, User, UserStatus
from tenants.repositories import PlatformAdminRepository

log = logging.getLogger("channelbill.demo")

PLATFORM_ADMIN = "admin@example.com"
RESELLERS = [
    {
        "name": "Acme Cloud",
        "slug": "acme",
        "domain": "acme.example",
        "currency": "EUR",
        "timezone": "Europe/Berlin",
        "customers": [
            ("Northwind Traders", "billing@northwind.example", "EUR", "19"),
            ("Contoso Pharmaceuticals", "ap@contoso.example", "EUR", "19"),
            ("Fabrikam Logistics", "finance@fabrikam.example", "GBP", "20"),
            ("Tailspin Toys", "accounts@tailspin.example", "USD", "0"),
        ],
    },
    {
        "name": "Globex IT",
        "slug": "globex",
        "domain": "globex.example",
        "currency": "USD",
        "timezone": "America/New_York",
        "customers": [
            ("Initech", "billing@initech.example", "USD", "8.875"),
            ("Umbrella Health", "ap@umbrella.example", "USD", "0"),
            ("Soylent Foods", "finance@soylent.example", "EUR", "21"),
        ],
    },
]


async def seed_demo(db: Database, password: str) -> bool:
    """Returns whether anything was loaded (False when the database already has data)."""
    system = TenantScope.system()
    async with db.write(system) as session:
        if await PlatformAdminRepository(session).exists():
            return False
        password_hash = hash_password(password)
        session.add(
            PlatformAdmin(
                id=new_id(),
                email=PLATFORM_ADMIN,
                name="Platform Admin",
                password_hash=password_hash,
                status=UserStatus.ACTIVE,
            )
        )
        for spec in RESELLERS:
            domain = spec["domain"]
            reseller, owner = await services.create_reseller(
                session,
                services.NewReseller(
                    name=str(spec["name"]),
                    currency=str(spec["currency"]),
                    owner_email=f"owner@{domain}",
                    owner_name=f"{spec['name']} Owner",
                    slug=str(spec["slug"]),
                    timezone=str(spec["timezone"]),
                ),
            )
            owner.status, owner.password_hash = UserStatus.ACTIVE, password_hash
            for role, local in ((Role.ADMIN, "admin"), (Role.MEMBER, "member")):
                session.add(
                    User(
                        reseller_id=reseller.id,
                        id=new_id(),
                        email=f"{local}@{domain}",
                        name=f"{spec['name']} {role.value.title()}",
                        role=role,
                        billing_access=False,
                        status=UserStatus.ACTIVE,
                        password_hash=password_hash,
                    )
                )
            scope = TenantScope.tenant(reseller.id)
            for name, email, currency, tax in spec["customers"]:  # type: ignore[attr-defined]
                await services.create_customer(
                    session,
                    scope,
                    services.NewCustomer(
                        name=name, email=email, currency=currency, tax_rate=Decimal(tax)
                    ),
                )
    log.info("demo data loaded")
    return True
