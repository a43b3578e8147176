"""Accounts and access: invitation links, API clients, portal tokens, the audit log, the outbox.

A customer portal session also sets app.customer_id: the customers policy then shows it one row.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
CURRENT_TENANT = "NULLIF(current_setting('app.reseller_id', true), '')::uuid"
CURRENT_CUSTOMER = "NULLIF(current_setting('app.customer_id', true), '')::uuid"
ALL_TENANTS = "current_setting('app.all_tenants', true) = 'on'"


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def enable_rls(table: str, condition: str | None = None) -> None:
    if not _postgresql():
        return
    condition = condition or f"(reseller_id = {CURRENT_TENANT} OR {ALL_TENANTS})"
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING {condition} WITH CHECK {condition}"
    )


def _tenant_key(table: str) -> list[sa.schema.SchemaItem]:
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


def _tenant_tag(table: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reseller_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.ForeignKeyConstraint(
            ["reseller_id"],
            ["resellers.id"],
            name=f"fk_{table}_reseller_id_resellers",
            ondelete="RESTRICT",
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "activation_tokens",
        *_tenant_key("activation_tokens"),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("used_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["reseller_id", "user_id"],
            ["users.reseller_id", "users.id"],
            name="fk_activation_tokens_reseller_id_users",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "uq_activation_tokens_token_hash", "activation_tokens", ["token_hash"], unique=True
    )
    op.create_table(
        "api_clients",
        *_tenant_key("api_clients"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.Column("last_used_at", TIMESTAMP, nullable=True),
    )
    op.create_index("uq_api_clients_client_id", "api_clients", ["client_id"], unique=True)
    op.create_table(
        "portal_tokens",
        *_tenant_key("portal_tokens"),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["reseller_id", "customer_id"],
            ["customers.reseller_id", "customers.id"],
            name="fk_portal_tokens_reseller_id_customers",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_portal_tokens_reseller_id_customer_id", "portal_tokens", ["reseller_id", "customer_id"]
    )
    op.create_table(
        "audit_events",
        *_tenant_tag("audit_events"),
        sa.Column("actor_kind", sa.String(20), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_name", sa.String(320), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(40), nullable=False),
        sa.Column("object_id", sa.Uuid(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_events_reseller_id", "audit_events", ["reseller_id"])
    op.create_table(
        "outbox_messages",
        *_tenant_tag("outbox_messages"),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("recipient", sa.String(1000), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("about_type", sa.String(40), nullable=True),
        sa.Column("about_id", sa.Uuid(), nullable=True),
        sa.Column("message", sa.LargeBinary(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "QUEUED",
                "SENT",
                "FAILED",
                name="deliverystatus",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False),
        sa.Column("locked_until", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
    )
    op.create_index("ix_outbox_messages_reseller_id", "outbox_messages", ["reseller_id"])
    op.create_index("ix_outbox_messages_about_id", "outbox_messages", ["about_id"])
    op.create_index(
        "ix_outbox_messages_status_next_attempt_at",
        "outbox_messages",
        ["status", "next_attempt_at"],
    )
    for table in (
        "activation_tokens",
        "api_clients",
        "portal_tokens",
        "audit_events",
        "outbox_messages",
    ):
        enable_rls(table)
    if _postgresql():
        op.execute("DROP POLICY tenant_isolation ON customers")
        condition = (
            f"((reseller_id = {CURRENT_TENANT} OR {ALL_TENANTS})"
            f" AND ({CURRENT_CUSTOMER} IS NULL OR id = {CURRENT_CUSTOMER}))"
        )
        op.execute(
            f"CREATE POLICY tenant_isolation ON customers USING {condition} WITH CHECK {condition}"
        )


def downgrade() -> None:
    if _postgresql():
        op.execute("DROP POLICY tenant_isolation ON customers")
        condition = f"(reseller_id = {CURRENT_TENANT} OR {ALL_TENANTS})"
        op.execute(
            f"CREATE POLICY tenant_isolation ON customers USING {condition} WITH CHECK {condition}"
        )
    for table in (
        "outbox_messages",
        "audit_events",
        "portal_tokens",
        "api_clients",
        "activation_tokens",
    ):
        op.drop_table(table)
