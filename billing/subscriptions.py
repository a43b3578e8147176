"""Subscriptions (a recurring product, monthly, per unit) and usage records (what was consumed)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billing import snapshots
from billing.catalog import amount
from billing.models import Product, ProductKind, Subscription, UsageRecord
from core.errors import ErrorCode, NotFound, Problem, ValidationFailed
from core.ids import new_id
from core.validation import optional_text
from db.scope import TenantScope
from events import log as events
from tenants.models import Customer
from tenants.repositories import CustomerRepository, ScopedRepository

MAX_QUANTITY = 1_000_000
MAX_BATCH = 1000


class SubscriptionRepository(ScopedRepository[Subscription]):
    model = Subscription

    def filtered(self, customer_id: uuid.UUID | None = None) -> Select[Any]:
        statement = self.select()
        if customer_id is not None:
            statement = statement.where(Subscription.customer_id == customer_id)
        return statement


class UsageRepository(ScopedRepository[UsageRecord]):
    model = UsageRecord

    def filtered(
        self,
        customer_id: uuid.UUID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Select[Any]:
        statement = self.select()
        if customer_id is not None:
            statement = statement.where(UsageRecord.customer_id == customer_id)
        if since is not None:
            statement = statement.where(UsageRecord.occurred_at >= since)
        if until is not None:
            statement = statement.where(UsageRecord.occurred_at < until)
        return statement

    async def by_references(
        self, customer_id: uuid.UUID, references: Sequence[str]
    ) -> dict[str, UsageRecord]:
        if not references:
            return {}
        rows = await self.session.scalars(
            self.select().where(
                UsageRecord.customer_id == customer_id, UsageRecord.reference.in_(references)
            )
        )
        return {row.reference: row for row in rows if row.reference is not None}


async def _customer(session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID) -> Customer:
    customer = await CustomerRepository(session, scope).get(customer_id)
    if customer is None:
        raise NotFound("customer", field="customerId")
    return customer


async def _product(
    session: AsyncSession, product_id: uuid.UUID, kind: ProductKind, field: str = "productId"
) -> Product:
    product = await session.get(Product, product_id)
    if product is None:
        raise NotFound("product", field=field)
    if product.kind is not kind:
        what = "subscribed to" if kind is ProductKind.RECURRING else "recorded as usage"
        raise ValidationFailed(
            f"{product.sku} is a {product.kind} product: it cannot be {what}", field=field
        )
    return product


def _quantity(value: int) -> int:
    if not 1 <= value <= MAX_QUANTITY:
        raise ValidationFailed(f"quantity must be between 1 and {MAX_QUANTITY}", field="quantity")
    return value


def _dates(start: date, end: date | None) -> None:
    if end is not None and end < start:
        raise ValidationFailed("endDate must not be before startDate", field="endDate")


@dataclass(frozen=True, slots=True)
class NewSubscription:
    customer_id: uuid.UUID
    product_id: uuid.UUID
    quantity: int
    start_date: date
    end_date: date | None = None


async def create_subscription(
    session: AsyncSession, scope: TenantScope, data: NewSubscription
) -> Subscription:
    customer = await _customer(session, scope, data.customer_id)
    product = await _product(session, data.product_id, ProductKind.RECURRING)
    _dates(data.start_date, data.end_date)
    row = SubscriptionRepository(session, scope).add(
        Subscription(
            reseller_id=customer.reseller_id,
            id=new_id(),
            customer_id=customer.id,
            product_id=product.id,
            quantity=_quantity(data.quantity),
            start_date=data.start_date,
            end_date=data.end_date,
        )
    )
    await session.flush()
    await _subscription_event(session, "subscription.created", row)
    return row


async def _subscription_event(session: AsyncSession, type_: str, row: Subscription) -> None:
    await events.record(
        session,
        type_,
        reseller_id=row.reseller_id,
        object_type="CustomerSubscription",
        object_id=row.id,
        payload=snapshots.subscription(row),
        customer_id=row.customer_id,
    )


async def _subscription(
    session: AsyncSession, scope: TenantScope, subscription_id: uuid.UUID
) -> Subscription:
    row = await SubscriptionRepository(session, scope).get(subscription_id)
    if row is None:
        raise NotFound("subscription", field="subscriptionId")
    return row


async def update_subscription(
    session: AsyncSession,
    scope: TenantScope,
    subscription_id: uuid.UUID,
    quantity: int | None = None,
    end_date: date | None = None,
) -> Subscription:
    """Change the quantity (from the next billing run on) or the last day billed."""
    row = await _subscription(session, scope, subscription_id)
    if quantity is not None:
        row.quantity = _quantity(quantity)
    if end_date is not None:
        _dates(row.start_date, end_date)
        row.end_date = end_date
    await session.flush()
    return row


async def end_subscription(
    session: AsyncSession, scope: TenantScope, subscription_id: uuid.UUID, end_date: date
) -> Subscription:
    """The last day billed is ``end_date``; an already ended subscription may only end sooner."""
    row = await _subscription(session, scope, subscription_id)
    _dates(row.start_date, end_date)
    if row.end_date is not None and end_date > row.end_date:
        raise ValidationFailed(
            f"the subscription already ended on {row.end_date.isoformat()}", field="endDate"
        )
    row.end_date = end_date
    await session.flush()
    await _subscription_event(session, "subscription.ended", row)
    return row


@dataclass(frozen=True, slots=True)
class NewUsage:
    customer_id: uuid.UUID
    product_id: uuid.UUID
    quantity: Decimal
    occurred_at: datetime
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class RecordedUsage:
    record: UsageRecord
    duplicate: bool  # the reference was seen before: this is the record first sent


async def record_usage(
    session: AsyncSession, scope: TenantScope, batch: Sequence[NewUsage]
) -> list[RecordedUsage]:
    """Record usage; a record whose reference this customer already sent is not recorded again:
    the first one comes back, marked duplicate. All or nothing."""
    if not 1 <= len(batch) <= MAX_BATCH:
        raise ValidationFailed(f"send between 1 and {MAX_BATCH} records", field="records")
    customers: dict[uuid.UUID, Customer] = {}
    products: dict[uuid.UUID, Product] = {}
    seen: dict[tuple[uuid.UUID, str], UsageRecord] = {}
    usage = UsageRepository(session, scope)
    results: list[RecordedUsage] = []
    for n, item in enumerate(batch):
        prefix = f"records.{n}." if len(batch) > 1 else ""
        try:
            customer = customers.get(item.customer_id) or await _customer(
                session, scope, item.customer_id
            )
            product = products.get(item.product_id) or await _product(
                session, item.product_id, ProductKind.USAGE
            )
        except (NotFound, ValidationFailed) as error:
            error.problems = [
                Problem(p.code, p.message, prefix + (p.field or "")) for p in error.problems
            ]
            raise
        customers[customer.id], products[product.id] = customer, product
        quantity = amount(item.quantity, field=f"{prefix}quantity")
        if item.occurred_at.tzinfo is None:
            raise ValidationFailed(
                "occurredAt needs a time zone offset", field=f"{prefix}occurredAt"
            )
        reference = optional_text(item.reference, field=f"{prefix}reference")
        if reference is not None:
            key = (customer.id, reference)
            earlier = seen.get(key) or (await usage.by_references(customer.id, [reference])).get(
                reference
            )
            if earlier is not None:
                seen[key] = earlier
                results.append(RecordedUsage(earlier, duplicate=True))
                continue
        row = usage.add(
            UsageRecord(
                reseller_id=customer.reseller_id,
                id=new_id(),
                customer_id=customer.id,
                product_id=product.id,
                quantity=quantity,
                occurred_at=item.occurred_at,
                reference=reference,
            )
        )
        if reference is not None:
            seen[(customer.id, reference)] = row
        results.append(RecordedUsage(row, duplicate=False))
    try:
        await session.flush()
    except IntegrityError:
        # Another request recorded the same reference in the meantime.
        raise ValidationFailed(
            "a record with this reference was recorded concurrently; send it again",
            field="reference",
            code=ErrorCode.CONFLICT,
        ) from None
    await _usage_event(session, [r.record for r in results if not r.duplicate])
    return results


async def _usage_event(session: AsyncSession, rows: Sequence[UsageRecord]) -> None:
    """One event for one recording call, however many records it holds (none: no event)."""
    if not rows:
        return
    customers = {row.customer_id for row in rows}
    await events.record(
        session,
        "usage.recorded",
        reseller_id=rows[0].reseller_id,
        object_type="UsageRecord",
        object_id=rows[0].id,
        payload={"records": [snapshots.usage_record(row) for row in rows]},
        customer_id=customers.pop() if len(customers) == 1 else None,
    )
