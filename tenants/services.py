"""What can be done to resellers, customers and users. Services never commit: the caller's unit
of work does, so a failure anywhere leaves nothing behind."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from core.currency import normalize_currency
from core.errors import ErrorCode, NotFound, Problem, ValidationFailed
from core.ids import new_id
from core.validation import (
    normalize_email,
    normalize_timezone,
    optional_text,
    percent,
    required_text,
)
from db.scope import TenantScope
from events import log as events
from tenants import snapshots
from tenants.models import AccountStatus, Customer, Reseller, Role, User, UserStatus
from tenants.repositories import CustomerRepository, ResellerRepository, UserRepository

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:63].strip("-") or "reseller"


def _invoice_prefix(slug: str) -> str:
    letters = re.sub(r"[^A-Z0-9]", "", slug.upper())
    return letters[:6] or "INV"


@dataclass(frozen=True, slots=True)
class NewReseller:
    name: str
    currency: str
    owner_email: str
    owner_name: str
    slug: str | None = None
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class NewCustomer:
    name: str
    email: str
    currency: str
    timezone: str | None = None
    tax_rate: Decimal | None = None
    tax_id: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class CustomerChanges:
    name: str | None = None
    email: str | None = None
    timezone: str | None = None
    tax_rate: Decimal | None = None
    tax_id: str | None = None
    address: str | None = None


def _address(value: str | None) -> str | None:
    """A postal address as invoices print it: its lines kept, at most 1000 characters."""
    return optional_text(value, field="address", max_length=1000, multiline=True)


def _collect(*checks: object) -> list[Problem]:
    return [p for c in checks if isinstance(c, ValidationFailed) for p in c.problems]


def _try(fn: object, *args: object, **kwargs: object) -> object:
    try:
        return fn(*args, **kwargs)  # type: ignore[operator]
    except ValidationFailed as exc:
        return exc


def _raise_if_any(problems: list[Problem]) -> None:
    if problems:
        raise ValidationFailed.many(problems)


async def create_reseller(session: AsyncSession, data: NewReseller) -> tuple[Reseller, User]:
    """A new tenant with its OWNER user, who is INVITED until they activate their account."""
    values = {
        "name": _try(required_text, data.name, field="name"),
        "currency": _try(normalize_currency, data.currency),
        "timezone": _try(normalize_timezone, data.timezone),
        "owner_email": _try(normalize_email, data.owner_email, field="owner.email"),
        "owner_name": _try(required_text, data.owner_name, field="owner.name"),
    }
    problems = _collect(*values.values())
    slug = (data.slug or "").strip().lower()
    if data.slug is not None and not _SLUG.match(slug):
        problems.append(
            Problem(ErrorCode.BAD_USER_INPUT, "slug may hold a-z, 0-9 and '-' (at most 63)", "slug")
        )
    _raise_if_any(problems)

    system = TenantScope.system()
    resellers = ResellerRepository(session, system)
    users = UserRepository(session, system)
    if data.slug is None:
        base = slug = slugify(str(values["name"]))
        n = 1
        while await resellers.slug_taken(slug):
            n += 1
            slug = f"{base[:58]}-{n}"
    elif await resellers.slug_taken(slug):
        raise ValidationFailed("slug is already in use", field="slug", code=ErrorCode.TAKEN)

    reseller = Reseller(
        id=new_id(),
        name=values["name"],
        slug=slug,
        currency=values["currency"],
        timezone=values["timezone"],
        status=AccountStatus.ACTIVE,
        invoice_prefix=_invoice_prefix(slug),
    )
    resellers.add(reseller)
    owner = User(
        reseller_id=reseller.id,
        id=new_id(),
        email=values["owner_email"],
        name=values["owner_name"],
        role=Role.OWNER,
        billing_access=True,
        status=UserStatus.INVITED,
    )
    await session.flush()
    users.add(owner)
    await session.flush()
    return reseller, owner


async def create_customer(
    session: AsyncSession,
    scope: TenantScope,
    data: NewCustomer,
    reseller_id: uuid.UUID | None = None,
) -> Customer:
    """A customer of the scope's reseller; a platform admin (every tenant) names the reseller."""
    reseller_id = reseller_id or scope.reseller_id
    if reseller_id is None:
        raise ValidationFailed("name the reseller the customer belongs to", field="resellerId")
    if await ResellerRepository(session, scope).get(reseller_id) is None:
        raise NotFound("reseller", field="resellerId")
    values = {
        "name": _try(required_text, data.name, field="name"),
        "email": _try(normalize_email, data.email),
        "currency": _try(normalize_currency, data.currency),
        "timezone": _try(normalize_timezone, data.timezone),
        "tax_rate": _try(percent, data.tax_rate, field="taxRate"),
        "tax_id": _try(optional_text, data.tax_id, field="taxId", max_length=64),
        "address": _try(_address, data.address),
    }
    _raise_if_any(_collect(*values.values()))
    customer = Customer(reseller_id=reseller_id, id=new_id(), status=AccountStatus.ACTIVE, **values)
    CustomerRepository(session, scope).add(customer)
    await session.flush()
    await _customer_event(session, "customer.created", customer)
    return customer


async def _customer_event(session: AsyncSession, type_: str, customer: Customer) -> None:
    await events.record(
        session,
        type_,
        reseller_id=customer.reseller_id,
        object_type="Customer",
        object_id=customer.id,
        payload=snapshots.customer(customer),
        customer_id=customer.id,
    )


async def update_customer(
    session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID, changes: CustomerChanges
) -> Customer:
    customer = await CustomerRepository(session, scope).get(customer_id)
    if customer is None:
        raise NotFound("customer", field="customerId")
    values: dict[str, object] = {}
    if changes.name is not None:
        values["name"] = _try(required_text, changes.name, field="name")
    if changes.email is not None:
        values["email"] = _try(normalize_email, changes.email)
    if changes.timezone is not None:
        values["timezone"] = _try(normalize_timezone, changes.timezone)
    if changes.tax_rate is not None:
        values["tax_rate"] = _try(percent, changes.tax_rate, field="taxRate")
    if changes.tax_id is not None:
        values["tax_id"] = _try(optional_text, changes.tax_id, field="taxId", max_length=64)
    if changes.address is not None:
        values["address"] = _try(_address, changes.address)
    _raise_if_any(_collect(*values.values()))
    for name, value in values.items():
        setattr(customer, name, value)
    await session.flush()
    if values:
        await _customer_event(session, "customer.updated", customer)
    return customer
