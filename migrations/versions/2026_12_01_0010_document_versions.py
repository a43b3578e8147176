"""Posted invoices kept as issued, and what their face was missing.

- ``invoice_snapshots``: one row per version of a posted invoice (ISSUED, PAID, VOID), taken in
  the transaction of the status change: the seller's branding (logo included) and the buyer's
  details as they were then, and the status and amount paid.
- ``notification_settings``: the seller's tax id and payment instructions, for its invoices.
- ``customers``: a postal address, printed under "Bill to".

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

import warnings
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
AMOUNT = sa.Numeric(precision=20, scale=6)
CURRENT_TENANT = "NULLIF(current_setting('app.reseller_id', true), '')::uuid"
ALL_TENANTS = "current_setting('app.all_tenants', true) = 'on'"
TENANT = f"(reseller_id = {CURRENT_TENANT} OR {ALL_TENANTS})"


def _enum(name: str, values: Sequence[str]) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=20)


def _isolate(table: str, condition: str = TENANT) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING {condition} WITH CHECK {condition}"
    )


def upgrade() -> None:
    op.create_table(
        "invoice_snapshots",
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("version", _enum("invoiceversion", ("ISSUED", "PAID", "VOID")), nullable=False),
        sa.Column(
            "status",
            _enum("invoicestatus", ("DRAFT", "OPEN", "CLOSED", "VOID")),
            nullable=False,
        ),
        sa.Column("amount_paid", AMOUNT, nullable=False),
        sa.Column("seller", sa.JSON(), nullable=False),
        sa.Column("buyer", sa.JSON(), nullable=False),
        sa.Column("logo", sa.LargeBinary(), nullable=True),
        sa.Column("logo_content_type", sa.String(length=40), nullable=True),
        sa.Column("reseller_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["reseller_id"],
            ["resellers.id"],
            name=op.f("fk_invoice_snapshots_reseller_id_resellers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["reseller_id", "invoice_id"],
            ["invoices.reseller_id", "invoices.id"],
            name="fk_invoice_snapshots_reseller_id_invoices",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("reseller_id", "id", name=op.f("pk_invoice_snapshots")),
        sa.UniqueConstraint(
            "reseller_id", "invoice_id", "version", name="uq_invoice_snapshots_version"
        ),
    )
    _isolate("invoice_snapshots")

    with op.batch_alter_table("notification_settings") as batch:
        batch.add_column(sa.Column("tax_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("payment_instructions", sa.String(length=1000), nullable=True))
    # Adding a column to customers on SQLite reflects it, and reflection skips its expression
    # index (lower(name)): the index is kept, not lost.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        with op.batch_alter_table("customers") as batch:
            batch.add_column(sa.Column("address", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        with op.batch_alter_table("customers") as batch:
            batch.drop_column("address")
    with op.batch_alter_table("notification_settings") as batch:
        batch.drop_column("payment_instructions")
        batch.drop_column("tax_id")
    op.drop_table("invoice_snapshots")
