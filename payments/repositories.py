"""Reads of cards, attempts and the invoices a reseller owes the platform, for one account."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Payment,
    PaymentMethodKind,
    PaymentStatus,
)
from payments.models import CardStatus, PaymentMethod


async def card_on_file(session: AsyncSession, reseller_id: uuid.UUID) -> PaymentMethod | None:
    """The reseller's own card, the one the platform charges."""
    return await session.scalar(
        select(PaymentMethod)
        .where(
            PaymentMethod.reseller_id == reseller_id,
            PaymentMethod.customer_id.is_(None),
            PaymentMethod.status == CardStatus.ACTIVE,
        )
        .order_by(PaymentMethod.created_at.desc(), PaymentMethod.id.desc())
        .limit(1)
    )


async def cards_on_file(
    session: AsyncSession, reseller_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, PaymentMethod]:
    """Each reseller's card, for a page of resellers at once."""
    wanted = list(set(reseller_ids))
    if not wanted:
        return {}
    rows = await session.scalars(
        select(PaymentMethod)
        .where(
            PaymentMethod.reseller_id.in_(wanted),
            PaymentMethod.customer_id.is_(None),
            PaymentMethod.status == CardStatus.ACTIVE,
        )
        .order_by(PaymentMethod.created_at, PaymentMethod.id)
    )
    return {row.reseller_id: row for row in rows}  # the newest wins


def _owed(reseller_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return select(Invoice).where(
        Invoice.reseller_id == reseller_id,
        Invoice.kind == InvoiceKind.WHOLESALE,
        Invoice.status == InvoiceStatus.OPEN,
        Invoice.total > Invoice.amount_paid,
    )


async def in_dunning(session: AsyncSession, reseller_id: uuid.UUID) -> list[Invoice]:
    """The platform's open invoices to this reseller that a card charge failed for: what the
    retries are about, oldest first."""
    failed = (
        select(Payment.invoice_id)
        .where(
            Payment.reseller_id == reseller_id,
            Payment.method == PaymentMethodKind.CARD,
            Payment.status == PaymentStatus.FAILED,
        )
        .distinct()
    )
    rows = await session.scalars(
        _owed(reseller_id).where(Invoice.id.in_(failed)).order_by(Invoice.issued_at, Invoice.id)
    )
    return list(rows)


async def attempts_of(
    session: AsyncSession, reseller_id: uuid.UUID, invoice_id: uuid.UUID
) -> list[Payment]:
    rows = await session.scalars(
        select(Payment)
        .where(Payment.reseller_id == reseller_id, Payment.invoice_id == invoice_id)
        .order_by(Payment.attempt, Payment.created_at)
    )
    return list(rows)


async def attempt_of_job(
    session: AsyncSession, reseller_id: uuid.UUID, invoice_id: uuid.UUID, job_key: str
) -> Payment | None:
    """The latest attempt a job made for an invoice (a job run again finds it)."""
    return await session.scalar(
        select(Payment)
        .where(
            Payment.reseller_id == reseller_id,
            Payment.invoice_id == invoice_id,
            Payment.job_key == job_key,
        )
        .order_by(Payment.attempt.desc())
        .limit(1)
    )


async def next_attempt_number(
    session: AsyncSession, reseller_id: uuid.UUID, invoice_id: uuid.UUID
) -> int:
    latest = await session.scalar(
        select(func.max(Payment.attempt)).where(
            Payment.reseller_id == reseller_id, Payment.invoice_id == invoice_id
        )
    )
    return int(latest or 0) + 1


async def last_failure(session: AsyncSession, reseller_id: uuid.UUID) -> Payment | None:
    """The reseller's latest failed card charge."""
    return await session.scalar(
        select(Payment)
        .where(
            Payment.reseller_id == reseller_id,
            Payment.customer_id.is_(None),
            Payment.method == PaymentMethodKind.CARD,
            Payment.status == PaymentStatus.FAILED,
        )
        .order_by(Payment.paid_at.desc(), Payment.id.desc())
        .limit(1)
    )
