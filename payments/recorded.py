"""Payments recorded by hand against any posted invoice: a bank transfer, a cheque, anything
else. Partial payments add up; the invoice is CLOSED (with its receipt) once fully paid, and
paying more than is due is refused. A reseller records its customers' payments; only the
platform records what a reseller paid it (and only the platform's admins may)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from billing.invoices import InvoiceRepository
from billing.lifecycle import InvoiceLifecycle, record_payment_event
from billing.models import (
    InvoiceKind,
    InvoiceStatus,
    Payment,
    PaymentMethodKind,
    PaymentStatus,
    PaymentTrigger,
)
from core.clock import utcnow
from core.currency import minor_units
from core.errors import DomainError, ErrorCode, Forbidden, NotFound, ValidationFailed
from core.ids import new_id
from core.validation import bounded_decimal, optional_text
from db.scope import TenantScope
from payments.dunning import Dunning
from tenants.audit import Actor, record

RECORDABLE = (PaymentMethodKind.BANK_TRANSFER, PaymentMethodKind.CHEQUE, PaymentMethodKind.OTHER)
CLOCK_SKEW = timedelta(minutes=5)


class Overpayment(DomainError):
    code = ErrorCode.AMOUNT_EXCEEDS_DUE


class RecordedPayments:
    def __init__(
        self,
        lifecycle: InvoiceLifecycle,
        dunning: Dunning,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.lifecycle = lifecycle
        self.dunning = dunning
        self.clock = clock

    async def record(
        self,
        session: AsyncSession,
        scope: TenantScope,
        actor: Actor,
        invoice_id: uuid.UUID,
        *,
        amount: Decimal,
        currency: str | None,
        method: PaymentMethodKind,
        reference: str | None,
        received_at: datetime | None,
    ) -> Payment:
        invoice = await InvoiceRepository(session, scope).for_update(invoice_id)
        if invoice is None:
            raise NotFound("invoice", field="invoiceId")
        if invoice.kind is InvoiceKind.WHOLESALE and not scope.all_tenants:
            raise Forbidden(
                "the platform records what it is paid: pay its invoice with payInvoice",
                field="invoiceId",
            )
        if method not in RECORDABLE:
            raise ValidationFailed(
                "record a bank transfer, a cheque or another method; a card is charged with"
                " payInvoice",
                field="method",
            )
        if invoice.status is not InvoiceStatus.OPEN:
            raise DomainError(
                f"payments are recorded against OPEN invoices; this one is {invoice.status}",
                field="invoiceId",
                code=ErrorCode.INVOICE_NOT_OPEN,
            )
        if currency is not None and currency != invoice.currency:
            raise ValidationFailed(
                f"the invoice is in {invoice.currency}, not {currency}", field="currency"
            )
        places = minor_units(invoice.currency)
        if amount.is_finite() and abs(amount) < 10**14:
            exact = amount.quantize(Decimal(1).scaleb(-places))
            if exact == amount:
                amount = exact  # "12.500000" is 12.50: trailing zeros are no extra precision
        amount = bounded_decimal(amount, field="amount", digits=20, places=places)
        due = invoice.total - invoice.amount_paid
        if amount <= 0:
            raise ValidationFailed("amount must be more than zero", field="amount")
        if amount > due:
            raise Overpayment(
                f"only {due} {invoice.currency} is due; a payment of {amount} is more",
                field="amount",
            )
        now = self.clock()
        when = received_at or now
        if when > now + CLOCK_SKEW:
            raise ValidationFailed("receivedAt is in the future", field="receivedAt")
        if invoice.issued_at is not None and when < invoice.issued_at - timedelta(days=1):
            raise ValidationFailed(
                "receivedAt is before the invoice was issued", field="receivedAt"
            )
        payment = Payment(
            reseller_id=invoice.reseller_id,
            id=new_id(),
            invoice_id=invoice.id,
            customer_id=invoice.customer_id,
            amount=amount,
            currency=invoice.currency,
            method=method,
            status=PaymentStatus.SUCCEEDED,
            trigger=PaymentTrigger.RECORDED,
            attempt=1,
            reference=optional_text(reference, field="reference"),
            paid_at=when,
            created_at=now,
        )
        session.add(payment)
        invoice.amount_paid += amount
        await session.flush()
        record(
            session,
            actor,
            "payment.recorded",
            "Payment",
            payment.id,
            invoice.reseller_id,
            invoice_id=str(invoice.id),
            number=invoice.number,
            amount=str(amount),
            currency=invoice.currency,
            method=str(method),
            reference=payment.reference,
        )
        await record_payment_event(session, payment)
        if invoice.amount_paid >= invoice.total:
            await self.lifecycle.update_status(
                session, scope, actor, invoice.id, InvoiceStatus.CLOSED
            )
            if invoice.kind is InvoiceKind.WHOLESALE:
                await self.dunning.paid_up(session, invoice.reseller_id, actor, self.clock())
        return payment
