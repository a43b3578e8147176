"""Outbox origin: whether a message came from an event, a copy a user asked for, or a test.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(
            sa.Column(
                "origin",
                sa.Enum(
                    "EVENT",
                    "COPY",
                    "TEST",
                    name="notificationorigin",
                    native_enum=False,
                    create_constraint=True,
                    length=20,
                ),
                nullable=False,
                server_default="EVENT",
            )
        )
    # Rows written before events had one name: the template's. Every tenant's rows (FORCE RLS
    # binds the owner too), for this transaction only.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT set_config('app.all_tenants', 'on', true)")
    for old, new in (
        ("invoice_posted", "INVOICE_POSTED"),
        ("invoice_paid", "INVOICE_PAID"),
        ("invoice_voided", "INVOICE_VOIDED"),
    ):
        op.execute(
            sa.text("UPDATE outbox_messages SET event = :new WHERE event = :old").bindparams(
                old=old, new=new
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("origin")
