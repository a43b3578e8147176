"""What billing stores: the platform's catalog and exchange rates; each reseller's prices,
subscriptions, usage, invoices (with their lines and the charges behind them), invoice counters and
custom invoice fields; payments against invoices."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.ids import new_id
from db.base import Base, TenantOwned, Timestamped, string_enum
from db.database import CUSTOMER_KEYED


def _customer_key(table: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["reseller_id", "customer_id"],
        ["customers.reseller_id", "customers.id"],
        ondelete="RESTRICT",
        name=f"fk_{table}_reseller_id_customers",
    )


AMOUNT = Numeric(20, 6)
RATE = Numeric(24, 10)


class ProductKind(enum.StrEnum):
    RECURRING = "RECURRING"  # billed monthly per unit, prorated by days
    USAGE = "USAGE"  # billed for what was recorded in the period


class InvoiceKind(enum.StrEnum):
    RETAIL = "RETAIL"  # reseller -> customer
    WHOLESALE = "WHOLESALE"  # platform -> reseller


class InvoiceStatus(enum.StrEnum):
    DRAFT = "DRAFT"
    OPEN = "OPEN"
    CLOSED = "CLOSED"
    VOID = "VOID"


class PriceSource(enum.StrEnum):
    CUSTOMER_OVERRIDE = "CUSTOMER_OVERRIDE"
    RESELLER_OVERRIDE = "RESELLER_OVERRIDE"
    MSRP = "MSRP"
    CONVERTED_MSRP = "CONVERTED_MSRP"
    COST = "COST"  # a wholesale line: the reseller's cost price
    CONVERTED_COST = "CONVERTED_COST"


class FieldType(enum.StrEnum):
    TEXT = "TEXT"
    NUMBER = "NUMBER"
    DATE = "DATE"


class PaymentMethodKind(enum.StrEnum):
    CARD = "CARD"  # charged through the payment gateway
    BANK_TRANSFER = "BANK_TRANSFER"  # the rest are recorded by hand (recordPayment)
    CHEQUE = "CHEQUE"
    OTHER = "OTHER"
    OUT_OF_BAND = "OUT_OF_BAND"  # the invoice was marked paid in full (updateInvoiceStatus)


class PaymentStatus(enum.StrEnum):
    PENDING = "PENDING"  # sent to the gateway, no answer yet: resolved by asking it, never again
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class PaymentTrigger(enum.StrEnum):
    """Who started a payment: only scheduled retries count toward the retry limit."""

    AUTOPAY = "AUTOPAY"  # the invoice was posted for an account with a card on file
    RETRY = "RETRY"  # a scheduled retry, the upcoming evening
    MANUAL = "MANUAL"  # payInvoice
    RECORDED = "RECORDED"  # recordPayment, or marked paid


# The platform's catalog -------------------------------------------------------------------------


class Vendor(Timestamped, Base):
    """A cloud vendor: each gets its own invoices."""

    __tablename__ = "vendors"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class Product(Timestamped, Base):
    __tablename__ = "products"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    vendor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("vendors.id", ondelete="RESTRICT"), index=True
    )
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(40))
    kind: Mapped[ProductKind] = mapped_column(string_enum(ProductKind))
    base_currency: Mapped[str] = mapped_column(String(3))


class ProductPrice(Base):
    """A product's MSRP (what customers pay by default) and cost (what resellers pay) in one
    currency. Every product has one in its base currency."""

    __tablename__ = "product_prices"

    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    msrp: Mapped[Decimal] = mapped_column(AMOUNT)
    cost: Mapped[Decimal] = mapped_column(AMOUNT)


class ExchangeRate(Timestamped, Base):
    """1 ``base`` = ``rate`` ``quote`` from ``rate_date`` on (until a later rate)."""

    __tablename__ = "exchange_rates"

    base: Mapped[str] = mapped_column(String(3), primary_key=True)
    quote: Mapped[str] = mapped_column(String(3), primary_key=True)
    rate_date: Mapped[date] = mapped_column(primary_key=True)
    rate: Mapped[Decimal] = mapped_column(RATE)


# A reseller's prices, subscriptions and usage ---------------------------------------------------


class PriceOverride(TenantOwned, Base):
    """A reseller's price of a product for its customers billed in ``currency``: for one customer
    (``customer_id``) or all of them. Either a fixed ``price`` or ``markup_percent`` over cost."""

    __tablename__ = "price_overrides"
    __table_args__ = (
        _customer_key("price_overrides"),
        Index(
            "uq_price_overrides_reseller_wide",
            "reseller_id",
            "product_id",
            "currency",
            unique=True,
            sqlite_where=text("customer_id IS NULL"),
            postgresql_where=text("customer_id IS NULL"),
        ),
        Index(
            "uq_price_overrides_customer",
            "reseller_id",
            "customer_id",
            "product_id",
            "currency",
            unique=True,
            sqlite_where=text("customer_id IS NOT NULL"),
            postgresql_where=text("customer_id IS NOT NULL"),
        ),
    )

    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    customer_id: Mapped[uuid.UUID | None]
    currency: Mapped[str] = mapped_column(String(3))
    price: Mapped[Decimal | None] = mapped_column(AMOUNT)
    markup_percent: Mapped[Decimal | None] = mapped_column(Numeric(9, 4))


class Subscription(TenantOwned, Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        _customer_key("subscriptions"),
        Index("ix_subscriptions_reseller_id_customer_id", "reseller_id", "customer_id"),
    )

    customer_id: Mapped[uuid.UUID]
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    quantity: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[date]
    end_date: Mapped[date | None]  # the last day billed, included


class UsageRecord(TenantOwned, Base):
    __tablename__ = "usage_records"
    __table_args__ = (
        _customer_key("usage_records"),
        Index(
            "uq_usage_records_reference",
            "reseller_id",
            "customer_id",
            "reference",
            unique=True,
        ),
        Index("ix_usage_records_reseller_id_occurred_at", "reseller_id", "occurred_at"),
    )

    customer_id: Mapped[uuid.UUID]
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    quantity: Mapped[Decimal] = mapped_column(AMOUNT)
    occurred_at: Mapped[datetime]
    reference: Mapped[str | None] = mapped_column(String(200))


CUSTOMER_KEYED[Subscription] = Subscription.customer_id
CUSTOMER_KEYED[UsageRecord] = UsageRecord.customer_id
CUSTOMER_KEYED[PriceOverride] = PriceOverride.customer_id


# Invoices -----------------------------------------------------------------------------------------


class Invoice(TenantOwned, Base):
    """One seller, one buyer, one vendor, one period, one currency.

    ``reseller_id`` is the tenant the invoice belongs to: the seller of a RETAIL invoice, the buyer
    of a WHOLESALE one (the platform is its seller).
    """

    __tablename__ = "invoices"
    __table_args__ = (
        _customer_key("invoices"),
        # A billing run never makes a second live invoice for the same buyer, vendor and period.
        Index(
            "uq_invoices_retail_period",
            "reseller_id",
            "customer_id",
            "vendor_id",
            "period_start",
            "period_end",
            unique=True,
            sqlite_where=text("kind = 'RETAIL' AND status <> 'VOID'"),
            postgresql_where=text("kind = 'RETAIL' AND status <> 'VOID'"),
        ),
        Index(
            "uq_invoices_wholesale_period",
            "reseller_id",
            "vendor_id",
            "period_start",
            "period_end",
            unique=True,
            sqlite_where=text("kind = 'WHOLESALE' AND status <> 'VOID'"),
            postgresql_where=text("kind = 'WHOLESALE' AND status <> 'VOID'"),
        ),
        Index(
            "uq_invoices_retail_number",
            "reseller_id",
            "number",
            unique=True,
            sqlite_where=text("kind = 'RETAIL'"),
            postgresql_where=text("kind = 'RETAIL'"),
        ),
        # The platform's numbers are unique across resellers by its one counter row; the
        # database checks them per tenant, as a distributed table can.
        Index(
            "uq_invoices_wholesale_number",
            "reseller_id",
            "number",
            unique=True,
            sqlite_where=text("kind = 'WHOLESALE'"),
            postgresql_where=text("kind = 'WHOLESALE'"),
        ),
        Index("ix_invoices_reseller_id_period_end", "reseller_id", "period_end"),
        Index("uq_invoices_document_id", "reseller_id", "document_id", unique=True),
        # The target of payments' (invoice, customer) foreign key.
        UniqueConstraint("reseller_id", "id", "customer_id", name="uq_invoices_customer_key"),
    )

    kind: Mapped[InvoiceKind] = mapped_column(string_enum(InvoiceKind))
    customer_id: Mapped[uuid.UUID | None]  # the buyer of a RETAIL invoice
    vendor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("vendors.id", ondelete="RESTRICT"))
    document_id: Mapped[str] = mapped_column(String(40))
    number: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[InvoiceStatus] = mapped_column(string_enum(InvoiceStatus))
    period_start: Mapped[date]
    period_end: Mapped[date]
    currency: Mapped[str] = mapped_column(String(3))
    seller_name: Mapped[str] = mapped_column(String(200))
    buyer_name: Mapped[str] = mapped_column(String(200))
    buyer_email: Mapped[str | None] = mapped_column(String(320))
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(7, 4))
    subtotal: Mapped[Decimal] = mapped_column(AMOUNT)
    tax: Mapped[Decimal] = mapped_column(AMOUNT)
    total: Mapped[Decimal] = mapped_column(AMOUNT)
    amount_paid: Mapped[Decimal] = mapped_column(AMOUNT)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    issued_at: Mapped[datetime | None]
    due_date: Mapped[date | None]
    closed_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]


CUSTOMER_KEYED[Invoice] = Invoice.customer_id


class InvoiceLine(TenantOwned, Base):
    """One line: a subscription's charge for the period, or a product's usage summed."""

    __tablename__ = "invoice_lines"
    __table_args__ = (
        ForeignKeyConstraint(
            ["reseller_id", "invoice_id"],
            ["invoices.reseller_id", "invoices.id"],
            ondelete="CASCADE",
            name="fk_invoice_lines_reseller_id_invoices",
        ),
        Index("ix_invoice_lines_reseller_id_invoice_id", "reseller_id", "invoice_id"),
    )

    invoice_id: Mapped[uuid.UUID]
    position: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    kind: Mapped[ProductKind] = mapped_column(string_enum(ProductKind))
    description: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[Decimal] = mapped_column(AMOUNT)
    unit_price: Mapped[Decimal] = mapped_column(AMOUNT)
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    price_source: Mapped[PriceSource] = mapped_column(string_enum(PriceSource))
    service_start: Mapped[date]
    service_end: Mapped[date]


class InvoiceCharge(TenantOwned, Base):
    """What is behind a line: the subscription's prorated days, or one usage record."""

    __tablename__ = "invoice_charges"
    __table_args__ = (
        ForeignKeyConstraint(
            ["reseller_id", "line_id"],
            ["invoice_lines.reseller_id", "invoice_lines.id"],
            ondelete="CASCADE",
            name="fk_invoice_charges_reseller_id_invoice_lines",
        ),
        Index("ix_invoice_charges_reseller_id_invoice_id", "reseller_id", "invoice_id"),
    )

    invoice_id: Mapped[uuid.UUID]
    line_id: Mapped[uuid.UUID]
    subscription_id: Mapped[uuid.UUID | None]
    usage_record_id: Mapped[uuid.UUID | None]
    start_date: Mapped[date]
    end_date: Mapped[date]
    quantity: Mapped[Decimal] = mapped_column(AMOUNT)
    unit_price: Mapped[Decimal] = mapped_column(AMOUNT)
    days: Mapped[int | None] = mapped_column(Integer)  # recurring: days billed of period_days
    period_days: Mapped[int | None] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(AMOUNT)  # exact, before the line's rounding


class InvoiceCounter(Base):
    """The next invoice number of one seller: a row updated in the posting transaction, so a
    number is taken only if the posting commits (a sequence would leave holes). Keyed by the
    seller's tenant: a reseller's id, or ``PLATFORM_TENANT_ID`` for the platform's numbers."""

    __tablename__ = "invoice_counters"

    reseller_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class InvoiceFieldDefinition(TenantOwned, Base):
    """A custom field a reseller puts on its invoices."""

    __tablename__ = "invoice_field_definitions"
    __table_args__ = (Index("uq_invoice_field_definitions_key", "reseller_id", "key", unique=True),)

    key: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(100))
    type: Mapped[FieldType] = mapped_column(string_enum(FieldType))
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Payment(TenantOwned, Base):
    """A payment against an invoice. ``customer_id`` is the paying customer of a RETAIL invoice
    (None for a reseller's payment to the platform): a portal sees only its own customer's."""

    __tablename__ = "payments"
    __table_args__ = (
        ForeignKeyConstraint(
            ["reseller_id", "invoice_id"],
            ["invoices.reseller_id", "invoices.id"],
            ondelete="RESTRICT",
            name="fk_payments_reseller_id_invoices",
        ),
        # The payer is the invoice's own customer: (invoice, customer) must match a row of
        # invoices (not checked when customer_id is NULL, a reseller's payment).
        ForeignKeyConstraint(
            ["reseller_id", "invoice_id", "customer_id"],
            ["invoices.reseller_id", "invoices.id", "invoices.customer_id"],
            ondelete="RESTRICT",
            name="fk_payments_reseller_id_invoices_customer",
        ),
        Index("ix_payments_reseller_id_invoice_id", "reseller_id", "invoice_id"),
        Index("uq_payments_gateway_key", "reseller_id", "gateway_key", unique=True),
    )

    invoice_id: Mapped[uuid.UUID]
    customer_id: Mapped[uuid.UUID | None]
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[PaymentMethodKind] = mapped_column(string_enum(PaymentMethodKind))
    status: Mapped[PaymentStatus] = mapped_column(string_enum(PaymentStatus))
    trigger: Mapped[PaymentTrigger] = mapped_column(
        string_enum(PaymentTrigger), default=PaymentTrigger.RECORDED
    )
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    # Sent to the gateway as its idempotency key and in its metadata: how an attempt left
    # PENDING is found there again. Derived from seller, invoice and attempt number.
    gateway_key: Mapped[str | None] = mapped_column(String(200))
    # The scheduled job that made the attempt: a job run again finds its attempt, not a new one.
    job_key: Mapped[str | None] = mapped_column(String(200))
    gateway_charge_id: Mapped[str | None] = mapped_column(String(100))
    payment_method_id: Mapped[uuid.UUID | None]
    failure_reason: Mapped[str | None] = mapped_column(String(300))
    decline_code: Mapped[str | None] = mapped_column(String(60))
    reference: Mapped[str | None] = mapped_column(String(200))  # a transfer's or cheque's own
    paid_at: Mapped[datetime]  # when it was attempted, or received (a recorded payment)


CUSTOMER_KEYED[Payment] = Payment.customer_id


class InvoiceVersion(enum.StrEnum):
    """A posted invoice as it was at one status change; each is drawn from its own snapshot."""

    ISSUED = "ISSUED"  # posted (OPEN)
    PAID = "PAID"  # settled (CLOSED)
    VOID = "VOID"


class InvoiceSnapshot(TenantOwned, Base):
    """What a version of a posted invoice shows that could change after it: the seller's
    branding and the buyer's details as they were, and the status and amount paid then.
    Written in the transaction of the status change and never updated. The invoice's own rows
    (lines, totals, dates) need no copy: they are frozen once posted."""

    __tablename__ = "invoice_snapshots"
    __table_args__ = (
        ForeignKeyConstraint(
            ["reseller_id", "invoice_id"],
            ["invoices.reseller_id", "invoices.id"],
            ondelete="CASCADE",
            name="fk_invoice_snapshots_reseller_id_invoices",
        ),
        UniqueConstraint(
            "reseller_id", "invoice_id", "version", name="uq_invoice_snapshots_version"
        ),
    )

    invoice_id: Mapped[uuid.UUID]
    version: Mapped[InvoiceVersion] = mapped_column(string_enum(InvoiceVersion))
    status: Mapped[InvoiceStatus] = mapped_column(string_enum(InvoiceStatus))
    amount_paid: Mapped[Decimal] = mapped_column(AMOUNT)
    # Texts by name (name, address, links, tax id, payment instructions): a JSON object, so a
    # field added to the face later needs no migration of the versions already kept.
    seller: Mapped[dict[str, Any]] = mapped_column(JSON)
    buyer: Mapped[dict[str, Any]] = mapped_column(JSON)
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)
    logo_content_type: Mapped[str | None] = mapped_column(String(40))
