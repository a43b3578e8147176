"""Tenant keys everywhere: every table holding tenant rows is distributable by reseller_id.

- ``reseller_id`` is NOT NULL and leads every primary key and unique constraint. The platform's
  own rows (its invoice counter, notification settings, audit entries and mail, admins' refresh
  tokens) carry the reserved platform tenant id (the nil UUID) instead of NULL, so these tables
  no longer reference ``resellers``.
- Addresses, client ids, invitation and refresh-token hashes are unique per tenant; sign-in code
  finds them through plain indexes. An address may now belong to users of several resellers.
- Invoice document ids and the platform's invoice numbers are unique per tenant (the platform's
  counter row keeps its numbers unique across resellers).
- Refresh tokens carry their account's tenant; payments their invoice's customer, and on
  PostgreSQL a customer portal sees only its own customer's payments.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import uuid
import warnings
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLATFORM = uuid.UUID(int=0)
CURRENT_TENANT = "NULLIF(current_setting('app.reseller_id', true), '')::uuid"
CURRENT_CUSTOMER = "NULLIF(current_setting('app.customer_id', true), '')::uuid"
ALL_TENANTS = "current_setting('app.all_tenants', true) = 'on'"
TENANT = f"(reseller_id = {CURRENT_TENANT} OR {ALL_TENANTS})"
PORTAL_PAYMENTS = f"({CURRENT_CUSTOMER} IS NULL OR customer_id = {CURRENT_CUSTOMER})"


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _policy(table: str, condition: str) -> None:
    op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING {condition} WITH CHECK {condition}"
    )


def _platform_rows(table: str) -> None:
    """Rows that belonged to no reseller now belong to the platform's tenant."""
    rows = sa.table(table, sa.column("reseller_id", sa.Uuid()))
    op.execute(sa.update(rows).where(rows.c.reseller_id.is_(None)).values(reseller_id=PLATFORM))


def _rekey(table: str, *, drop_indexes: Sequence[str] = ()) -> None:
    """(reseller_id, id) as the primary key, reseller_id NOT NULL, no foreign key to
    resellers (the platform's rows name no reseller row)."""
    _platform_rows(table)
    for index in drop_indexes:
        op.drop_index(index, table_name=table)
    with op.batch_alter_table(table) as batch:
        batch.drop_constraint(f"fk_{table}_reseller_id_resellers", type_="foreignkey")
        batch.drop_constraint(f"pk_{table}", type_="primary")
        batch.alter_column("reseller_id", existing_type=sa.Uuid(), nullable=False)
        batch.create_primary_key(f"pk_{table}", ["reseller_id", "id"])


def _unique_per_tenant(table: str, name: str, column: str, *, was_constraint: bool) -> None:
    """``column`` unique per tenant, and still indexed alone for look-ups before the tenant
    is known."""
    if was_constraint:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="unique")
    else:
        op.drop_index(name, table_name=table)
    op.create_index(name, table, ["reseller_id", column], unique=True)
    op.create_index(f"ix_{table}_{column}", table, [column])


def _refresh_tokens() -> None:
    op.add_column("refresh_tokens", sa.Column("reseller_id", sa.Uuid(), nullable=True))
    tokens = sa.table(
        "refresh_tokens",
        sa.column("id", sa.Uuid()),
        sa.column("subject", sa.String()),
        sa.column("reseller_id", sa.Uuid()),
    )
    users = sa.table("users", sa.column("id", sa.Uuid()), sa.column("reseller_id", sa.Uuid()))
    bind = op.get_bind()
    tenant_of = {row.id: row.reseller_id for row in bind.execute(sa.select(users))}
    for row in bind.execute(sa.select(tokens.c.id, tokens.c.subject)).all():
        kind, _, raw = str(row.subject).partition(":")
        try:
            account = uuid.UUID(raw)
        except ValueError:
            account = None
        tenant = PLATFORM if kind == "admin" else tenant_of.get(account)  # type: ignore[arg-type]
        if tenant is None:
            bind.execute(sa.delete(tokens).where(tokens.c.id == row.id))
        else:
            bind.execute(sa.update(tokens).where(tokens.c.id == row.id).values(reseller_id=tenant))
    op.drop_index("ix_refresh_tokens_family_id", table_name="refresh_tokens")
    with op.batch_alter_table("refresh_tokens") as batch:
        batch.drop_constraint("uq_refresh_tokens_token_hash", type_="unique")
        batch.drop_constraint("pk_refresh_tokens", type_="primary")
        batch.alter_column("reseller_id", existing_type=sa.Uuid(), nullable=False)
        batch.create_primary_key("pk_refresh_tokens", ["reseller_id", "id"])
    op.create_index(
        "uq_refresh_tokens_token_hash", "refresh_tokens", ["reseller_id", "token_hash"], unique=True
    )
    op.create_index("ix_refresh_tokens_token_hash", "refresh_tokens", ["token_hash"])
    op.create_index(
        "ix_refresh_tokens_reseller_id_family_id", "refresh_tokens", ["reseller_id", "family_id"]
    )


def _invoice_counters() -> None:
    counters = sa.table(
        "invoice_counters", sa.column("seller", sa.String()), sa.column("reseller_id", sa.Uuid())
    )
    op.execute(
        sa.update(counters).where(counters.c.seller == "platform").values(reseller_id=PLATFORM)
    )
    with op.batch_alter_table("invoice_counters") as batch:
        batch.drop_constraint("fk_invoice_counters_reseller_id_resellers", type_="foreignkey")
        batch.drop_constraint("pk_invoice_counters", type_="primary")
        batch.drop_column("seller")
        batch.alter_column("reseller_id", existing_type=sa.Uuid(), nullable=False)
        batch.create_primary_key("pk_invoice_counters", ["reseller_id"])


def _notification_settings() -> None:
    settings = sa.table(
        "notification_settings",
        sa.column("owner", sa.String()),
        sa.column("reseller_id", sa.Uuid()),
    )
    op.execute(
        sa.update(settings).where(settings.c.owner == "platform").values(reseller_id=PLATFORM)
    )
    if _postgresql():
        op.execute("DROP POLICY platform_fallback ON notification_settings")
    with op.batch_alter_table("notification_settings") as batch:
        batch.drop_constraint("fk_notification_settings_reseller_id_resellers", type_="foreignkey")
        batch.drop_constraint("uq_notification_settings_reseller_id", type_="unique")
        batch.drop_constraint("pk_notification_settings", type_="primary")
        batch.drop_column("owner")
        batch.alter_column("reseller_id", existing_type=sa.Uuid(), nullable=False)
        batch.create_primary_key("pk_notification_settings", ["reseller_id"])
    if _postgresql():
        # Permissive policies add up: for reading, the platform's row as well (the fallback).
        op.execute(
            "CREATE POLICY platform_fallback ON notification_settings FOR SELECT"
            f" USING (reseller_id = '{PLATFORM}'::uuid)"
        )


def _invoices_and_payments() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.drop_constraint("uq_invoices_document_id", type_="unique")
        batch.create_unique_constraint(
            "uq_invoices_customer_key", ["reseller_id", "id", "customer_id"]
        )
    op.create_index(
        "uq_invoices_document_id", "invoices", ["reseller_id", "document_id"], unique=True
    )
    op.drop_index("uq_invoices_wholesale_number", table_name="invoices")
    op.create_index(
        "uq_invoices_wholesale_number",
        "invoices",
        ["reseller_id", "number"],
        unique=True,
        sqlite_where=sa.text("kind = 'WHOLESALE'"),
        postgresql_where=sa.text("kind = 'WHOLESALE'"),
    )
    op.add_column("payments", sa.Column("customer_id", sa.Uuid(), nullable=True))
    op.execute(
        "UPDATE payments SET customer_id = (SELECT invoices.customer_id FROM invoices"
        " WHERE invoices.reseller_id = payments.reseller_id AND invoices.id = payments.invoice_id)"
    )
    with op.batch_alter_table("payments") as batch:
        batch.create_foreign_key(
            "fk_payments_reseller_id_invoices_customer",
            "invoices",
            ["reseller_id", "invoice_id", "customer_id"],
            ["reseller_id", "id", "customer_id"],
            ondelete="RESTRICT",
        )
    if _postgresql():
        _policy("payments", f"({TENANT} AND {PORTAL_PAYMENTS})")


def upgrade() -> None:
    # SQLite's batch mode rebuilds tables by reflecting them and their neighbours; the one
    # expression index (lower(customers.name)) cannot be reflected and is not touched here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        _upgrade()


def _upgrade() -> None:
    if _postgresql():
        # Every tenant's rows (FORCE RLS binds the owner too), for this transaction only.
        op.execute("SELECT set_config('app.all_tenants', 'on', true)")
    _rekey("audit_events", drop_indexes=["ix_audit_events_reseller_id"])
    _rekey(
        "outbox_messages",
        drop_indexes=["ix_outbox_messages_reseller_id", "ix_outbox_messages_about_id"],
    )
    op.create_index(
        "ix_outbox_messages_reseller_id_about_id", "outbox_messages", ["reseller_id", "about_id"]
    )
    _refresh_tokens()
    _invoice_counters()
    _notification_settings()
    _unique_per_tenant("users", "uq_users_email", "email", was_constraint=False)
    _unique_per_tenant("api_clients", "uq_api_clients_client_id", "client_id", was_constraint=False)
    _unique_per_tenant(
        "activation_tokens", "uq_activation_tokens_token_hash", "token_hash", was_constraint=False
    )
    _invoices_and_payments()
    if _postgresql():
        for table in ("refresh_tokens",):
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            _policy(table, TENANT)


def downgrade() -> None:
    raise NotImplementedError("0008 rekeys tenant tables; restore a backup to go back")
