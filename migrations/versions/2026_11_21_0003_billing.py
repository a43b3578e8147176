"""Billing: the catalog and exchange rates, prices, subscriptions, usage, invoices with their lines
and charges, invoice counters, custom invoice fields, payments.

On PostgreSQL every tenant table gets row-level security; a customer portal sees only its own
customer's invoices and never a draft; and triggers refuse any change to a posted invoice's lines,
charges or amounts, whatever the application does.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
CURRENT_TENANT = "NULLIF(current_setting('app.reseller_id', true), '')::uuid"
CURRENT_CUSTOMER = "NULLIF(current_setting('app.customer_id', true), '')::uuid"
ALL_TENANTS = "current_setting('app.all_tenants', true) = 'on'"
TENANT_TABLES = (
    "price_overrides",
    "subscriptions",
    "usage_records",
    "invoices",
    "invoice_lines",
    "invoice_charges",
    "invoice_counters",
    "invoice_field_definitions",
    "payments",
)

# What a posted invoice may still change: its status (forward only), payment and settlement.
REFUSE_POSTED_INVOICE_CHANGE = """
CREATE FUNCTION refuse_posted_invoice_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'DRAFT' THEN
            RAISE EXCEPTION 'invoice % is posted and cannot be deleted', OLD.id
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status = 'DRAFT' THEN
        RETURN NEW;
    END IF;
    IF NEW.status = 'DRAFT'
        OR (OLD.status IN ('CLOSED', 'VOID') AND NEW.status <> OLD.status)
        OR (NEW.kind, NEW.customer_id, NEW.vendor_id, NEW.document_id, NEW.number,
            NEW.period_start, NEW.period_end, NEW.currency, NEW.tax_rate, NEW.subtotal, NEW.tax,
            NEW.total, NEW.custom_fields::text, NEW.issued_at, NEW.seller_name, NEW.buyer_name)
           IS DISTINCT FROM
           (OLD.kind, OLD.customer_id, OLD.vendor_id, OLD.document_id, OLD.number,
            OLD.period_start, OLD.period_end, OLD.currency, OLD.tax_rate, OLD.subtotal, OLD.tax,
            OLD.total, OLD.custom_fields::text, OLD.issued_at, OLD.seller_name, OLD.buyer_name)
    THEN
        RAISE EXCEPTION 'invoice % is posted: its lines, amounts and period never change', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$
"""

# Lines and charges change only while their invoice is a draft (a discarded draft's cascade finds
# no invoice left, and passes).
REFUSE_POSTED_LINE_CHANGE = """
CREATE FUNCTION refuse_posted_line_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    row_reseller uuid;
    row_invoice uuid;
    invoice_status text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        row_reseller := OLD.reseller_id;
        row_invoice := OLD.invoice_id;
    ELSE
        row_reseller := NEW.reseller_id;
        row_invoice := NEW.invoice_id;
    END IF;
    SELECT status INTO invoice_status FROM invoices
        WHERE reseller_id = row_reseller AND id = row_invoice;
    IF TG_OP = 'UPDATE' AND (OLD.reseller_id, OLD.invoice_id) IS DISTINCT FROM
            (NEW.reseller_id, NEW.invoice_id) THEN
        RAISE EXCEPTION 'a line never moves to another invoice'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF invoice_status IS NOT NULL AND invoice_status <> 'DRAFT' THEN
        RAISE EXCEPTION 'invoice % is posted: its lines never change', row_invoice
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$
"""


def _tenant_key(table: str) -> list[sa.schema.SchemaItem]:
    """The key of a tenant-owned row: (reseller_id, id), the reseller's foreign key, created_at."""
    return [
        sa.Column("reseller_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("reseller_id", "id", name=f"pk_{table}"),
        sa.ForeignKeyConstraint(
            ["reseller_id"],
            ["resellers.id"],
            name=f"fk_{table}_reseller_id_resellers",
            ondelete="RESTRICT",
        ),
    ]


def _customer_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["reseller_id", "customer_id"],
        ["customers.reseller_id", "customers.id"],
        name=f"fk_{table}_reseller_id_customers",
        ondelete="RESTRICT",
    )


def _product_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["product_id"],
        ["products.id"],
        name=f"fk_{table}_product_id_products",
        ondelete="RESTRICT",
    )


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def enable_rls(table: str, condition: str | None = None) -> None:
    condition = condition or f"(reseller_id = {CURRENT_TENANT} OR {ALL_TENANTS})"
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING {condition} WITH CHECK {condition}"
    )


def _protect_posted_invoices() -> None:
    # A portal (app.customer_id set) sees its own customer's invoices, and no draft.
    portal = (
        f"({CURRENT_CUSTOMER} IS NULL OR (customer_id = {CURRENT_CUSTOMER} AND status <> 'DRAFT'))"
    )
    for table in TENANT_TABLES:
        tenant = f"(reseller_id = {CURRENT_TENANT} OR {ALL_TENANTS})"
        enable_rls(table, f"({tenant} AND {portal})" if table == "invoices" else None)
    op.execute(REFUSE_POSTED_INVOICE_CHANGE)
    op.execute(REFUSE_POSTED_LINE_CHANGE)
    op.execute(
        "CREATE TRIGGER posted_invoice_is_final BEFORE UPDATE OR DELETE ON invoices"
        " FOR EACH ROW EXECUTE FUNCTION refuse_posted_invoice_change()"
    )
    for table in ("invoice_lines", "invoice_charges"):
        op.execute(
            f"CREATE TRIGGER posted_invoice_lines_are_final BEFORE INSERT OR UPDATE OR DELETE"
            f" ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_posted_line_change()"
        )


def upgrade() -> None:
    op.create_table(
        "exchange_rates",
        sa.Column("base", sa.String(length=3), nullable=False),
        sa.Column("quote", sa.String(length=3), nullable=False),
        sa.Column("rate_date", sa.Date(), nullable=False),
        sa.Column("rate", sa.Numeric(precision=24, scale=10), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("base", "quote", "rate_date", name=op.f("pk_exchange_rates")),
    )
    op.create_table(
        "vendors",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendors")),
        sa.UniqueConstraint("name", name=op.f("uq_vendors_name")),
    )
    op.create_table(
        "invoice_counters",
        sa.Column("seller", sa.String(length=40), nullable=False),
        sa.Column("reseller_id", sa.Uuid(), nullable=True),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reseller_id"],
            ["resellers.id"],
            name=op.f("fk_invoice_counters_reseller_id_resellers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("seller", name=op.f("pk_invoice_counters")),
    )
    op.create_table(
        "invoice_field_definitions",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "TEXT",
                "NUMBER",
                "DATE",
                name="fieldtype",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        *_tenant_key("invoice_field_definitions"),
    )
    op.create_index(
        "uq_invoice_field_definitions_key",
        "invoice_field_definitions",
        ["reseller_id", "key"],
        unique=True,
    )

    op.create_table(
        "products",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=40), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "RECURRING",
                "USAGE",
                name="productkind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("base_currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["vendor_id"],
            ["vendors.id"],
            name=op.f("fk_products_vendor_id_vendors"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("sku", name=op.f("uq_products_sku")),
    )
    op.create_index(op.f("ix_products_vendor_id"), "products", ["vendor_id"], unique=False)

    op.create_table(
        "invoices",
        sa.Column(
            "kind",
            sa.Enum(
                "RETAIL",
                "WHOLESALE",
                name="invoicekind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("vendor_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "DRAFT",
                "OPEN",
                "CLOSED",
                "VOID",
                name="invoicestatus",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("seller_name", sa.String(length=200), nullable=False),
        sa.Column("buyer_name", sa.String(length=200), nullable=False),
        sa.Column("buyer_email", sa.String(length=320), nullable=True),
        sa.Column("tax_rate", sa.Numeric(precision=7, scale=4), nullable=False),
        sa.Column("subtotal", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("tax", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("total", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("amount_paid", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("custom_fields", sa.JSON(), nullable=False),
        sa.Column("issued_at", TIMESTAMP, nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("closed_at", TIMESTAMP, nullable=True),
        sa.Column("voided_at", TIMESTAMP, nullable=True),
        _customer_fk("invoices"),
        sa.ForeignKeyConstraint(
            ["vendor_id"],
            ["vendors.id"],
            name=op.f("fk_invoices_vendor_id_vendors"),
            ondelete="RESTRICT",
        ),
        *_tenant_key("invoices"),
        sa.UniqueConstraint("document_id", name=op.f("uq_invoices_document_id")),
    )
    op.create_index(
        "ix_invoices_reseller_id_period_end",
        "invoices",
        ["reseller_id", "period_end"],
        unique=False,
    )
    op.create_index(
        "uq_invoices_retail_number",
        "invoices",
        ["reseller_id", "number"],
        unique=True,
        sqlite_where=sa.text("kind = 'RETAIL'"),
        postgresql_where=sa.text("kind = 'RETAIL'"),
    )
    op.create_index(
        "uq_invoices_retail_period",
        "invoices",
        ["reseller_id", "customer_id", "vendor_id", "period_start", "period_end"],
        unique=True,
        sqlite_where=sa.text("kind = 'RETAIL' AND status <> 'VOID'"),
        postgresql_where=sa.text("kind = 'RETAIL' AND status <> 'VOID'"),
    )
    op.create_index(
        "uq_invoices_wholesale_number",
        "invoices",
        ["number"],
        unique=True,
        sqlite_where=sa.text("kind = 'WHOLESALE'"),
        postgresql_where=sa.text("kind = 'WHOLESALE'"),
    )
    op.create_index(
        "uq_invoices_wholesale_period",
        "invoices",
        ["reseller_id", "vendor_id", "period_start", "period_end"],
        unique=True,
        sqlite_where=sa.text("kind = 'WHOLESALE' AND status <> 'VOID'"),
        postgresql_where=sa.text("kind = 'WHOLESALE' AND status <> 'VOID'"),
    )

    op.create_table(
        "price_overrides",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("price", sa.Numeric(precision=20, scale=6), nullable=True),
        sa.Column("markup_percent", sa.Numeric(precision=9, scale=4), nullable=True),
        _product_fk("price_overrides"),
        _customer_fk("price_overrides"),
        *_tenant_key("price_overrides"),
    )
    op.create_index(
        "uq_price_overrides_customer",
        "price_overrides",
        ["reseller_id", "customer_id", "product_id", "currency"],
        unique=True,
        sqlite_where=sa.text("customer_id IS NOT NULL"),
        postgresql_where=sa.text("customer_id IS NOT NULL"),
    )
    op.create_index(
        "uq_price_overrides_reseller_wide",
        "price_overrides",
        ["reseller_id", "product_id", "currency"],
        unique=True,
        sqlite_where=sa.text("customer_id IS NULL"),
        postgresql_where=sa.text("customer_id IS NULL"),
    )

    op.create_table(
        "product_prices",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("msrp", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("cost", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_prices_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", "currency", name=op.f("pk_product_prices")),
    )
    op.create_table(
        "subscriptions",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        _product_fk("subscriptions"),
        _customer_fk("subscriptions"),
        *_tenant_key("subscriptions"),
    )
    op.create_index(
        "ix_subscriptions_reseller_id_customer_id",
        "subscriptions",
        ["reseller_id", "customer_id"],
        unique=False,
    )

    op.create_table(
        "usage_records",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        _product_fk("usage_records"),
        _customer_fk("usage_records"),
        *_tenant_key("usage_records"),
    )
    op.create_index(
        "ix_usage_records_reseller_id_occurred_at",
        "usage_records",
        ["reseller_id", "occurred_at"],
        unique=False,
    )
    op.create_index(
        "uq_usage_records_reference",
        "usage_records",
        ["reseller_id", "customer_id", "reference"],
        unique=True,
    )

    op.create_table(
        "invoice_lines",
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "RECURRING",
                "USAGE",
                name="productkind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column(
            "price_source",
            sa.Enum(
                "CUSTOMER_OVERRIDE",
                "RESELLER_OVERRIDE",
                "MSRP",
                "CONVERTED_MSRP",
                "COST",
                "CONVERTED_COST",
                name="pricesource",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("service_start", sa.Date(), nullable=False),
        sa.Column("service_end", sa.Date(), nullable=False),
        _product_fk("invoice_lines"),
        sa.ForeignKeyConstraint(
            ["reseller_id", "invoice_id"],
            ["invoices.reseller_id", "invoices.id"],
            name="fk_invoice_lines_reseller_id_invoices",
            ondelete="CASCADE",
        ),
        *_tenant_key("invoice_lines"),
    )
    op.create_index(
        "ix_invoice_lines_reseller_id_invoice_id",
        "invoice_lines",
        ["reseller_id", "invoice_id"],
        unique=False,
    )

    op.create_table(
        "payments",
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "method",
            sa.Enum(
                "CARD",
                "OUT_OF_BAND",
                name="paymentmethodkind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "SUCCEEDED",
                "FAILED",
                name="paymentstatus",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("gateway_charge_id", sa.String(length=100), nullable=True),
        sa.Column("failure_reason", sa.String(length=300), nullable=True),
        sa.Column("paid_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["reseller_id", "invoice_id"],
            ["invoices.reseller_id", "invoices.id"],
            name="fk_payments_reseller_id_invoices",
            ondelete="RESTRICT",
        ),
        *_tenant_key("payments"),
    )
    op.create_index(
        "ix_payments_reseller_id_invoice_id",
        "payments",
        ["reseller_id", "invoice_id"],
        unique=False,
    )

    op.create_table(
        "invoice_charges",
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("line_id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=True),
        sa.Column("usage_record_id", sa.Uuid(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("days", sa.Integer(), nullable=True),
        sa.Column("period_days", sa.Integer(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.ForeignKeyConstraint(
            ["reseller_id", "line_id"],
            ["invoice_lines.reseller_id", "invoice_lines.id"],
            name="fk_invoice_charges_reseller_id_invoice_lines",
            ondelete="CASCADE",
        ),
        *_tenant_key("invoice_charges"),
    )
    op.create_index(
        "ix_invoice_charges_reseller_id_invoice_id",
        "invoice_charges",
        ["reseller_id", "invoice_id"],
        unique=False,
    )
    if _postgresql():
        _protect_posted_invoices()


def downgrade() -> None:
    if _postgresql():
        for table in ("invoices", "invoice_lines", "invoice_charges"):
            op.execute(f"DROP TRIGGER IF EXISTS posted_invoice_is_final ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS posted_invoice_lines_are_final ON {table}")
        op.execute("DROP FUNCTION IF EXISTS refuse_posted_invoice_change()")
        op.execute("DROP FUNCTION IF EXISTS refuse_posted_line_change()")
    op.drop_index("ix_invoice_charges_reseller_id_invoice_id", table_name="invoice_charges")

    op.drop_table("invoice_charges")
    op.drop_index("ix_payments_reseller_id_invoice_id", table_name="payments")

    op.drop_table("payments")
    op.drop_index("ix_invoice_lines_reseller_id_invoice_id", table_name="invoice_lines")

    op.drop_table("invoice_lines")
    op.drop_index("uq_usage_records_reference", table_name="usage_records")
    op.drop_index("ix_usage_records_reseller_id_occurred_at", table_name="usage_records")

    op.drop_table("usage_records")
    op.drop_index("ix_subscriptions_reseller_id_customer_id", table_name="subscriptions")

    op.drop_table("subscriptions")
    op.drop_table("product_prices")
    op.drop_index("uq_price_overrides_reseller_wide", table_name="price_overrides")
    op.drop_index("uq_price_overrides_customer", table_name="price_overrides")

    op.drop_table("price_overrides")
    op.drop_index("uq_invoices_wholesale_period", table_name="invoices")
    op.drop_index("uq_invoices_wholesale_number", table_name="invoices")
    op.drop_index("uq_invoices_retail_period", table_name="invoices")
    op.drop_index("uq_invoices_retail_number", table_name="invoices")
    op.drop_index("ix_invoices_reseller_id_period_end", table_name="invoices")

    op.drop_table("invoices")
    op.drop_index(op.f("ix_products_vendor_id"), table_name="products")

    op.drop_table("products")
    op.drop_index("uq_invoice_field_definitions_key", table_name="invoice_field_definitions")

    op.drop_table("invoice_field_definitions")
    op.drop_table("invoice_counters")
    op.drop_table("vendors")
    op.drop_table("exchange_rates")
