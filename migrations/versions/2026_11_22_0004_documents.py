"""Documents and branding: notification settings (per reseller, and the platform's), rendered
invoice documents kept for reuse; a reseller no longer sees its wholesale drafts.

On PostgreSQL a reseller reads its own settings and the platform's (the fallback) but writes only
its own; rendered documents are isolated like every tenant table. A wholesale invoice's buyer is a
reseller, and a draft is invisible to its buyer: only the platform sees wholesale drafts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
CURRENT_TENANT = "NULLIF(current_setting('app.reseller_id', true), '')::uuid"
CURRENT_CUSTOMER = "NULLIF(current_setting('app.customer_id', true), '')::uuid"
ALL_TENANTS = "current_setting('app.all_tenants', true) = 'on'"
TENANT = f"(reseller_id = {CURRENT_TENANT} OR {ALL_TENANTS})"
PORTAL = f"({CURRENT_CUSTOMER} IS NULL OR (customer_id = {CURRENT_CUSTOMER} AND status <> 'DRAFT'))"
NO_WHOLESALE_DRAFT = f"({ALL_TENANTS} OR kind <> 'WHOLESALE' OR status <> 'DRAFT')"


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _invoices_policy(condition: str) -> None:
    op.execute("DROP POLICY tenant_isolation ON invoices")
    op.execute(
        f"CREATE POLICY tenant_isolation ON invoices USING {condition} WITH CHECK {condition}"
    )


def upgrade() -> None:
    op.create_table(
        "notification_settings",
        sa.Column("owner", sa.String(length=40), nullable=False),
        sa.Column("reseller_id", sa.Uuid(), nullable=True),
        sa.Column("logo", sa.LargeBinary(), nullable=True),
        sa.Column("logo_content_type", sa.String(length=40), nullable=True),
        sa.Column("control_panel_url", sa.String(length=500), nullable=True),
        sa.Column("website_url", sa.String(length=500), nullable=True),
        sa.Column("sender_name", sa.String(length=200), nullable=True),
        sa.Column("reply_to", sa.String(length=320), nullable=True),
        sa.Column("address", sa.String(length=1000), nullable=True),
        sa.Column("enabled_events", sa.JSON(), nullable=True),
        sa.Column("attach_invoice_pdf", sa.Boolean(), nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["reseller_id"],
            ["resellers.id"],
            name="fk_notification_settings_reseller_id_resellers",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("owner", name="pk_notification_settings"),
        sa.UniqueConstraint("reseller_id", name="uq_notification_settings_reseller_id"),
    )
    op.create_table(
        "rendered_documents",
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("reseller_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["reseller_id", "invoice_id"],
            ["invoices.reseller_id", "invoices.id"],
            name="fk_rendered_documents_reseller_id_invoices",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reseller_id"],
            ["resellers.id"],
            name="fk_rendered_documents_reseller_id_resellers",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("reseller_id", "id", name="pk_rendered_documents"),
        sa.UniqueConstraint(
            "reseller_id", "invoice_id", "format", name="uq_rendered_documents_invoice"
        ),
    )
    if not _postgresql():
        return
    for table in ("notification_settings", "rendered_documents"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} USING {TENANT} WITH CHECK {TENANT}")
    # Permissive policies add up: for reading, the platform's row as well.
    op.execute(
        "CREATE POLICY platform_fallback ON notification_settings FOR SELECT"
        " USING (reseller_id IS NULL)"
    )
    _invoices_policy(f"({TENANT} AND {PORTAL} AND {NO_WHOLESALE_DRAFT})")


def downgrade() -> None:
    if _postgresql():
        _invoices_policy(f"({TENANT} AND {PORTAL})")
    op.drop_table("rendered_documents")
    op.drop_table("notification_settings")
