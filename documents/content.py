"""What a document says, read from the database within the caller's scope: every format (PDF,
CSV, detailed CSV, print view) is drawn from these objects and nothing else."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import statements
from billing.catalog import Catalog
from billing.invoices import FieldDefinitionRepository, InvoiceChildren, InvoiceRepository
from billing.lifecycle import seller_branding
from billing.models import (
    Invoice,
    InvoiceKind,
    InvoiceSnapshot,
    InvoiceStatus,
    InvoiceVersion,
    Payment,
    PaymentMethodKind,
    PaymentStatus,
)
from billing.subscriptions import UsageRepository
from billing.versions import SELLER_FIELDS, InvoiceSnapshotRepository, version_of
from db.scope import TenantScope
from notifications.branding import Branding, branding_of
from payments.models import PaymentMethod
from tenants.repositories import CustomerRepository, ResellerRepository


@dataclass(frozen=True, slots=True)
class Seller:
    name: str
    address_lines: list[str]
    logo_data_uri: str | None  # embedded: rendering never fetches anything
    control_panel_url: str | None
    website_url: str | None
    tax_id: str | None = None
    payment_instruction_lines: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, branding: Branding) -> Seller:
        logo = None
        if branding.logo and branding.logo_content_type in ("image/png", "image/jpeg"):
            encoded = base64.b64encode(branding.logo).decode("ascii")
            logo = f"data:{branding.logo_content_type};base64,{encoded}"
        return cls(
            name=branding.name,
            address_lines=branding.address_lines,
            logo_data_uri=logo,
            control_panel_url=branding.control_panel_url,
            website_url=branding.website_url,
            tax_id=branding.tax_id,
            payment_instruction_lines=branding.payment_instruction_lines,
        )


@dataclass(frozen=True, slots=True)
class Buyer:
    name: str
    email: str | None = None
    tax_id: str | None = None
    address: str | None = None

    @property
    def address_lines(self) -> list[str]:
        return [line.strip() for line in (self.address or "").splitlines() if line.strip()]


@dataclass(frozen=True, slots=True)
class Line:
    id: uuid.UUID
    position: int
    sku: str
    description: str
    kind: str  # RECURRING or USAGE
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal
    service_start: date
    service_end: date


@dataclass(frozen=True, slots=True)
class Charge:
    """One charge behind a line: a subscription's proration, or one usage record."""

    line: int  # the line's position
    sku: str
    description: str
    source: str  # SUBSCRIPTION or USAGE
    reference: str  # the subscription id, or the usage record's reference (else its id)
    start_date: date
    end_date: date
    quantity: Decimal
    unit_price: Decimal
    days: int | None
    period_days: int | None
    amount: Decimal


@dataclass(frozen=True, slots=True)
class InvoiceDocument:
    id: uuid.UUID
    reseller_id: uuid.UUID
    document_id: str
    number: str | None
    status: InvoiceStatus
    wholesale: bool
    seller: Seller
    buyer: Buyer
    vendor: str
    period_start: date
    period_end: date
    currency: str
    issued_on: date | None
    due_date: date | None
    lines: list[Line]
    charges: list[Charge]
    subtotal: Decimal
    tax_rate: Decimal
    tax: Decimal
    total: Decimal
    amount_paid: Decimal
    custom_fields: list[tuple[str, str]]
    # The version drawn (ISSUED, PAID, VOID): None for a draft, or an invoice posted before
    # versions were kept (drawn from its seller and buyer as they are now).
    version: InvoiceVersion | None = None
    paid_by_card: str | None = None  # the last four digits of the card that settled it

    @property
    def amount_due(self) -> Decimal:
        return self.total - self.amount_paid

    @property
    def reference(self) -> str:
        """What names it in a file name or a title: its number, or its document id as a draft."""
        return self.number or self.document_id

    @property
    def filename_stem(self) -> str:
        return f"invoice-{self.reference}"


@dataclass(frozen=True, slots=True)
class StatementLine:
    """An invoice line of an invoice on a statement (its detailed CSV), with what the line's row
    says of its invoice: a VOID one is on the statement too, reversed."""

    invoice: str
    line: Line
    status: str | None = None
    issued_on: date | None = None
    due_date: date | None = None


@dataclass(frozen=True, slots=True)
class StatementDocument:
    owner_type: str  # Customer or Reseller
    owner_id: uuid.UUID
    seller: Seller
    buyer: Buyer
    statement: statements.Statement
    lines: list[StatementLine] = field(default_factory=list)

    @property
    def currency(self) -> str:
        return self.statement.currency

    @property
    def filename_stem(self) -> str:
        s = self.statement
        return f"statement-{_slug(self.buyer.name)}-{s.start.isoformat()}-{s.end.isoformat()}"


def _slug(name: str) -> str:
    kept = "".join(c if c.isalnum() else "-" for c in name.lower())
    return "-".join(part for part in kept.split("-") if part)[:40] or "account"


async def invoice_document(
    session: AsyncSession,
    scope: TenantScope,
    invoice_id: uuid.UUID,
    version: InvoiceVersion | None = None,
) -> InvoiceDocument | None:
    """The invoice as its documents show it: a posted one in ``version`` (by default the
    version of its current status), from that version's snapshot; None when the scope does
    not see it, or it has no such version."""
    invoice = await InvoiceRepository(session, scope).get(invoice_id)
    if invoice is None:
        return None
    wanted = version or version_of(invoice.status)
    snapshot = None
    if wanted is not None:
        snapshot = await InvoiceSnapshotRepository(session, scope).of_invoice(invoice.id, wanted)
        if snapshot is None and version is not None:
            return None
    lines = await _lines(session, scope, [invoice])
    charges = (await InvoiceChildren(session, scope).charges([invoice.id])).get(invoice.id, [])
    line_of = {line.id: line for line in lines.get(invoice.id, [])}
    usage = await UsageRepository(session, scope).by_ids(
        c.usage_record_id for c in charges if c.usage_record_id is not None
    )
    vendor = (await Catalog(session).vendors_by_ids([invoice.vendor_id]))[invoice.vendor_id]
    wholesale = invoice.kind is InvoiceKind.WHOLESALE
    branding = await seller_branding(session, invoice)
    charge_rows = []
    for c in charges:
        line = line_of[c.line_id]
        if c.usage_record_id is not None:
            record = usage.get(c.usage_record_id)
            source, reference = (
                "USAGE",
                (record.reference if record else None) or str(c.usage_record_id),
            )
        else:
            source, reference = "SUBSCRIPTION", str(c.subscription_id)
        charge_rows.append(
            Charge(
                line=line.position,
                sku=line.sku,
                description=line.description,
                source=source,
                reference=reference,
                start_date=c.start_date,
                end_date=c.end_date,
                quantity=c.quantity,
                unit_price=c.unit_price,
                days=c.days,
                period_days=c.period_days,
                amount=c.amount,
            )
        )
    charge_rows.sort(key=lambda c: (c.line, c.start_date, c.reference))
    document = InvoiceDocument(
        id=invoice.id,
        reseller_id=invoice.reseller_id,
        document_id=invoice.document_id,
        number=invoice.number,
        status=invoice.status,
        wholesale=wholesale,
        seller=Seller.of(branding),
        buyer=await _buyer(session, scope, invoice),
        vendor=vendor.name,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        currency=invoice.currency,
        issued_on=invoice.issued_at.date() if invoice.issued_at else None,
        due_date=invoice.due_date,
        lines=lines.get(invoice.id, []),
        charges=charge_rows,
        subtotal=invoice.subtotal,
        tax_rate=invoice.tax_rate,
        tax=invoice.tax,
        total=invoice.total,
        amount_paid=invoice.amount_paid,
        custom_fields=await _custom_fields(session, scope, invoice),
    )
    if snapshot is None:
        return document
    return await _as_kept(session, scope, document, snapshot)


async def _as_kept(
    session: AsyncSession, scope: TenantScope, doc: InvoiceDocument, snapshot: InvoiceSnapshot
) -> InvoiceDocument:
    """The document of one kept version: what could have changed since is read from its
    snapshot; the invoice's own rows are frozen once posted."""
    seller = dict(snapshot.seller)
    branding = Branding(
        name=str(seller.pop("name", doc.seller.name)),
        logo=snapshot.logo,
        logo_content_type=snapshot.logo_content_type,
        **{k: v for k, v in seller.items() if k in SELLER_FIELDS},
    )
    buyer = snapshot.buyer
    card = None
    if snapshot.status is InvoiceStatus.CLOSED:
        card = await _card_last4(session, scope, doc.reseller_id, doc.id)
    return replace(
        doc,
        status=snapshot.status,
        amount_paid=snapshot.amount_paid,
        seller=Seller.of(branding),
        buyer=Buyer(
            buyer.get("name") or doc.buyer.name,
            buyer.get("email"),
            buyer.get("tax_id"),
            buyer.get("address"),
        ),
        version=snapshot.version,
        paid_by_card=card,
    )


async def _card_last4(
    session: AsyncSession, scope: TenantScope, reseller_id: uuid.UUID, invoice_id: uuid.UUID
) -> str | None:
    """The card of the card payment that settled the invoice (its last successful one); cards
    on file are never rewritten, a new card is a new row, so this reads the same later."""
    statement = scope.filter(
        select(PaymentMethod.last4)
        .join(
            Payment,
            (Payment.reseller_id == PaymentMethod.reseller_id)
            & (Payment.payment_method_id == PaymentMethod.id),
        )
        .where(
            Payment.reseller_id == reseller_id,
            Payment.invoice_id == invoice_id,
            Payment.method == PaymentMethodKind.CARD,
            Payment.status == PaymentStatus.SUCCEEDED,
        )
        .order_by(Payment.paid_at.desc()),
        Payment.reseller_id,
    )
    return (await session.scalars(statement)).first()


async def _lines(
    session: AsyncSession, scope: TenantScope, invoices: list[Invoice]
) -> dict[uuid.UUID, list[Line]]:
    rows = await InvoiceChildren(session, scope).lines(i.id for i in invoices)
    products = await Catalog(session).products_by_ids(
        line.product_id for lines in rows.values() for line in lines
    )
    return {
        invoice_id: [
            Line(
                id=row.id,
                position=row.position,
                sku=products[row.product_id].sku,
                description=row.description,
                kind=str(row.kind),
                quantity=row.quantity,
                unit=products[row.product_id].unit,
                unit_price=row.unit_price,
                amount=row.amount,
                service_start=row.service_start,
                service_end=row.service_end,
            )
            for row in lines
        ]
        for invoice_id, lines in rows.items()
    }


async def _buyer(session: AsyncSession, scope: TenantScope, invoice: Invoice) -> Buyer:
    if invoice.customer_id is not None:
        customer = await CustomerRepository(session, scope).get(invoice.customer_id)
        if customer is not None:
            return Buyer(invoice.buyer_name, invoice.buyer_email, customer.tax_id, customer.address)
    return Buyer(invoice.buyer_name, invoice.buyer_email)


async def _custom_fields(
    session: AsyncSession, scope: TenantScope, invoice: Invoice
) -> list[tuple[str, str]]:
    values = {k: str(v) for k, v in (invoice.custom_fields or {}).items() if v not in (None, "")}
    if not values:
        return []
    definitions = await FieldDefinitionRepository(session, scope).of_reseller(invoice.reseller_id)
    shown = [(d.label, values.pop(d.key)) for d in definitions if d.key in values]
    return shown + sorted(values.items())  # values of fields removed since stay on the invoice


async def statement_document(
    session: AsyncSession,
    scope: TenantScope,
    owner_type: str,
    owner_id: uuid.UUID,
    start: date,
    end: date,
    platform_name: str,
) -> StatementDocument | None:
    """A customer's statement (from its reseller) or a reseller's (from the platform); None when
    the scope does not see the account."""
    if owner_type == "Customer":
        customer = await CustomerRepository(session, scope).get(owner_id)
        if customer is None:
            return None
        reseller = await ResellerRepository(session, scope).get(customer.reseller_id)
        seller_name = reseller.name if reseller else platform_name
        found = await statements.customer_statement(session, scope, owner_id, start, end)
        branding = await branding_of(session, customer.reseller_id, seller_name)
        buyer = Buyer(customer.name, customer.email, customer.tax_id, customer.address)
    elif owner_type == "Reseller":
        reseller = await ResellerRepository(session, scope).get(owner_id)
        if reseller is None:
            return None
        found = await statements.reseller_statement(session, scope, owner_id, start, end)
        branding = await branding_of(session, None, platform_name)
        buyer = Buyer(reseller.name)
    else:
        return None
    invoice_ids = [e.invoice_id for e in found.entries if e.kind == "INVOICE"]
    invoices = await InvoiceRepository(session, scope).by_ids(invoice_ids)
    lines = await _lines(session, scope, list(invoices.values()))
    detailed = []
    for entry in found.entries:
        if entry.kind != "INVOICE":
            continue
        invoice = invoices[entry.invoice_id]
        reference = invoice.number or invoice.document_id
        detailed += [
            StatementLine(reference, line, str(invoice.status), entry.on, invoice.due_date)
            for line in lines.get(invoice.id, [])
        ]
    return StatementDocument(owner_type, owner_id, Seller.of(branding), buyer, found, detailed)
