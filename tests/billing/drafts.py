"""Making draft invoices the way production does (subscriptions, then a billing run), and reading
back what the invoice lifecycle left in the database."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from sqlalchemy import func, select

from billing.generation import BillingRun, RunRequest
from billing.models import (
    Invoice,
    InvoiceCharge,
    InvoiceCounter,
    InvoiceKind,
    InvoiceLine,
    Payment,
)
from billing.subscriptions import NewSubscription, create_subscription
from db.database import Database
from db.scope import TenantScope
from notifications.models import OutboxMessage
from tenants.audit import Actor, AuditEvent
from tenants.models import Reseller

SYSTEM = Actor.system()
PLATFORM_NAME = "Platform"
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))


def month(n: int) -> tuple[date, date]:
    """The n-th calendar month from January 2026 (0 is January 2026): a billing period."""
    year, index = divmod(n, 12)
    first = date(2026 + year, index + 1, 1)
    following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return first, following - timedelta(days=1)


async def subscribe(
    db: Database,
    reseller_id: uuid.UUID,
    customer_ids: Iterable[uuid.UUID],
    product_ids: Iterable[object],
    quantity: int = 3,
    start: date = date(2025, 1, 1),
) -> None:
    """Each customer subscribes to each product, from ``start`` on."""
    products = list(product_ids)
    scope = TenantScope.tenant(reseller_id)
    async with db.write(scope) as session:
        for customer_id in customer_ids:
            for product_id in products:
                await create_subscription(
                    session,
                    scope,
                    NewSubscription(customer_id, product_id, quantity, start),  # type: ignore[arg-type]
                )


async def run_billing(
    db: Database,
    scope: TenantScope,
    period: tuple[date, date] = NOVEMBER,
    kind: InvoiceKind = InvoiceKind.RETAIL,
    customer_ids: Sequence[uuid.UUID] | None = None,
) -> list[uuid.UUID]:
    """One billing run in its own transaction: the ids of the drafts it made."""
    async with db.write(scope) as session:
        result = await BillingRun(session, scope, SYSTEM, PLATFORM_NAME).run(
            RunRequest(period[0], period[1], kind=kind, customer_ids=customer_ids)
        )
    return list(result.created)


async def retail_drafts(
    db: Database,
    reseller_id: uuid.UUID,
    customer_ids: Sequence[uuid.UUID],
    products: Sequence[object],
    periods: int = 1,
) -> list[uuid.UUID]:
    """Subscriptions for these customers to these products, billed for ``periods`` months from
    November 2026 backwards: one draft per customer, vendor and month."""
    await subscribe(db, reseller_id, customer_ids, products)
    made: list[uuid.UUID] = []
    for n in range(periods):
        made += await run_billing(db, TenantScope.tenant(reseller_id), month(10 - n))
    return made


async def load(db: Database, invoice_id: uuid.UUID) -> Invoice | None:
    """The invoice as committed (any tenant), or None if it is gone."""
    async with db.read(TenantScope.system()) as session:
        return (
            await session.scalars(select(Invoice).where(Invoice.id == invoice_id))
        ).one_or_none()


async def lines_of(db: Database, invoice_id: uuid.UUID) -> list[InvoiceLine]:
    async with db.read(TenantScope.system()) as session:
        statement = select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id)
        return list(await session.scalars(statement.order_by(InvoiceLine.position)))


async def count_charges(db: Database, invoice_id: uuid.UUID) -> int:
    async with db.read(TenantScope.system()) as session:
        statement = select(func.count()).select_from(InvoiceCharge)
        return await session.scalar(statement.where(InvoiceCharge.invoice_id == invoice_id)) or 0


async def payments_of(db: Database, invoice_id: uuid.UUID) -> list[Payment]:
    async with db.read(TenantScope.system()) as session:
        return list(await session.scalars(select(Payment).where(Payment.invoice_id == invoice_id)))


async def audit_of(db: Database, object_id: uuid.UUID) -> list[AuditEvent]:
    async with db.read(TenantScope.system()) as session:
        statement = select(AuditEvent).where(AuditEvent.object_id == object_id)
        return list(await session.scalars(statement.order_by(AuditEvent.created_at)))


async def outbox_about(db: Database, invoice_id: uuid.UUID) -> list[OutboxMessage]:
    async with db.read(TenantScope.system()) as session:
        statement = select(OutboxMessage).where(OutboxMessage.about_id == invoice_id)
        return list(await session.scalars(statement))


async def counter(db: Database, seller: uuid.UUID) -> int | None:
    """The last number the seller ("platform" or a reseller id) used, None before its first."""
    async with db.read(TenantScope.system()) as session:
        return await session.scalar(
            select(InvoiceCounter.last_number).where(InvoiceCounter.reseller_id == seller)
        )


async def prefix_of(db: Database, reseller_id: uuid.UUID) -> str:
    async with db.read(TenantScope.system()) as session:
        prefix = await session.scalar(
            select(Reseller.invoice_prefix).where(Reseller.id == reseller_id)
        )
    assert prefix
    return prefix


def sequence_of(number: str) -> int:
    """``ALPHA-2026-000042`` -> 42."""
    return int(number.rsplit("-", 1)[1])
