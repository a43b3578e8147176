"""Payments and dunning: the job table, cards on file, charge attempts, idempotency keys.

- ``jobs``: durable work due at a time (retries, deactivations, checks on unanswered attempts),
  keyed per tenant, claimed by any number of workers.
- ``payment_methods``: a card held by the gateway (its references, brand, last four, expiry).
- ``payments``: PENDING attempts, who started each (AUTOPAY, RETRY, MANUAL, RECORDED), the key
  sent to the gateway (unique per tenant), decline codes, references of recorded payments, and
  the bank-transfer, cheque and other methods.
- ``resellers``: PAST_DUE, autopay, and the state of the current dunning cycle.
- ``idempotency_keys`` and the sandbox gateway's ledger, ``sandbox_charges``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

import warnings
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
AMOUNT = sa.Numeric(precision=20, scale=6)
CURRENT_TENANT = "NULLIF(current_setting('app.reseller_id', true), '')::uuid"
CURRENT_CUSTOMER = "NULLIF(current_setting('app.customer_id', true), '')::uuid"
ALL_TENANTS = "current_setting('app.all_tenants', true) = 'on'"
TENANT = f"(reseller_id = {CURRENT_TENANT} OR {ALL_TENANTS})"
OWN_CUSTOMER = f"({CURRENT_CUSTOMER} IS NULL OR customer_id = {CURRENT_CUSTOMER})"

ACCOUNT_STATUS = ("ACTIVE", "DEACTIVATED")
ACCOUNT_STATUS_NOW = ("ACTIVE", "PAST_DUE", "DEACTIVATED")
METHODS = ("CARD", "OUT_OF_BAND")
METHODS_NOW = ("CARD", "BANK_TRANSFER", "CHEQUE", "OTHER", "OUT_OF_BAND")
PAYMENT_STATUS = ("SUCCEEDED", "FAILED")
PAYMENT_STATUS_NOW = ("PENDING", "SUCCEEDED", "FAILED")
TRIGGERS = ("AUTOPAY", "RETRY", "MANUAL", "RECORDED")


def _enum(name: str, values: Sequence[str]) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=20)


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _isolate(table: str, condition: str = TENANT) -> None:
    if not _postgresql():
        return
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING {condition} WITH CHECK {condition}"
    )


def _change_enum(
    table: str, column: str, name: str, old: Sequence[str], new: Sequence[str]
) -> None:
    """A non-native enum's CHECK constraint, widened or narrowed. On SQLite the table is
    rebuilt (db.migrate turns foreign keys off while migrations run, as SQLite asks)."""
    if _postgresql():
        values = ", ".join(f"'{v}'" for v in new)
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT ck_{table}_{name}")
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT ck_{table}_{name} CHECK ({column} IN ({values}))"
        )
        return
    with op.batch_alter_table(table, recreate="always") as batch:
        batch.alter_column(
            column, existing_type=_enum(name, old), type_=_enum(name, new), existing_nullable=False
        )


def upgrade() -> None:
    # Rebuilding a table on SQLite reflects the tables it references, one of which has an
    # expression index (lower(name)) that reflection skips: it is kept, not lost.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        _upgrade()


def _upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column(
            "status", _enum("jobstatus", ("QUEUED", "DONE", "FAILED", "CANCELLED")), nullable=False
        ),
        sa.Column("run_at", TIMESTAMP, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("reseller_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("reseller_id", "id", name=op.f("pk_jobs")),
    )
    op.create_index("uq_jobs_key", "jobs", ["reseller_id", "key"], unique=True)
    op.create_index("ix_jobs_status_run_at", "jobs", ["status", "run_at"], unique=False)
    _isolate("jobs")

    op.create_table(
        "payment_methods",
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("gateway", sa.String(length=20), nullable=False),
        sa.Column("gateway_ref", sa.String(length=200), nullable=False),
        sa.Column("gateway_customer_ref", sa.String(length=200), nullable=True),
        sa.Column("brand", sa.String(length=20), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("exp_month", sa.Integer(), nullable=False),
        sa.Column("exp_year", sa.Integer(), nullable=False),
        sa.Column("status", _enum("cardstatus", ("ACTIVE", "REPLACED")), nullable=False),
        sa.Column("reseller_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["reseller_id"],
            ["resellers.id"],
            name=op.f("fk_payment_methods_reseller_id_resellers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["reseller_id", "customer_id"],
            ["customers.reseller_id", "customers.id"],
            name="fk_payment_methods_reseller_id_customers",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("reseller_id", "id", name=op.f("pk_payment_methods")),
    )
    op.create_index(
        "ix_payment_methods_reseller_id_customer_id",
        "payment_methods",
        ["reseller_id", "customer_id"],
        unique=False,
    )
    _isolate("payment_methods", f"({TENANT} AND {OWN_CUSTOMER})")

    op.create_table(
        "sandbox_charges",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("card_ref", sa.String(length=200), nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("decline_code", sa.String(length=60), nullable=True),
        sa.Column("charged_at", TIMESTAMP, nullable=False),
        sa.Column("reseller_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("reseller_id", "id", name=op.f("pk_sandbox_charges")),
    )
    op.create_index(
        "uq_sandbox_charges_key", "sandbox_charges", ["reseller_id", "key"], unique=True
    )
    _isolate("sandbox_charges")

    op.create_table(
        "idempotency_keys",
        sa.Column("reseller_id", sa.Uuid(), nullable=False),
        sa.Column("operation", sa.String(length=60), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint(
            "reseller_id", "operation", "key", name=op.f("pk_idempotency_keys")
        ),
    )
    _isolate("idempotency_keys")

    _change_enum("payments", "method", "paymentmethodkind", METHODS, METHODS_NOW)
    _change_enum("payments", "status", "paymentstatus", PAYMENT_STATUS, PAYMENT_STATUS_NOW)
    with op.batch_alter_table("payments") as batch:
        batch.add_column(
            sa.Column(
                "trigger",
                _enum("paymenttrigger", TRIGGERS),
                nullable=False,
                server_default="RECORDED",
            )
        )
        batch.add_column(sa.Column("gateway_key", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("job_key", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("payment_method_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("decline_code", sa.String(length=60), nullable=True))
        batch.add_column(sa.Column("reference", sa.String(length=200), nullable=True))
    with op.batch_alter_table("payments") as batch:
        batch.alter_column(
            "trigger", server_default=None, existing_type=_enum("paymenttrigger", TRIGGERS)
        )
    op.create_index(
        "uq_payments_gateway_key", "payments", ["reseller_id", "gateway_key"], unique=True
    )

    _change_enum("resellers", "status", "accountstatus", ACCOUNT_STATUS, ACCOUNT_STATUS_NOW)
    with op.batch_alter_table("resellers") as batch:
        batch.add_column(
            sa.Column("autopay", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(
            sa.Column("dunning_retries", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("dunning_since", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("last_failure_reason", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("last_decline_code", sa.String(length=60), nullable=True))
    with op.batch_alter_table("resellers") as batch:
        batch.alter_column("autopay", server_default=None, existing_type=sa.Boolean())
        batch.alter_column("dunning_retries", server_default=None, existing_type=sa.Integer())


def downgrade() -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        _downgrade()


def _downgrade() -> None:
    with op.batch_alter_table("resellers") as batch:
        for column in (
            "last_decline_code",
            "last_failure_reason",
            "dunning_since",
            "dunning_retries",
            "autopay",
        ):
            batch.drop_column(column)
    op.execute("UPDATE resellers SET status = 'ACTIVE' WHERE status = 'PAST_DUE'")
    _change_enum("resellers", "status", "accountstatus", ACCOUNT_STATUS_NOW, ACCOUNT_STATUS)
    op.drop_index("uq_payments_gateway_key", table_name="payments")
    with op.batch_alter_table("payments") as batch:
        for column in (
            "reference",
            "decline_code",
            "payment_method_id",
            "job_key",
            "gateway_key",
            "trigger",
        ):
            batch.drop_column(column)
    op.execute("DELETE FROM payments WHERE status = 'PENDING'")
    op.execute(
        "UPDATE payments SET method = 'OUT_OF_BAND'"
        " WHERE method IN ('BANK_TRANSFER', 'CHEQUE', 'OTHER')"
    )
    _change_enum("payments", "status", "paymentstatus", PAYMENT_STATUS_NOW, PAYMENT_STATUS)
    _change_enum("payments", "method", "paymentmethodkind", METHODS_NOW, METHODS)
    op.drop_table("idempotency_keys")
    op.drop_index("uq_sandbox_charges_key", table_name="sandbox_charges")
    op.drop_table("sandbox_charges")
    op.drop_index("ix_payment_methods_reseller_id_customer_id", table_name="payment_methods")
    op.drop_table("payment_methods")
    op.drop_index("ix_jobs_status_run_at", table_name="jobs")
    op.drop_index("uq_jobs_key", table_name="jobs")
    op.drop_table("jobs")
