"""Invoices: the type (every field of it is billing data), the invoices connection, the billing run
and the lifecycle mutations; custom invoice fields.

An Invoice is reached only through fields guarded by billing access (the connection, node(id:),
the mutations' payloads), so its own fields are plain attributes: a page of 50 invoices with lines
costs no permission check per field.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from billing import lifecycle, models
from billing.catalog import Catalog
from billing.generation import BillingRun, RunRequest, RunResult, Skipped
from billing.invoices import (
    FieldDefinitionRepository,
    InvoiceChildren,
    InvoiceQuery,
    InvoiceRepository,
)
from billing.rates import rate_on
from core.clock import utcnow
from core.currency import normalize_currency, quantize
from core.errors import Forbidden, NotFound
from db.scope import PLATFORM_TENANT_ID, TenantScope
from documents.links import InvoiceTarget
from limits.idempotency import IdempotentRequest
from notifications import quota
from schema.catalog import Product, ProductKind, Vendor
from schema.context import Info
from schema.customers import Customer
from schema.documents import DOWNLOAD_URL, FORMAT, DocumentFormat, download_url
from schema.enums import described_enum
from schema.errors import Payload
from schema.money import Money
from schema.mutations import INPUT, respond
from schema.notifications import Notification, notifications_of
from schema.permissions import (
    BillingAccess,
    CanReadCustomers,
    CanReadTenant,
    billing_field,
    billing_mutation,
)
from schema.prices import PriceSource
from schema.relay import (
    After,
    Before,
    Connection,
    First,
    Last,
    Node,
    decode_id,
    page_request,
    resolve_connection,
    selects,
    to_global_id,
)
from schema.scalars import CurrencyCode

InvoiceStatus = described_enum(
    models.InvoiceStatus,
    description="DRAFT (invisible to the buyer) -> OPEN (posted, numbered) -> CLOSED or VOID.",
    values={
        models.InvoiceStatus.DRAFT: "Being prepared: unnumbered, invisible to the buyer.",
        models.InvoiceStatus.OPEN: "Posted: numbered, sent to the buyer, awaiting payment.",
        models.InvoiceStatus.CLOSED: "Settled; nothing more is due.",
        models.InvoiceStatus.VOID: "Cancelled after posting; nothing is due.",
    },
)
FieldType = described_enum(
    models.FieldType,
    description="The type of a custom field's value.",
    values={
        models.FieldType.TEXT: "Any text.",
        models.FieldType.NUMBER: "A decimal number.",
        models.FieldType.DATE: "An ISO 8601 date.",
    },
)
PaymentStatus = described_enum(
    models.PaymentStatus,
    description="Whether a payment went through.",
    values={
        models.PaymentStatus.PENDING: "Sent to the gateway, its answer not yet in.",
        models.PaymentStatus.SUCCEEDED: "The money was taken (or received, when recorded).",
        models.PaymentStatus.FAILED: "Declined, or never reached the gateway: nothing was taken.",
    },
)
PaymentMethodKind = described_enum(
    models.PaymentMethodKind,
    description="How a payment was made: a card through the gateway, or recorded by hand.",
    values={
        models.PaymentMethodKind.CARD: "Charged to the card on file through the gateway.",
        models.PaymentMethodKind.BANK_TRANSFER: "A bank transfer, recorded by hand.",
        models.PaymentMethodKind.CHEQUE: "A cheque, recorded by hand.",
        models.PaymentMethodKind.OTHER: "Another way, recorded by hand.",
        models.PaymentMethodKind.OUT_OF_BAND: "The invoice was marked paid in full"
        " (updateInvoiceStatus CLOSED).",
    },
)
PaymentTrigger = described_enum(
    models.PaymentTrigger,
    description="Who started a payment.",
    values={
        models.PaymentTrigger.AUTOPAY: "Charged when the invoice was posted (autopay).",
        models.PaymentTrigger.RETRY: "A scheduled retry, the upcoming evening after a failure.",
        models.PaymentTrigger.MANUAL: "payInvoice: a user charged the card by hand.",
        models.PaymentTrigger.RECORDED: "recordPayment, or the invoice was marked paid.",
    },
)


class BillTo(enum.StrEnum):
    CUSTOMER = "CUSTOMER"  # retail: a reseller bills its customer
    RESELLER = "RESELLER"  # wholesale: the platform bills the reseller


described_enum(
    BillTo,
    description="Who an invoice bills.",
    values={
        BillTo.CUSTOMER: "Retail: a reseller bills its customer.",
        BillTo.RESELLER: "Wholesale: the platform bills a reseller.",
    },
)


class PartyKind(enum.StrEnum):
    PLATFORM = "PLATFORM"
    RESELLER = "RESELLER"
    CUSTOMER = "CUSTOMER"


described_enum(
    PartyKind,
    description="What kind of party an invoice names.",
    values={
        PartyKind.PLATFORM: "The platform (the distributor).",
        PartyKind.RESELLER: "A reseller.",
        PartyKind.CUSTOMER: "A reseller's customer.",
    },
)


@strawberry.type(description="The seller or the buyer of an invoice, as the invoice names it.")
class BillingParty:
    kind: PartyKind = strawberry.field(description="PLATFORM, RESELLER or CUSTOMER.")
    account_id: strawberry.ID | None = strawberry.field(
        description=(
            "The global id of the live account (a Reseller or a Customer; null: the platform)."
            " Not an `id`: this is a snapshot, and a client cache must not merge it with the"
            " account, whose name may have changed since."
        )
    )
    name: str = strawberry.field(description="Its name when the invoice was made.")


@strawberry.type(description="One line of an invoice.")
class InvoiceLine:
    position: int = strawberry.field(description="1 for the first line.")
    description: str = strawberry.field(description="What is charged, and for which days.")
    kind: ProductKind = strawberry.field(description="RECURRING or USAGE.")
    quantity: Decimal = strawberry.field(description="Units (recurring) or amount used (usage).")
    unit_price: Money = strawberry.field(description="Price per unit.")
    amount: Money = strawberry.field(description="The line's amount, rounded to the currency.")
    price_source: PriceSource = strawberry.field(description="Where the unit price came from.")
    service_start: date = strawberry.field(description="First day charged.")
    service_end: date = strawberry.field(description="Last day charged.")
    product_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The product charged.")
    async def product(self, info: Info) -> Product | None:
        row = await info.context.loaders.product_by_id.load(self.product_id)
        return Product.from_model(row) if row else None

    @classmethod
    def from_model(cls, row: models.InvoiceLine, currency: str) -> InvoiceLine:
        return cls(
            position=row.position,
            description=row.description,
            kind=row.kind,
            quantity=plain(row.quantity),
            unit_price=Money.of(row.unit_price, currency, exact=True),
            amount=Money.of(row.amount, currency),
            price_source=row.price_source,
            service_start=row.service_start,
            service_end=row.service_end,
            product_id=row.product_id,
        )


def plain(value: Decimal) -> Decimal:
    """Without trailing zeros: 3 rather than 3.000000, 100.5 rather than 100.500000."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


@strawberry.type(description="A payment against an invoice.")
class Payment(Node):
    amount: Money = strawberry.field(description="How much.")
    method: PaymentMethodKind = strawberry.field(description="A card, or how it was received.")
    status: PaymentStatus = strawberry.field(description="PENDING, SUCCEEDED or FAILED.")
    trigger: PaymentTrigger = strawberry.field(  # type: ignore[valid-type]
        description="Autopay, a scheduled retry, by hand (payInvoice), or recorded."
    )
    attempt: int = strawberry.field(
        description="1 for the invoice's first payment, then each next."
    )
    failure_reason: str | None = strawberry.field(
        description="Why it failed, as the payment gateway put it."
    )
    decline_code: str | None = strawberry.field(
        description="The gateway's decline code (insufficient_funds, lost_card…), if it gave one."
    )
    gateway_reference: str | None = strawberry.field(
        description="The gateway's id of the charge (a PaymentIntent), once it has one."
    )
    reference: str | None = strawberry.field(
        description="A recorded payment's own reference (the transfer's, the cheque's)."
    )
    paid_at: datetime = strawberry.field(description="When it was attempted, or received.")

    @classmethod
    def from_model(cls, row: models.Payment) -> Payment:
        return cls(
            id=strawberry.ID(to_global_id("Payment", row.id)),
            amount=Money.of(row.amount, row.currency),
            method=row.method,
            status=row.status,
            trigger=row.trigger,
            attempt=row.attempt,
            failure_reason=row.failure_reason,
            decline_code=row.decline_code,
            gateway_reference=row.gateway_charge_id,
            reference=row.reference,
            paid_at=row.paid_at,
        )


@strawberry.type(description="A custom field of an invoice, with its value.")
class CustomFieldValue:
    key: str = strawberry.field(description="The field's key.")
    label: str = strawberry.field(description="What the field is called.")
    type: FieldType = strawberry.field(description="TEXT, NUMBER or DATE.")
    required: bool = strawberry.field(description="Must have a value before posting.")
    value: str | None = strawberry.field(description="The value; null when unset.")


@strawberry.type(description="An amount converted to another currency, with the rate used.")
class ConvertedMoney:
    amount: Decimal = strawberry.field(description="The converted amount, rounded.")
    currency: CurrencyCode = strawberry.field(description="The currency converted to.")
    formatted: str = strawberry.field(description="For people.")
    rate: Decimal = strawberry.field(description="Units of this currency per unit of the original.")
    rate_date: date = strawberry.field(description="The date of the rate used.")


@strawberry.type(
    description="A bill from one seller to one buyer, for one vendor and one billing period.",
    directives=[BillingAccess()],
)
class Invoice(Node):
    document_id: str = strawberry.field(description="Reference given when it was generated.")
    number: str | None = strawberry.field(description="Given when posted; null while DRAFT.")
    status: InvoiceStatus = strawberry.field(description="Where it is in its life.")
    bill_to: BillTo = strawberry.field(description="CUSTOMER (retail) or RESELLER (wholesale).")
    seller: BillingParty = strawberry.field(description="Who bills: the platform or a reseller.")
    buyer: BillingParty = strawberry.field(description="Who pays: a reseller or a customer.")
    period_start: date = strawberry.field(description="First day of the billing period.")
    period_end: date = strawberry.field(description="Last day of the billing period.")
    currency: CurrencyCode = strawberry.field(description="ISO 4217 code of every amount on it.")
    tax_rate: Decimal = strawberry.field(description="Tax percent applied to the subtotal.")
    subtotal: Money = strawberry.field(description="Sum of the lines.")
    tax: Money = strawberry.field(description="Tax on the subtotal.")
    total: Money = strawberry.field(description="Subtotal plus tax.")
    amount_paid: Money = strawberry.field(description="Paid so far.")
    amount_due: Money = strawberry.field(description="Total minus amount paid.")
    issued_at: datetime | None = strawberry.field(description="When it was posted.")
    due_date: date | None = strawberry.field(description="When payment is due (once posted).")
    closed_at: datetime | None = strawberry.field(description="When it was settled.")
    voided_at: datetime | None = strawberry.field(description="When it was cancelled.")
    created_at: datetime = strawberry.field(description="When it was generated.")
    allowed_transitions: list[InvoiceStatus] = strawberry.field(
        description="The statuses updateInvoiceStatus may set now."
    )
    db_id: strawberry.Private[uuid.UUID]
    reseller_id: strawberry.Private[uuid.UUID]
    customer_id: strawberry.Private[uuid.UUID | None]
    vendor_id: strawberry.Private[uuid.UUID]
    custom_values: strawberry.Private[dict[str, str]]
    # Read along with the page that holds the invoice, when the page asks for lines.
    line_rows: strawberry.Private[list[models.InvoiceLine] | None] = None

    @strawberry.field(description="The invoice's lines, in order.")
    def lines(self, info: Info) -> list[InvoiceLine]:
        if self.line_rows is None:
            return self._loaded_lines(info)  # type: ignore[return-value]  # graphql-core awaits it
        return [InvoiceLine.from_model(row, self.currency) for row in self.line_rows]

    async def _loaded_lines(self, info: Info) -> list[InvoiceLine]:
        rows = await info.context.loaders.lines_by_invoice_id.load(self.db_id)
        return [InvoiceLine.from_model(row, self.currency) for row in rows or []]

    @strawberry.field(description="Payments made against it, oldest first.")
    async def payments(self, info: Info) -> list[Payment]:
        rows = await info.context.loaders.payments_by_invoice_id.load(self.db_id)
        return [Payment.from_model(row) for row in rows or []]

    @strawberry.field(description="The vendor whose products it bills.")
    async def vendor(self, info: Info) -> Vendor:
        row = await info.context.loaders.vendor_by_id.load(self.vendor_id)
        assert row is not None
        return Vendor.from_model(row)

    @strawberry.field(
        permission_classes=[CanReadCustomers], description="The buyer, when it is a customer."
    )
    async def customer(self, info: Info) -> Customer | None:
        if self.customer_id is None:
            return None
        row = await info.context.loaders.customer_by_id.load(self.customer_id)
        return Customer.from_model(row) if row else None

    @strawberry.field(description="The reseller's custom fields, with this invoice's values.")
    async def custom_fields(self, info: Info) -> list[CustomFieldValue]:
        if self.bill_to is BillTo.RESELLER:
            return []
        definitions = await info.context.loaders.field_definitions_by_reseller_id.load(
            self.reseller_id
        )
        known = {d.key for d in definitions or []}
        values = [
            CustomFieldValue(
                key=d.key,
                label=d.label,
                type=d.type,
                required=d.required,
                value=self.custom_values.get(d.key),
            )
            for d in definitions or []
        ]
        # A value whose field was removed later stays visible on the invoice.
        values += [
            CustomFieldValue(key=k, label=k, type=models.FieldType.TEXT, required=False, value=v)
            for k, v in sorted(self.custom_values.items())
            if k not in known
        ]
        return values

    @strawberry.field(
        description=(
            "The total in another currency, at the rate of the issue date (today for a draft)."
        )
    )
    async def converted_total(
        self,
        info: Info,
        currency: Annotated[
            CurrencyCode, strawberry.argument(description="The currency to convert to.")
        ],
    ) -> ConvertedMoney:
        quote = normalize_currency(currency)
        on = self.issued_at.date() if self.issued_at else utcnow().date()
        async with info.context.read() as session:
            rate = await rate_on(session, self.currency, quote, on)
        amount = quantize(self.total.amount * rate.rate, quote)
        return ConvertedMoney(
            amount=amount,
            currency=quote,
            formatted=Money.of(amount, quote).formatted(),
            rate=rate.rate,
            rate_date=rate.rate_date,
        )

    @strawberry.field(
        description=(
            "Every email about it, oldest first, with its delivery status; empty for a customer"
            " portal (copies may have gone to other addresses)."
        )
    )
    async def notifications(self, info: Info) -> list[Notification]:
        if info.context.scope.customer_id is not None:
            return []
        return notifications_of(
            info, await info.context.loaders.notifications_by_invoice_id.load(self.db_id)
        )

    @strawberry.field(description=DOWNLOAD_URL)
    def download_url(self, info: Info, format: Annotated[DocumentFormat, FORMAT]) -> str:
        return download_url(info, InvoiceTarget(self.db_id), self.reseller_id, format)

    @classmethod
    def from_model(
        cls, row: models.Invoice, lines: list[models.InvoiceLine] | None = None
    ) -> Invoice:
        """From the invoice's row (an ORM instance, or a row of its columns); ``lines``: its
        lines, when they were read with it."""
        c = row.currency
        retail = row.kind is models.InvoiceKind.RETAIL
        reseller = BillingParty(
            kind=PartyKind.RESELLER,
            account_id=strawberry.ID(to_global_id("Reseller", row.reseller_id)),
            name=row.seller_name if retail else row.buyer_name,
        )
        if retail:
            assert row.customer_id is not None
            seller = reseller
            buyer = BillingParty(
                kind=PartyKind.CUSTOMER,
                account_id=strawberry.ID(to_global_id("Customer", row.customer_id)),
                name=row.buyer_name,
            )
        else:
            seller = BillingParty(kind=PartyKind.PLATFORM, account_id=None, name=row.seller_name)
            buyer = reseller
        return cls(
            id=strawberry.ID(to_global_id("Invoice", row.id)),
            document_id=row.document_id,
            number=row.number,
            status=row.status,
            bill_to=BillTo.CUSTOMER if retail else BillTo.RESELLER,
            seller=seller,
            buyer=buyer,
            period_start=row.period_start,
            period_end=row.period_end,
            currency=c,
            tax_rate=row.tax_rate,
            subtotal=Money.of(row.subtotal, c),
            tax=Money.of(row.tax, c),
            total=Money.of(row.total, c),
            amount_paid=Money.of(row.amount_paid, c),
            amount_due=Money.of(row.total - row.amount_paid, c),
            issued_at=row.issued_at,
            due_date=row.due_date,
            closed_at=row.closed_at,
            voided_at=row.voided_at,
            created_at=row.created_at,
            allowed_transitions=lifecycle.allowed_transitions(row),
            db_id=row.id,
            reseller_id=row.reseller_id,
            customer_id=row.customer_id,
            vendor_id=row.vendor_id,
            custom_values=dict(row.custom_fields or {}),
            line_rows=lines,
        )


@strawberry.type(description="A page of invoices.")
class InvoiceConnection(Connection[Invoice]):
    pass


@strawberry.input(description="Which invoices to list; every condition given must hold.")
class InvoiceFilter:
    customer_id: strawberry.ID | None = strawberry.field(
        default=None, description="Retail invoices of one customer."
    )
    bill_to: BillTo | None = strawberry.field(
        default=None,
        description=(
            "CUSTOMER (retail; the default for resellers) or RESELLER (the reseller's own bills"
            " from the platform). Platform admins see both unless they say."
        ),
    )
    status: list[InvoiceStatus] | None = strawberry.field(
        default=None, description="Any of these statuses."
    )
    vendor_id: strawberry.ID | None = strawberry.field(default=None, description="One vendor's.")
    period_from: date | None = strawberry.field(
        default=None, description="Invoices whose period overlaps [periodFrom, periodTo]."
    )
    period_to: date | None = strawberry.field(default=None, description="See periodFrom.")


@strawberry.type(description="A custom field a reseller puts on its invoices.")
class InvoiceCustomField:
    key: str = strawberry.field(description="Identifies the field: a-z, 0-9, '_'.")
    label: str = strawberry.field(description="What people see.")
    type: FieldType = strawberry.field(description="TEXT, NUMBER or DATE.")
    required: bool = strawberry.field(description="Must have a value before posting.")
    position: int = strawberry.field(description="Order on the invoice.")

    @classmethod
    def from_model(cls, row: models.InvoiceFieldDefinition) -> InvoiceCustomField:
        return cls(
            key=row.key,
            label=row.label,
            type=row.type,
            required=row.required,
            position=row.position,
        )


@strawberry.input(description="Generate the DRAFT invoices of a billing period.")
class GenerateInvoicesInput:
    period_start: date = strawberry.field(description="First day of the period.")
    period_end: date = strawberry.field(description="Last day of the period.")
    customer_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Only these customers (retail runs)."
    )
    bill_to: BillTo | None = strawberry.field(
        default=None,
        description=(
            "CUSTOMER (the default): retail invoices; RESELLER: wholesale (platform admins only)."
        ),
    )
    reseller_id: strawberry.ID | None = strawberry.field(
        default=None, description="Platform admins: only this reseller."
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description=(
            "Any string of yours (at most 200 characters): the same key with the same input"
            " returns the first run's result and makes nothing; with other input it is refused."
            " Kept 24 hours."
        ),
    )


@strawberry.type(description="A buyer and vendor the run left alone, and why.")
class SkippedInvoice:
    reason: str = strawberry.field(
        description=(
            "EXISTS: a live invoice covers the period; RATE_UNAVAILABLE: a price needs an exchange"
            " rate not published by the period's end; AMOUNT_OUT_OF_RANGE: an amount would be too"
            " large to store. Only EXISTS has an invoice; run again once the cause is fixed."
        )
    )
    message: str = strawberry.field(description="What was left out and why, naming the buyer.")
    buyer: BillingParty = strawberry.field(description="Who the invoice would bill.")
    vendor: Vendor = strawberry.field(description="The vendor it would be for.")
    invoice: Invoice | None = strawberry.field(
        description="EXISTS: the invoice that already covers it; null for the other reasons."
    )

    @classmethod
    def of(
        cls, skip: Skipped, invoice: models.Invoice | None, vendor: models.Vendor
    ) -> SkippedInvoice:
        if skip.customer_id is None:
            buyer = BillingParty(
                kind=PartyKind.RESELLER,
                account_id=strawberry.ID(to_global_id("Reseller", skip.reseller_id)),
                name=skip.buyer_name,
            )
        else:
            buyer = BillingParty(
                kind=PartyKind.CUSTOMER,
                account_id=strawberry.ID(to_global_id("Customer", skip.customer_id)),
                name=skip.buyer_name,
            )
        return cls(
            reason=skip.reason,
            message=skip.message,
            buyer=buyer,
            vendor=Vendor.from_model(vendor),
            invoice=Invoice.from_model(invoice) if invoice is not None else None,
        )


@strawberry.type(description="Result of generateInvoices.")
class GenerateInvoicesPayload(Payload):
    invoices: list[Invoice] = strawberry.field(
        default_factory=list, description="The drafts made by this run."
    )
    skipped: list[SkippedInvoice] = strawberry.field(
        default_factory=list,
        description=(
            "What already had an invoice for the period, or could not be invoiced (with the"
            " reason); everything else was invoiced."
        ),
    )


@strawberry.input(description="Move an invoice to another status.")
class UpdateInvoiceStatusInput:
    invoice_id: strawberry.ID = strawberry.field(description="The invoice.")
    status: InvoiceStatus = strawberry.field(description="OPEN, CLOSED or VOID.")
    notify_customer: bool = strawberry.field(
        default=True, description="Email the buyer about the change."
    )


@strawberry.type(description="Result of updateInvoiceStatus.")
class UpdateInvoiceStatusPayload(Payload):
    invoice: Invoice | None = strawberry.field(default=None, description="The invoice now.")


@strawberry.input(description="Email a copy of a posted invoice.")
class SendInvoiceInput:
    invoice_id: strawberry.ID = strawberry.field(description="An OPEN, CLOSED or VOID invoice.")
    to: list[str] | None = strawberry.field(
        default=None,
        description=(
            f"Up to {lifecycle.MAX_RECIPIENTS} addresses (one string is a list of one); by"
            " default the buyer's billing email."
        ),
    )


@strawberry.type(description="Result of sendInvoice.")
class SendInvoicePayload(Payload):
    invoice: Invoice | None = strawberry.field(default=None, description="The invoice sent.")
    recipients: list[str] = strawberry.field(
        default_factory=list, description="The addresses a copy is queued for."
    )


@strawberry.input(description="Delete a draft.")
class DiscardInvoiceInput:
    invoice_id: strawberry.ID = strawberry.field(description="A DRAFT invoice.")


@strawberry.type(description="Result of discardInvoice.")
class DiscardInvoicePayload(Payload):
    discarded_invoice_id: strawberry.ID | None = strawberry.field(
        default=None, description="Id of the draft deleted."
    )


@strawberry.input(description="A value for one custom field; null or empty clears it.")
class CustomFieldValueInput:
    key: str = strawberry.field(description="The field's key.")
    value: str | None = strawberry.field(default=None, description="Its value as text.")


@strawberry.input(description="Set custom field values of a draft.")
class SetInvoiceCustomFieldsInput:
    invoice_id: strawberry.ID = strawberry.field(description="A DRAFT invoice.")
    values: list[CustomFieldValueInput] = strawberry.field(description="Values to set or clear.")


@strawberry.type(description="Result of setInvoiceCustomFields.")
class SetInvoiceCustomFieldsPayload(Payload):
    invoice: Invoice | None = strawberry.field(default=None, description="The invoice now.")


@strawberry.input(description="Add or change a custom invoice field.")
class DefineInvoiceCustomFieldInput:
    key: str = strawberry.field(description="a-z, 0-9 and '_', at most 40.")
    label: str = strawberry.field(description="What people see.")
    type: FieldType = strawberry.field(description="TEXT, NUMBER or DATE.")
    required: bool = strawberry.field(default=False, description="Needed before posting.")
    position: int | None = strawberry.field(default=None, description="Order on the invoice.")
    reseller_id: strawberry.ID | None = strawberry.field(
        default=None, description="Platform admins name the reseller."
    )


@strawberry.type(description="Result of defineInvoiceCustomField.")
class DefineInvoiceCustomFieldPayload(Payload):
    custom_field: InvoiceCustomField | None = strawberry.field(
        default=None, description="The field as saved."
    )


@strawberry.input(description="Stop asking for a custom field.")
class RemoveInvoiceCustomFieldInput:
    key: str = strawberry.field(description="The field's key.")
    reseller_id: strawberry.ID | None = strawberry.field(
        default=None, description="Platform admins name the reseller."
    )


@strawberry.type(description="Result of removeInvoiceCustomField.")
class RemoveInvoiceCustomFieldPayload(Payload):
    removed_key: str | None = strawberry.field(default=None, description="The key removed.")


def _invoice_query(info: Info, filter: InvoiceFilter | None) -> InvoiceQuery:
    f = filter or InvoiceFilter()
    bill_to = f.bill_to
    if info.context.caller.deactivated:
        bill_to = BillTo.RESELLER  # billing only: its own bills from the platform
    elif bill_to is None and not info.context.caller.is_platform_admin:
        bill_to = BillTo.CUSTOMER
    kind = {
        None: None,
        BillTo.CUSTOMER: models.InvoiceKind.RETAIL,
        BillTo.RESELLER: models.InvoiceKind.WHOLESALE,
    }[bill_to]
    return InvoiceQuery(
        customer_id=decode_id(f.customer_id, "Customer", field="filter.customerId")
        if f.customer_id
        else None,
        kind=kind,
        statuses=list(f.status or []),
        vendor_id=decode_id(f.vendor_id, "Vendor", field="filter.vendorId")
        if f.vendor_id
        else None,
        period_from=f.period_from,
        period_to=f.period_to,
    )


RESELLER = strawberry.argument(
    description="The reseller: platform admins must name one; anyone else only their own."
)


def target_reseller(info: Info, reseller_id: strawberry.ID | None) -> uuid.UUID:
    """The reseller a change is for: the caller's own; a platform admin names one. Naming
    another reseller than one's own is refused like any other tenant's object, never ignored."""
    own = info.context.scope.reseller_id
    named = decode_id(reseller_id, "Reseller", field="resellerId") if reseller_id else None
    if own is not None:
        if named is not None and named != own:
            raise NotFound("reseller", field="resellerId")
        return own
    if named is None:
        raise Forbidden("name the reseller (resellerId)", field="resellerId")
    return named


async def _with_lines(
    session: AsyncSession, scope: TenantScope, rows: Sequence[models.Invoice]
) -> Callable[[models.Invoice], Invoice]:
    """A page's lines, read in the page's own session: one statement, and no DataLoader batch
    of its own (another session) for a list the page already knows it needs."""
    lines = await InvoiceChildren(session, scope).line_rows(row.id for row in rows)
    return lambda row: Invoice.from_model(row, lines.get(row.id, []))


@strawberry.type
class InvoiceQueries:
    @billing_field(
        description=(
            "Invoices, oldest first. A customer portal sees its own customer's, never a draft."
        )
    )
    async def invoices(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            InvoiceFilter | None, strawberry.argument(description="Which invoices; all if omitted.")
        ] = None,
    ) -> InvoiceConnection | None:
        query = _invoice_query(info, filter)
        return await resolve_connection(
            info,
            InvoiceConnection,
            InvoiceRepository,
            page_request(first, after, last, before),
            Invoice.from_model,
            lambda repo: repo.filtered(query),
            _with_lines if selects(info, "edges", "node", "lines") else None,
            rows=True,
        )

    @strawberry.field(
        permission_classes=[CanReadTenant],
        description="The custom fields of the caller's reseller (or one, for platform admins).",
    )
    async def invoice_custom_fields(
        self, info: Info, reseller_id: Annotated[strawberry.ID | None, RESELLER] = None
    ) -> list[InvoiceCustomField]:
        tenant = target_reseller(info, reseller_id)
        async with info.context.read() as session:
            rows = await FieldDefinitionRepository(session, info.context.scope).of_reseller(tenant)
        return [InvoiceCustomField.from_model(row) for row in rows]


def run_result_json(result: RunResult) -> dict[str, Any]:
    """What an idempotency key keeps of a billing run: enough to answer its repeat."""
    return {
        "created": [str(i) for i in result.created],
        "skipped": [
            {
                "reseller_id": str(s.reseller_id),
                "customer_id": str(s.customer_id) if s.customer_id else None,
                "vendor_id": str(s.vendor_id),
                "invoice_id": str(s.invoice_id) if s.invoice_id else None,
                "reason": s.reason,
                "message": s.message,
                "buyer_name": s.buyer_name,
            }
            for s in result.skipped
        ],
    }


def run_result_of(stored: dict[str, Any]) -> RunResult:
    def uid(value: str | None) -> uuid.UUID | None:
        return uuid.UUID(value) if value else None

    return RunResult(
        created=[uuid.UUID(i) for i in stored.get("created", [])],
        skipped=[
            Skipped(
                reseller_id=uuid.UUID(s["reseller_id"]),
                customer_id=uid(s["customer_id"]),
                vendor_id=uuid.UUID(s["vendor_id"]),
                invoice_id=uid(s["invoice_id"]),
                reason=s["reason"],
                message=s["message"],
                buyer_name=s["buyer_name"],
            )
            for s in stored.get("skipped", [])
        ],
    )


async def _created(info: Info, result: RunResult) -> GenerateInvoicesPayload:
    wanted = list(result.created) + [s.invoice_id for s in result.skipped if s.invoice_id]
    async with info.context.read() as session:
        rows = await InvoiceRepository(session, info.context.scope).by_ids(wanted)
        skipped_vendors = {s.vendor_id for s in result.skipped}
        vendors = await Catalog(session).vendors_by_ids(skipped_vendors) if skipped_vendors else {}
    return GenerateInvoicesPayload(
        invoices=[Invoice.from_model(rows[i]) for i in result.created if i in rows],
        skipped=[
            SkippedInvoice.of(
                s, rows.get(s.invoice_id) if s.invoice_id else None, vendors[s.vendor_id]
            )
            for s in result.skipped
            if s.invoice_id is None or s.invoice_id in rows
        ],
    )


@strawberry.type
class InvoiceMutations:
    @billing_mutation(
        description=(
            "Make the DRAFT invoices of a period: one per buyer and vendor with charges."
            " Running it again makes nothing new and reports what it skipped."
        ),
    )
    async def generate_invoices(
        self, info: Info, input: Annotated[GenerateInvoicesInput, INPUT]
    ) -> GenerateInvoicesPayload:
        ctx = info.context
        caller = ctx.caller
        platform = ctx.services.lifecycle.policy.platform_name

        async def run(session: AsyncSession) -> RunResult:
            wholesale = input.bill_to == BillTo.RESELLER
            if wholesale and not caller.is_platform_admin:
                raise Forbidden("only platform admins bill resellers", field="billTo")
            customers = None
            if input.customer_ids is not None:
                customers = [
                    decode_id(c, "Customer", field=f"customerIds.{n}")
                    for n, c in enumerate(input.customer_ids)
                ]
            resellers = None
            if input.reseller_id is not None:
                resellers = [decode_id(input.reseller_id, "Reseller", field="resellerId")]
            request = RunRequest(
                input.period_start,
                input.period_end,
                models.InvoiceKind.WHOLESALE if wholesale else models.InvoiceKind.RETAIL,
                customers,
                resellers,
            )
            idempotency = None
            if input.idempotency_key is not None:
                idempotency = IdempotentRequest(
                    ctx.scope.reseller_id or PLATFORM_TENANT_ID,
                    "generateInvoices",
                    input.idempotency_key,
                    {
                        "periodStart": request.period_start.isoformat(),
                        "periodEnd": request.period_end.isoformat(),
                        "kind": str(request.kind),
                        "customers": sorted(map(str, customers or [])) if customers else None,
                        "resellers": sorted(map(str, resellers or [])) if resellers else None,
                    },
                )
                replay = await idempotency.claim(session)
                if replay is not None:
                    return run_result_of(replay.result)
            result = await BillingRun(session, ctx.scope, caller.actor, platform).run(request)
            if idempotency is not None:
                await idempotency.remember(session, run_result_json(result))
            return result

        done = await respond(info, GenerateInvoicesPayload, run, lambda result: result)
        if isinstance(done, GenerateInvoicesPayload):
            return done
        return await _created(info, done)

    @billing_mutation(
        description=(
            "Post (OPEN), settle (CLOSED) or void (VOID) an invoice, as allowedTransitions says;"
            " optionally email the buyer."
        ),
    )
    async def update_invoice_status(
        self, info: Info, input: Annotated[UpdateInvoiceStatusInput, INPUT]
    ) -> UpdateInvoiceStatusPayload:
        ctx = info.context

        async def update(session: AsyncSession) -> models.Invoice:
            invoice_id = decode_id(input.invoice_id, "Invoice", field="invoiceId")
            return await ctx.services.lifecycle.update_status(
                session,
                ctx.scope,
                ctx.caller.actor,
                invoice_id,
                models.InvoiceStatus(input.status),
                input.notify_customer,
            )

        return await respond(
            info,
            UpdateInvoiceStatusPayload,
            update,
            lambda row: UpdateInvoiceStatusPayload(invoice=Invoice.from_model(row)),
        )

    @billing_mutation(
        description=(
            "Email a copy of a posted invoice, its PDF attached: the message of its status"
            " (issued, receipt or cancelled), sent even if the seller turned that event off."
        ),
    )
    async def send_invoice(
        self, info: Info, input: Annotated[SendInvoiceInput, INPUT]
    ) -> SendInvoicePayload:
        ctx = info.context

        async def send(session: AsyncSession) -> tuple[models.Invoice, list[str]]:
            invoice_id = decode_id(input.invoice_id, "Invoice", field="invoiceId")
            invoice, recipients = await ctx.services.lifecycle.send(
                session, ctx.scope, ctx.caller.actor, invoice_id, input.to
            )
            await quota.spend(
                session,
                ctx.scope.reseller_id,
                "invoice_copies",
                quota.INVOICE_COPIES,
                len(recipients),
            )
            return invoice, recipients

        return await respond(
            info,
            SendInvoicePayload,
            send,
            lambda done: SendInvoicePayload(
                invoice=Invoice.from_model(done[0]), recipients=done[1]
            ),
        )

    @billing_mutation(description="Delete a DRAFT invoice.")
    async def discard_invoice(
        self, info: Info, input: Annotated[DiscardInvoiceInput, INPUT]
    ) -> DiscardInvoicePayload:
        ctx = info.context

        async def discard(session: AsyncSession) -> models.Invoice:
            invoice_id = decode_id(input.invoice_id, "Invoice", field="invoiceId")
            return await ctx.services.lifecycle.discard(
                session, ctx.scope, ctx.caller.actor, invoice_id
            )

        return await respond(
            info,
            DiscardInvoicePayload,
            discard,
            lambda row: DiscardInvoicePayload(
                discarded_invoice_id=strawberry.ID(to_global_id("Invoice", row.id))
            ),
        )

    @billing_mutation(
        description="Set or clear custom field values of a DRAFT invoice.",
    )
    async def set_invoice_custom_fields(
        self, info: Info, input: Annotated[SetInvoiceCustomFieldsInput, INPUT]
    ) -> SetInvoiceCustomFieldsPayload:
        ctx = info.context

        async def set_(session: AsyncSession) -> models.Invoice:
            invoice_id = decode_id(input.invoice_id, "Invoice", field="invoiceId")
            return await ctx.services.lifecycle.set_custom_fields(
                session,
                ctx.scope,
                ctx.caller.actor,
                invoice_id,
                [(v.key, v.value) for v in input.values],
            )

        return await respond(
            info,
            SetInvoiceCustomFieldsPayload,
            set_,
            lambda row: SetInvoiceCustomFieldsPayload(invoice=Invoice.from_model(row)),
        )

    @billing_mutation(
        description="Add or change a custom field on the reseller's invoices.",
    )
    async def define_invoice_custom_field(
        self, info: Info, input: Annotated[DefineInvoiceCustomFieldInput, INPUT]
    ) -> DefineInvoiceCustomFieldPayload:
        ctx = info.context

        async def define(session: AsyncSession) -> models.InvoiceFieldDefinition:
            return await lifecycle.define_custom_field(
                session,
                ctx.scope,
                ctx.caller.actor,
                target_reseller(info, input.reseller_id),
                input.key,
                input.label,
                models.FieldType(input.type),
                input.required,
                input.position,
            )

        return await respond(
            info,
            DefineInvoiceCustomFieldPayload,
            define,
            lambda row: DefineInvoiceCustomFieldPayload(
                custom_field=InvoiceCustomField.from_model(row)
            ),
        )

    @billing_mutation(
        description="Remove a custom field (values on existing invoices stay).",
    )
    async def remove_invoice_custom_field(
        self, info: Info, input: Annotated[RemoveInvoiceCustomFieldInput, INPUT]
    ) -> RemoveInvoiceCustomFieldPayload:
        ctx = info.context

        async def remove(session: AsyncSession) -> models.InvoiceFieldDefinition:
            return await lifecycle.remove_custom_field(
                session,
                ctx.scope,
                ctx.caller.actor,
                target_reseller(info, input.reseller_id),
                input.key,
            )

        return await respond(
            info,
            RemoveInvoiceCustomFieldPayload,
            remove,
            lambda row: RemoveInvoiceCustomFieldPayload(removed_key=row.key),
        )
