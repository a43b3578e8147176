"""Reading invoices within a scope: filters, and their lines, charges and payments in bulk.

A customer portal sees only its own customer's invoices (the CUSTOMER_KEYED criteria) and never a
draft; a reseller never sees a wholesale draft addressed to it (here, and in the PostgreSQL policy).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import (
    Invoice,
    InvoiceCharge,
    InvoiceCounter,
    InvoiceFieldDefinition,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    Payment,
)
from db.base import column_attributes, plain_rows
from db.database import upsert
from db.scope import TenantScope
from tenants.repositories import ScopedRepository


@dataclass(frozen=True, slots=True)
class InvoiceQuery:
    customer_id: uuid.UUID | None = None
    kind: InvoiceKind | None = None
    statuses: Sequence[InvoiceStatus] | None = None
    vendor_id: uuid.UUID | None = None
    period_from: date | None = None  # the period overlaps [period_from, period_to]
    period_to: date | None = None


class InvoiceRepository(ScopedRepository[Invoice]):
    model = Invoice

    def select(self) -> Select[tuple[Invoice]]:
        """A draft is its seller's alone: a portal sees none, a reseller not the platform's
        wholesale drafts addressed to it."""
        statement = super().select()
        if self.scope.customer_id is not None:
            statement = statement.where(Invoice.status != InvoiceStatus.DRAFT)
        elif not self.scope.all_tenants:
            statement = statement.where(
                or_(Invoice.kind != InvoiceKind.WHOLESALE, Invoice.status != InvoiceStatus.DRAFT)
            )
        return statement

    def filtered(self, query: InvoiceQuery) -> Select[Any]:
        statement = self.select()
        if query.customer_id is not None:
            statement = statement.where(Invoice.customer_id == query.customer_id)
        if query.kind is not None:
            statement = statement.where(Invoice.kind == query.kind)
        if query.statuses:
            statement = statement.where(Invoice.status.in_(list(query.statuses)))
        if query.vendor_id is not None:
            statement = statement.where(Invoice.vendor_id == query.vendor_id)
        if query.period_from is not None:
            statement = statement.where(Invoice.period_end >= query.period_from)
        if query.period_to is not None:
            statement = statement.where(Invoice.period_start <= query.period_to)
        return statement

    async def for_update(self, id_: uuid.UUID) -> Invoice | None:
        """The invoice, locked until the transaction ends (PostgreSQL; SQLite writers are
        serialized already): two postings of one draft cannot both take a number. The row as
        locked replaces what the session may have read of it before (populate_existing): a
        change is decided on the committed status, never on a stale copy."""
        statement = (
            self.select()
            .where(Invoice.id == id_)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(statement)).first()


SHOWN_LINE_COLUMNS = [
    column
    for column in column_attributes(InvoiceLine)
    if column.key not in ("reseller_id", "id", "created_at")
]


class InvoiceChildren:
    """Rows hanging off invoices, fetched for many invoices in one query."""

    def __init__(self, session: AsyncSession, scope: TenantScope) -> None:
        self.session = session
        self.scope = scope

    async def _by_invoice(
        self,
        model: Any,
        ids: Iterable[uuid.UUID],
        *order: Any,
        columns: Sequence[Any] | None = None,
    ) -> dict[uuid.UUID, list[Any]]:
        """``columns``: only these, as read-only rows, instead of ORM instances."""
        wanted = list(set(ids))
        found: dict[uuid.UUID, list[Any]] = defaultdict(list)
        if not wanted:
            return found
        statement = self.scope.filter(
            select(*columns) if columns is not None else select(model), model.reseller_id
        )
        statement = statement.where(model.invoice_id.in_(wanted)).order_by(model.invoice_id, *order)
        read = (
            plain_rows(await self.session.execute(statement))
            if columns is not None
            else await self.session.scalars(statement)
        )
        for row in read:
            found[row.invoice_id].append(row)
        return found

    async def lines(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[InvoiceLine]]:
        return await self._by_invoice(InvoiceLine, ids, InvoiceLine.position)

    async def line_rows(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
        """The lines as read-only rows of what a shown line has (attribute names), for lists
        that are only shown: not their own keys and timestamps, each a value to decode per row
        (on SQLite a UUID is parsed from text)."""
        return await self._by_invoice(
            InvoiceLine, ids, InvoiceLine.position, columns=SHOWN_LINE_COLUMNS
        )

    async def charges(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[InvoiceCharge]]:
        return await self._by_invoice(
            InvoiceCharge, ids, InvoiceCharge.start_date, InvoiceCharge.id
        )

    async def payments(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Payment]]:
        return await self._by_invoice(Payment, ids, Payment.paid_at, Payment.id)


class FieldDefinitionRepository(ScopedRepository[InvoiceFieldDefinition]):
    model = InvoiceFieldDefinition

    async def of_reseller(self, reseller_id: uuid.UUID) -> list[InvoiceFieldDefinition]:
        statement = self.select().where(InvoiceFieldDefinition.reseller_id == reseller_id)
        order = (InvoiceFieldDefinition.position, InvoiceFieldDefinition.key)
        return list((await self.session.scalars(statement.order_by(*order))).all())

    async def by_resellers(
        self, reseller_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, list[InvoiceFieldDefinition]]:
        found: dict[uuid.UUID, list[InvoiceFieldDefinition]] = defaultdict(list)
        statement = self.select().where(
            InvoiceFieldDefinition.reseller_id.in_(list(set(reseller_ids)))
        )
        order = (InvoiceFieldDefinition.position, InvoiceFieldDefinition.key)
        for row in await self.session.scalars(statement.order_by(*order)):
            found[row.reseller_id].append(row)
        return found


class PaymentRepository(ScopedRepository[Payment]):
    model = Payment


class InvoiceCounterRepository:
    """The counter row of each seller (a reseller, or the platform)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def take_next(self, seller: uuid.UUID) -> int:
        """Increment and return the number of ``seller`` (a reseller's id, or the platform's
        tenant id); the row stays locked until commit."""
        statement = (
            (await upsert(self.session, InvoiceCounter))
            .values(reseller_id=seller, last_number=1)
            .on_conflict_do_update(
                index_elements=[InvoiceCounter.reseller_id],
                set_={"last_number": InvoiceCounter.last_number + 1},
            )
            .returning(InvoiceCounter.last_number)
        )
        return int((await self.session.execute(statement)).scalar_one())
