"""The event log and webhooks.

- ``events``: what happened to billing objects, written in the transaction of the change: an
  ordered id (UUIDv7), the type, when, the object's global id, the customer it is about (a
  portal sees only its own), whether it is billing data, and a snapshot in the API's spelling.
- ``webhook_endpoints``: where a reseller wants events POSTed, which types, its signing secret
  (and the previous one during a rotation's grace period).
- ``webhook_deliveries``: one event to one endpoint, with the outcome of its latest attempt.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
CURRENT_TENANT = "NULLIF(current_setting('app.reseller_id', true), '')::uuid"
CURRENT_CUSTOMER = "NULLIF(current_setting('app.customer_id', true), '')::uuid"
ALL_TENANTS = "current_setting('app.all_tenants', true) = 'on'"
TENANT = f"(reseller_id = {CURRENT_TENANT} OR {ALL_TENANTS})"
OWN_CUSTOMER = f"({CURRENT_CUSTOMER} IS NULL OR customer_id = {CURRENT_CUSTOMER})"


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
        "events",
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("object_id", sa.String(length=120), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("billing", sa.Boolean(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("reseller_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("reseller_id", "id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_occurred_at", "events", ["occurred_at"], unique=False)
    _isolate("events", f"({TENANT} AND {OWN_CUSTOMER})")

    op.create_table(
        "webhook_endpoints",
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("status", _enum("endpointstatus", ("ENABLED", "DISABLED")), nullable=False),
        sa.Column("disabled_reason", sa.String(length=300), nullable=True),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("previous_secret", sa.String(length=200), nullable=True),
        sa.Column("previous_secret_expires_at", TIMESTAMP, nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=True),
        sa.Column("reseller_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["reseller_id"],
            ["resellers.id"],
            name=op.f("fk_webhook_endpoints_reseller_id_resellers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("reseller_id", "id", name=op.f("pk_webhook_endpoints")),
    )
    _isolate("webhook_endpoints")

    op.create_table(
        "webhook_deliveries",
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            _enum("webhookdeliverystatus", ("PENDING", "SUCCEEDED", "FAILED")),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("delivered_at", TIMESTAMP, nullable=True),
        sa.Column("reseller_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["reseller_id", "endpoint_id"],
            ["webhook_endpoints.reseller_id", "webhook_endpoints.id"],
            name="fk_webhook_deliveries_reseller_id_webhook_endpoints",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reseller_id", "event_id"],
            ["events.reseller_id", "events.id"],
            name="fk_webhook_deliveries_reseller_id_events",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reseller_id"],
            ["resellers.id"],
            name=op.f("fk_webhook_deliveries_reseller_id_resellers"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("reseller_id", "id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint",
        "webhook_deliveries",
        ["reseller_id", "endpoint_id", "id"],
        unique=False,
    )
    op.create_index(
        "ix_webhook_deliveries_event", "webhook_deliveries", ["reseller_id", "event_id"]
    )
    _isolate("webhook_deliveries")


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
    op.drop_index("ix_events_occurred_at", table_name="events")
    op.drop_table("events")
