"""Statements, computed on demand for any date range of one billing account (domain.md):
opening balance, each posted invoice (debit) and payment (credit) in the range in date order, the
closing balance, and the aging of what is still open at the end of the range.

Every document posted in the range is on it, so that it agrees with the invoices the buyer was
sent: a VOID invoice is there as the invoice (a debit, the day it was posted) and its reversal (a
credit of the same amount, the day it was voided), which net to zero once both are in the range.
Drafts are not on it: they were never sent. Days are the account's local days.

Aging is as of the range's last day, or today when that is still to come: what is owed on a day
that has not happened is not known, and an invoice due next week is not late yet.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.invoices import InvoiceChildren, InvoiceRepository
from billing.models import Invoice, InvoiceKind, InvoiceStatus, PaymentStatus
from core.clock import utcnow
from core.errors import NotFound, ValidationFailed
from db.scope import TenantScope
from tenants.repositories import CustomerRepository, ResellerRepository

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Entry:
    on: date
    kind: str  # INVOICE, PAYMENT, or VOID (the reversal of a voided invoice)
    invoice_id: uuid.UUID
    reference: str  # the invoice number
    description: str
    debit: Decimal
    credit: Decimal
    balance: Decimal


@dataclass
class Aging:
    current: Decimal = ZERO  # not yet due
    days_1_30: Decimal = ZERO
    days_31_60: Decimal = ZERO
    days_61_90: Decimal = ZERO
    over_90: Decimal = ZERO

    def add(self, days_past_due: int, amount: Decimal) -> None:
        if days_past_due <= 0:
            self.current += amount
        elif days_past_due <= 30:
            self.days_1_30 += amount
        elif days_past_due <= 60:
            self.days_31_60 += amount
        elif days_past_due <= 90:
            self.days_61_90 += amount
        else:
            self.over_90 += amount

    @property
    def total(self) -> Decimal:
        return self.current + self.days_1_30 + self.days_31_60 + self.days_61_90 + self.over_90


@dataclass
class Statement:
    account_type: str  # Customer or Reseller
    account_id: uuid.UUID
    reseller_id: uuid.UUID  # the tenant it belongs to: the customer's reseller, or the reseller
    account_name: str
    currency: str
    start: date
    end: date
    aged_on: date | None = None  # the day the aging is as of: the end, or today if earlier
    opening_balance: Decimal = ZERO
    closing_balance: Decimal = ZERO
    entries: list[Entry] = field(default_factory=list)
    aging: Aging = field(default_factory=Aging)


async def customer_statement(
    session: AsyncSession, scope: TenantScope, customer_id: uuid.UUID, start: date, end: date
) -> Statement:
    customer = await CustomerRepository(session, scope).get(customer_id)
    if customer is None:
        raise NotFound("customer", field="customerId")
    invoices = (
        InvoiceRepository(session, scope)
        .select()
        .where(
            Invoice.kind == InvoiceKind.RETAIL,
            Invoice.reseller_id == customer.reseller_id,
            Invoice.customer_id == customer.id,
        )
    )
    statement = Statement(
        "Customer", customer.id, customer.reseller_id, customer.name, customer.currency, start, end
    )
    return await _compute(session, scope, statement, invoices, customer.timezone)


async def reseller_statement(
    session: AsyncSession, scope: TenantScope, reseller_id: uuid.UUID, start: date, end: date
) -> Statement:
    """The reseller's own account with the platform: its wholesale invoices."""
    reseller = await ResellerRepository(session, scope).get(reseller_id)
    if reseller is None:
        raise NotFound("reseller", field="resellerId")
    invoices = (
        InvoiceRepository(session, scope)
        .select()
        .where(Invoice.kind == InvoiceKind.WHOLESALE, Invoice.reseller_id == reseller.id)
    )
    statement = Statement(
        "Reseller", reseller.id, reseller.id, reseller.name, reseller.currency, start, end
    )
    return await _compute(session, scope, statement, invoices, reseller.timezone)


async def _compute(
    session: AsyncSession,
    scope: TenantScope,
    statement: Statement,
    invoices_query: Select[tuple[Invoice]],
    timezone: str,
) -> Statement:
    if statement.end < statement.start:
        raise ValidationFailed("to must not be before from", field="to")
    zone = ZoneInfo(timezone)
    aged_on = min(statement.end, utcnow().astimezone(zone).date())
    statement.aged_on = aged_on
    posted = [InvoiceStatus.OPEN, InvoiceStatus.CLOSED, InvoiceStatus.VOID]
    query = invoices_query.where(Invoice.status.in_(posted))
    invoices: Sequence[Invoice] = (await session.scalars(query)).all()
    payments = await InvoiceChildren(session, scope).payments(i.id for i in invoices)
    moves: list[tuple[date, int, Entry]] = []
    for invoice in invoices:
        assert invoice.issued_at is not None and invoice.number is not None
        issued = invoice.issued_at.astimezone(zone).date()
        if issued > statement.end:
            continue
        moves.append(
            (
                issued,
                0,
                Entry(
                    issued,
                    "INVOICE",
                    invoice.id,
                    invoice.number,
                    f"Invoice {invoice.number}, {invoice.period_start} to {invoice.period_end}",
                    invoice.total,
                    ZERO,
                    ZERO,
                ),
            )
        )
        voided = None
        if invoice.status is InvoiceStatus.VOID:
            voided = (invoice.voided_at or invoice.issued_at).astimezone(zone).date()
            if voided <= statement.end:
                moves.append(
                    (
                        voided,
                        2,
                        Entry(
                            voided,
                            "VOID",
                            invoice.id,
                            invoice.number,
                            f"Invoice {invoice.number} voided",
                            ZERO,
                            invoice.total,
                            ZERO,
                        ),
                    )
                )
        paid_by_aging = ZERO
        for payment in payments.get(invoice.id, []):
            if payment.status is not PaymentStatus.SUCCEEDED:
                continue
            paid = payment.paid_at.astimezone(zone).date()
            if paid > statement.end:
                continue
            if paid <= aged_on:
                paid_by_aging += payment.amount
            moves.append(
                (
                    paid,
                    1,
                    Entry(
                        paid,
                        "PAYMENT",
                        invoice.id,
                        invoice.number,
                        f"Payment for invoice {invoice.number}",
                        ZERO,
                        payment.amount,
                        ZERO,
                    ),
                )
            )
        if issued > aged_on or (voided is not None and voided <= aged_on):
            continue  # not posted yet, or cancelled, on the day aged
        outstanding = invoice.total - paid_by_aging
        if outstanding > 0 and invoice.due_date is not None:
            statement.aging.add((aged_on - invoice.due_date).days, outstanding)
    moves.sort(key=lambda m: (m[0], m[1], m[2].reference))
    balance = ZERO
    for on, _, entry in moves:
        if on < statement.start:
            balance += entry.debit - entry.credit
    statement.opening_balance = balance
    for on, _, entry in moves:
        if on >= statement.start:
            balance += entry.debit - entry.credit
            statement.entries.append(
                Entry(
                    entry.on,
                    entry.kind,
                    entry.invoice_id,
                    entry.reference,
                    entry.description,
                    entry.debit,
                    entry.credit,
                    balance,
                )
            )
    statement.closing_balance = balance
    return statement


async def balances(
    session: AsyncSession, scope: TenantScope, kind: InvoiceKind, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Decimal]:
    """What each account owes now: the amounts due of its OPEN invoices (customers for RETAIL,
    resellers for WHOLESALE)."""
    key = Invoice.customer_id if kind is InvoiceKind.RETAIL else Invoice.reseller_id
    query = (
        InvoiceRepository(session, scope)
        .select()
        .with_only_columns(key, Invoice.total, Invoice.amount_paid)
        .where(Invoice.kind == kind, Invoice.status == InvoiceStatus.OPEN, key.in_(list(ids)))
    )
    owed: dict[uuid.UUID, Decimal] = {id_: ZERO for id_ in ids}
    for account, total, paid in await session.execute(query):
        owed[account] = owed.get(account, ZERO) + total - paid
    return owed
