"""Foundation: platform admins, resellers, users, customers, refresh tokens; RLS on PostgreSQL.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
CURRENT_TENANT = "NULLIF(current_setting('app.reseller_id', true), '')::uuid"
ALL_TENANTS = "current_setting('app.all_tenants', true) = 'on'"


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=20)


def enable_rls(table: str, column: str = "reseller_id") -> None:
    """ENABLE + FORCE: the table owner is bound too; the policy reads the per-transaction tenant."""
    if op.get_bind().dialect.name != "postgresql":
        return
    condition = f"({column} = {CURRENT_TENANT} OR {ALL_TENANTS})"
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING {condition} WITH CHECK {condition}"
    )


def _tenant_key(table: str) -> list[sa.schema.SchemaItem]:
    """(reseller_id, id): the key of every tenant-owned table."""
    return [
        sa.Column("reseller_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("reseller_id", "id", name=f"pk_{table}"),
        sa.ForeignKeyConstraint(
            ["reseller_id"],
            ["resellers.id"],
            name=f"fk_{table}_reseller_id_resellers",
            ondelete="RESTRICT",
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "platform_admins",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("status", _enum("userstatus", "INVITED", "ACTIVE", "DISABLED"), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_admins")),
        sa.UniqueConstraint("email", name=op.f("uq_platform_admins_email")),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("used_at", TIMESTAMP, nullable=True),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])
    op.create_table(
        "resellers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("slug", sa.String(63), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("status", _enum("accountstatus", "ACTIVE", "DEACTIVATED"), nullable=False),
        sa.Column("invoice_prefix", sa.String(12), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resellers")),
        sa.UniqueConstraint("slug", name=op.f("uq_resellers_slug")),
    )
    op.create_table(
        "users",
        *_tenant_key("users"),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", _enum("role", "OWNER", "ADMIN", "MEMBER"), nullable=False),
        sa.Column("billing_access", sa.Boolean(), nullable=False),
        sa.Column("status", _enum("userstatus", "INVITED", "ACTIVE", "DISABLED"), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
    )
    op.create_index("uq_users_email", "users", ["email"], unique=True)
    op.create_table(
        "customers",
        *_tenant_key("customers"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("tax_rate", sa.Numeric(7, 4), nullable=False),
        sa.Column("tax_id", sa.String(64), nullable=True),
        sa.Column("status", _enum("accountstatus", "ACTIVE", "DEACTIVATED"), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
    )
    op.create_index(
        "ix_customers_reseller_id_name", "customers", ["reseller_id", sa.text("lower(name)")]
    )
    enable_rls("resellers", column="id")
    enable_rls("users")
    enable_rls("customers")


def downgrade() -> None:
    op.drop_table("customers")
    op.drop_table("users")
    op.drop_table("resellers")
    op.drop_table("refresh_tokens")
    op.drop_table("platform_admins")
