"""Rate limits: leaky buckets and failure back-offs shared by every worker.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_TENANT = "NULLIF(current_setting('app.reseller_id', true), '')::uuid"
ALL_TENANTS = "current_setting('app.all_tenants', true) = 'on'"


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("reseller_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("level", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.Column("refused", sa.Boolean(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("blocked_until", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("reseller_id", "key", name=op.f("pk_rate_limits")),
    )
    if op.get_bind().dialect.name == "postgresql":
        condition = f"(reseller_id = {CURRENT_TENANT} OR {ALL_TENANTS})"
        op.execute("ALTER TABLE rate_limits ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE rate_limits FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON rate_limits USING {condition}"
            f" WITH CHECK {condition}"
        )


def downgrade() -> None:
    op.drop_table("rate_limits")
