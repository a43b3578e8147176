"""The invoice state machine (domain.md):

    DRAFT --post--> OPEN --settle--> CLOSED
      |               `---void--> VOID     (only with nothing paid)
      `--discard--> (deleted)

Nothing leaves CLOSED or VOID; nothing returns to DRAFT. Posting assigns the number from the
seller's counter row in the same transaction, so a number is used only if the posting commits.
Every change is audited, and may queue an email to the buyer, in that same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from billing import snapshots
from billing.invoices import (
    FieldDefinitionRepository,
    InvoiceCounterRepository,
    InvoiceRepository,
)
from billing.models import (
    FieldType,
    Invoice,
    InvoiceFieldDefinition,
    InvoiceKind,
    InvoiceStatus,
    Payment,
    PaymentMethodKind,
    PaymentStatus,
)
from billing.versions import take_snapshot, version_of
from core.clock import utcnow
from core.errors import DomainError, ErrorCode, Forbidden, NotFound, Problem, ValidationFailed
from core.ids import new_id
from core.validation import normalize_email, required_text
from db.scope import PLATFORM_TENANT_ID, TenantScope
from events import log as events
from jobs import queue
from notifications.branding import Branding, branding_of
from notifications.emails import Composer, InvoiceFacts
from notifications.models import NotificationEvent, NotificationOrigin, invoice_pdf
from notifications.outbox import enqueue
from tenants.audit import Actor, record
from tenants.models import Reseller
from tenants.repositories import CustomerRepository, ResellerRepository, UserRepository

_FORWARD: dict[InvoiceStatus, tuple[InvoiceStatus, ...]] = {
    InvoiceStatus.DRAFT: (InvoiceStatus.OPEN,),
    InvoiceStatus.OPEN: (InvoiceStatus.CLOSED, InvoiceStatus.VOID),
    InvoiceStatus.CLOSED: (),
    InvoiceStatus.VOID: (),
}
_ACTIONS = {
    InvoiceStatus.OPEN: "invoice.posted",
    InvoiceStatus.CLOSED: "invoice.closed",
    InvoiceStatus.VOID: "invoice.voided",
}
# The event integrators see for each status (events.types).
_EVENT_TYPES = {
    InvoiceStatus.OPEN: "invoice.posted",
    InvoiceStatus.CLOSED: "invoice.paid",
    InvoiceStatus.VOID: "invoice.voided",
}
# The email of each status: what the buyer is told, and the event a seller may turn off.
_STATUS_EVENTS = {
    InvoiceStatus.OPEN: NotificationEvent.INVOICE_POSTED,
    InvoiceStatus.CLOSED: NotificationEvent.INVOICE_PAID,
    InvoiceStatus.VOID: NotificationEvent.INVOICE_VOIDED,
}
MAX_TEXT = 500
MAX_RECIPIENTS = 10
COLLECT_INVOICE = "payments.collect"  # the job that charges a posted invoice (payments)


class InvalidTransition(DomainError):
    code = ErrorCode.INVALID_TRANSITION


def allowed_transitions(invoice: Invoice) -> list[InvoiceStatus]:
    """What the status may become now: VOID only while nothing is paid."""
    return [
        status
        for status in _FORWARD[invoice.status]
        if not (status is InvoiceStatus.VOID and invoice.amount_paid > 0)
    ]


@dataclass(frozen=True, slots=True)
class BillingPolicy:
    platform_name: str = "channelbill"
    platform_prefix: str = "CB"
    payment_terms_days: int = 30


class InvoiceLifecycle:
    """Status changes, discarding, custom field values; always in the caller's transaction."""

    def __init__(self, composer: Composer, policy: BillingPolicy) -> None:
        self.composer = composer
        self.policy = policy

    async def _invoice(self, session: AsyncSession, scope: TenantScope, id_: uuid.UUID) -> Invoice:
        invoice = await InvoiceRepository(session, scope).for_update(id_)
        if invoice is None:
            raise NotFound("invoice", field="invoiceId")
        if invoice.kind is InvoiceKind.WHOLESALE and not scope.all_tenants:
            raise Forbidden(
                "the platform issues this invoice: only it can change it", field="invoiceId"
            )
        return invoice

    async def update_status(
        self,
        session: AsyncSession,
        scope: TenantScope,
        actor: Actor,
        invoice_id: uuid.UUID,
        status: InvoiceStatus,
        notify: bool = True,
    ) -> Invoice:
        invoice = await self._invoice(session, scope, invoice_id)
        before = invoice.status
        if status not in allowed_transitions(invoice):
            raise InvalidTransition(self._refusal(invoice, status), field="status")
        now = utcnow()
        if status is InvoiceStatus.OPEN:
            await self._require_custom_fields(session, scope, invoice)
            seller = None
            if invoice.kind is InvoiceKind.RETAIL:
                seller = await ResellerRepository(session, scope).get(invoice.reseller_id)
            invoice.issued_at = now
            issued_on = now.astimezone(ZoneInfo(seller.timezone if seller else "UTC")).date()
            invoice.number = await self._next_number(session, invoice, seller, issued_on)
            invoice.due_date = issued_on + timedelta(days=self.policy.payment_terms_days)
            if invoice.kind is InvoiceKind.WHOLESALE:
                await self._autopay(session, invoice)
        elif status is InvoiceStatus.CLOSED:
            due = invoice.total - invoice.amount_paid
            if due > 0:
                payment = Payment(
                    reseller_id=invoice.reseller_id,
                    id=new_id(),
                    invoice_id=invoice.id,
                    customer_id=invoice.customer_id,
                    amount=due,
                    currency=invoice.currency,
                    method=PaymentMethodKind.OUT_OF_BAND,
                    status=PaymentStatus.SUCCEEDED,
                    attempt=1,
                    paid_at=now,
                )
                session.add(payment)
                await session.flush()
                await record_payment_event(session, payment)
            invoice.amount_paid = invoice.total
            invoice.closed_at = now
        elif status is InvoiceStatus.VOID:
            invoice.voided_at = now
        invoice.status = status
        await session.flush()
        brand = await seller_branding(session, invoice)
        await take_snapshot(session, scope, invoice, brand)
        record(
            session,
            actor,
            _ACTIONS[status],
            "Invoice",
            invoice.id,
            invoice.reseller_id,
            number=invoice.number,
            status_from=str(before),
            status_to=str(status),
            notify=notify,
        )
        await record_invoice_event(session, _EVENT_TYPES[status], invoice)
        if notify:
            await self._notify(session, scope, invoice, _STATUS_EVENTS[status], brand)
        return invoice

    @staticmethod
    async def _autopay(session: AsyncSession, invoice: Invoice) -> None:
        """A reseller with autopay on is charged for the platform's invoice once it is posted:
        the job is queued in the posting's transaction, so it is charged if and only if the
        posting commits (the job does nothing when there is no card on file)."""
        buyer = await session.get(Reseller, invoice.reseller_id)
        if buyer is not None and buyer.autopay:
            await queue.schedule(
                session,
                reseller_id=invoice.reseller_id,
                kind=COLLECT_INVOICE,
                key=f"{COLLECT_INVOICE}:{invoice.id}",
                payload={"invoice": str(invoice.id)},
            )

    @staticmethod
    def _refusal(invoice: Invoice, wanted: InvoiceStatus) -> str:
        if invoice.status is wanted:
            return f"the invoice is already {wanted}"
        if wanted is InvoiceStatus.DRAFT:
            return "an invoice that left DRAFT can never be DRAFT again"
        if invoice.status in (InvoiceStatus.CLOSED, InvoiceStatus.VOID):
            return f"a {invoice.status} invoice is final"
        if wanted is InvoiceStatus.VOID and invoice.status is InvoiceStatus.OPEN:
            return "an invoice with payments cannot be voided"
        options = " or ".join(allowed_transitions(invoice)) or "nothing"
        return f"a {invoice.status} invoice can become {options}, not {wanted}"

    async def discard(
        self, session: AsyncSession, scope: TenantScope, actor: Actor, invoice_id: uuid.UUID
    ) -> Invoice:
        """Delete a draft with its lines: it never had a number, so none is lost."""
        invoice = await self._invoice(session, scope, invoice_id)
        if invoice.status is not InvoiceStatus.DRAFT:
            raise InvalidTransition(
                f"only a DRAFT can be discarded; this invoice is {invoice.status}",
                field="invoiceId",
            )
        await session.execute(
            delete(Invoice).where(
                Invoice.reseller_id == invoice.reseller_id, Invoice.id == invoice.id
            )
        )
        record(
            session,
            actor,
            "invoice.discarded",
            "Invoice",
            invoice.id,
            invoice.reseller_id,
            document_id=invoice.document_id,
            total=str(invoice.total),
        )
        await record_invoice_event(session, "invoice.discarded", invoice)
        return invoice

    async def set_custom_fields(
        self,
        session: AsyncSession,
        scope: TenantScope,
        actor: Actor,
        invoice_id: uuid.UUID,
        values: Sequence[tuple[str, str | None]],
    ) -> Invoice:
        """Set (or, with no value, clear) custom field values of a draft."""
        invoice = await self._invoice(session, scope, invoice_id)
        if invoice.status is not InvoiceStatus.DRAFT:
            raise InvalidTransition(
                "custom fields change only while the invoice is a DRAFT", field="invoiceId"
            )
        if invoice.kind is not InvoiceKind.RETAIL:
            raise ValidationFailed("platform invoices have no custom fields", field="invoiceId")
        definitions = {
            d.key: d
            for d in await FieldDefinitionRepository(session, scope).of_reseller(
                invoice.reseller_id
            )
        }
        current = dict(invoice.custom_fields or {})
        problems: list[Problem] = []
        keys: set[str] = set()
        for n, (key, value) in enumerate(values):
            # matched as define_custom_field keeps a key: trimmed and lower-case
            definition = definitions.get((key or "").strip().lower())
            if definition is None:
                problems.append(
                    Problem(ErrorCode.NOT_FOUND, f"no custom field {key!r}", f"values.{n}.key")
                )
                continue
            keys.add(definition.key)
            if value is None or not value.strip():
                current.pop(definition.key, None)
                continue
            try:
                current[definition.key] = clean_value(definition, value, field=f"values.{n}.value")
            except ValidationFailed as error:
                problems.extend(error.problems)
        if problems:
            raise ValidationFailed.many(problems)
        invoice.custom_fields = current
        await session.flush()
        record(
            session,
            actor,
            "invoice.custom_fields_set",
            "Invoice",
            invoice.id,
            invoice.reseller_id,
            keys=sorted(keys),
        )
        return invoice

    async def _require_custom_fields(
        self, session: AsyncSession, scope: TenantScope, invoice: Invoice
    ) -> None:
        if invoice.kind is not InvoiceKind.RETAIL:
            return
        definitions = await FieldDefinitionRepository(session, scope).of_reseller(
            invoice.reseller_id
        )
        values = invoice.custom_fields or {}
        missing = [
            Problem(
                ErrorCode.CUSTOM_FIELD_REQUIRED,
                f"{d.label!r} must have a value before the invoice is posted",
                f"customFields.{d.key}",
            )
            for d in definitions
            if d.required and not values.get(d.key)
        ]
        if missing:
            raise ValidationFailed.many(missing)

    async def _next_number(
        self, session: AsyncSession, invoice: Invoice, seller: Reseller | None, issued_on: date
    ) -> str:
        """Take the seller's next number: the counter row stays locked until the transaction
        ends, so concurrent postings queue, and a rollback gives the number back."""
        counters = InvoiceCounterRepository(session)
        if seller is None:
            number = await counters.take_next(PLATFORM_TENANT_ID)
            return f"{self.policy.platform_prefix}-{issued_on.year}-{number:06d}"
        number = await counters.take_next(seller.id)
        return f"{seller.invoice_prefix}-{issued_on.year}-{number:06d}"

    async def _notify(
        self,
        session: AsyncSession,
        scope: TenantScope,
        invoice: Invoice,
        event: NotificationEvent,
        brand: Branding,
    ) -> None:
        """Email the buyer, branded as its seller, unless the seller turned the event off."""
        if not brand.enabled(event):
            return
        recipients = await self._buyer_emails(session, scope, invoice)
        attach = event is NotificationEvent.INVOICE_POSTED and brand.attach_invoice_pdf
        self._queue(session, invoice, event, recipients, brand, attach, NotificationOrigin.EVENT)

    async def send(
        self,
        session: AsyncSession,
        scope: TenantScope,
        actor: Actor,
        invoice_id: uuid.UUID,
        to: Sequence[str] | None = None,
    ) -> tuple[Invoice, list[str]]:
        """Email a copy of a posted invoice, its PDF attached, to ``to`` (by default the buyer's
        billing address): the message of its status, whatever events the seller turned off,
        since someone asked for it."""
        invoice = await self._invoice(session, scope, invoice_id)
        event = _STATUS_EVENTS.get(invoice.status)
        if event is None:
            raise ValidationFailed(
                "a DRAFT is not sent to anyone: post it first",
                field="invoiceId",
                code=ErrorCode.INVOICE_NOT_POSTED,
            )
        if to:
            recipients = _recipients(to)
        else:
            recipients = await self._buyer_emails(session, scope, invoice)
            if not recipients:
                raise ValidationFailed("the buyer has no billing email: name one", field="to")
        brand = await seller_branding(session, invoice)
        self._queue(session, invoice, event, recipients, brand, True, NotificationOrigin.COPY)
        record(
            session,
            actor,
            "invoice.sent",
            "Invoice",
            invoice.id,
            invoice.reseller_id,
            number=invoice.number,
            recipients=recipients,
        )
        await session.flush()
        return invoice, recipients

    def _queue(
        self,
        session: AsyncSession,
        invoice: Invoice,
        event: NotificationEvent,
        recipients: Sequence[str],
        brand: Branding,
        attach: bool,
        origin: NotificationOrigin,
    ) -> None:
        """Queue ``event``'s email about ``invoice`` to each recipient (the caller's transaction);
        with ``attach``, the dispatcher adds the PDF of the invoice's current version when it
        sends: the version of this event, whatever the invoice has become by then."""
        facts = facts_of(invoice)
        version = version_of(invoice.status)
        for to in recipients:
            enqueue(
                session,
                self.composer.invoice(event, to, brand, facts, attached=attach),
                event=event,
                reseller_id=invoice.reseller_id,
                about_type="Invoice",
                about_id=invoice.id,
                attachment=invoice_pdf(version) if attach else None,
                origin=origin,
            )

    async def _buyer_emails(
        self, session: AsyncSession, scope: TenantScope, invoice: Invoice
    ) -> list[str]:
        """A customer's billing email as it is now; a reseller's users with billing access."""
        if invoice.customer_id is not None:
            customer = await CustomerRepository(session, scope).get(invoice.customer_id)
            return [customer.email] if customer else []
        return await UserRepository(session, scope).billing_emails(invoice.reseller_id)


async def seller_branding(session: AsyncSession, invoice: Invoice) -> Branding:
    """The invoice's seller as its emails show it: a reseller's settings, or the platform's."""
    return await branding_of(
        session,
        invoice.reseller_id if invoice.kind is InvoiceKind.RETAIL else None,
        invoice.seller_name,
    )


def facts_of(invoice: Invoice) -> InvoiceFacts:
    return InvoiceFacts(
        seller=invoice.seller_name,
        buyer=invoice.buyer_name,
        label=invoice.number or invoice.document_id,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        currency=invoice.currency,
        total=invoice.total,
        amount_due=invoice.total - invoice.amount_paid,
        due_date=invoice.due_date,
    )


def _recipients(to: Sequence[str]) -> list[str]:
    """Valid addresses, each once, at most MAX_RECIPIENTS; every bad one reported."""
    if len(to) > MAX_RECIPIENTS:
        raise ValidationFailed(f"at most {MAX_RECIPIENTS} recipients", field="to")
    found: list[str] = []
    problems: list[Problem] = []
    for n, address in enumerate(to):
        try:
            email = normalize_email(address, field=f"to.{n}")
        except ValidationFailed as error:
            problems.extend(error.problems)
            continue
        if email not in found:
            found.append(email)
    if problems:
        raise ValidationFailed.many(problems)
    return found


def clean_value(definition: InvoiceFieldDefinition, value: str, *, field: str) -> str:
    text = value.strip()
    if definition.type is FieldType.NUMBER:
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValidationFailed(f"{definition.label!r} must be a number", field=field) from None
        if not number.is_finite():
            raise ValidationFailed(f"{definition.label!r} must be a number", field=field)
        return str(number)
    if definition.type is FieldType.DATE:
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValidationFailed(
                f"{definition.label!r} must be a date (YYYY-MM-DD)", field=field
            ) from None
    if len(text) > MAX_TEXT:
        raise ValidationFailed(f"{definition.label!r} is longer than {MAX_TEXT}", field=field)
    return text


# Custom field definitions -----------------------------------------------------------------------

_KEY_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


async def define_custom_field(
    session: AsyncSession,
    scope: TenantScope,
    actor: Actor,
    reseller_id: uuid.UUID,
    key: str,
    label: str,
    type_: FieldType,
    required: bool,
    position: int | None = None,
) -> InvoiceFieldDefinition:
    """Add or change a custom invoice field of a reseller (its key is its identity)."""
    clean_key = (key or "").strip().lower()
    if not clean_key or len(clean_key) > 40 or not set(clean_key) <= _KEY_CHARS:
        raise ValidationFailed("key may hold a-z, 0-9 and '_' (at most 40)", field="key")
    repo = FieldDefinitionRepository(session, scope)
    existing = {d.key: d for d in await repo.of_reseller(reseller_id)}
    row = existing.get(clean_key)
    if row is None:
        row = repo.add(
            InvoiceFieldDefinition(
                reseller_id=reseller_id,
                id=new_id(),
                key=clean_key,
                position=len(existing) if position is None else position,
            )
        )
    elif position is not None:
        row.position = position
    row.label = required_text(label, field="label", max_length=100)
    row.type = type_
    row.required = required
    await session.flush()
    record(
        session,
        actor,
        "invoice_field.defined",
        "InvoiceFieldDefinition",
        row.id,
        reseller_id,
        key=clean_key,
        required=required,
        type=str(type_),
    )
    return row


async def remove_custom_field(
    session: AsyncSession, scope: TenantScope, actor: Actor, reseller_id: uuid.UUID, key: str
) -> InvoiceFieldDefinition:
    """Stop asking for a field; values already on invoices stay (posted ones never change)."""
    repo = FieldDefinitionRepository(session, scope)
    row = {d.key: d for d in await repo.of_reseller(reseller_id)}.get((key or "").strip().lower())
    if row is None:
        raise NotFound("custom field", field="key")
    await session.execute(
        delete(InvoiceFieldDefinition).where(
            InvoiceFieldDefinition.reseller_id == row.reseller_id,
            InvoiceFieldDefinition.id == row.id,
        )
    )
    record(
        session,
        actor,
        "invoice_field.removed",
        "InvoiceFieldDefinition",
        row.id,
        reseller_id,
        key=row.key,
    )
    return row


async def record_invoice_event(session: AsyncSession, type_: str, invoice: Invoice | Any) -> None:
    """``invoice``: an Invoice, or a billing run's new row with its attributes."""
    await events.record(
        session,
        type_,
        reseller_id=invoice.reseller_id,
        object_type="Invoice",
        object_id=invoice.id,
        payload=snapshots.invoice(invoice),
        customer_id=invoice.customer_id,
    )


async def record_payment_event(session: AsyncSession, payment: Payment) -> None:
    """payment.succeeded or payment.failed, once the attempt has its outcome."""
    if payment.status is PaymentStatus.PENDING:
        return
    await events.record(
        session,
        "payment.succeeded" if payment.status is PaymentStatus.SUCCEEDED else "payment.failed",
        reseller_id=payment.reseller_id,
        object_type="Payment",
        object_id=payment.id,
        payload=snapshots.payment(payment),
        customer_id=payment.customer_id,
    )
