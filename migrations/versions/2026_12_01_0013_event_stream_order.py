"""The order in which events became visible, for streams that must not skip one.

An event's id is made before its transaction commits, so two transactions can commit in the
other order than their ids: a reader that remembers "the last id I saw" would skip the event
that commits late with a lower id. On PostgreSQL each event records its transaction's id
(``pg_current_xact_id``); a stream reads in (txid, id) order and only events of transactions
older than every one still running (``pg_snapshot_xmin``), so what it has passed can never
change. SQLite runs one writing transaction at a time: there the column is 0 and the id order
is the commit order.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_TXID = "(pg_current_xact_id()::text::bigint)"


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    default = sa.text(CURRENT_TXID) if postgresql else sa.text("0")
    with op.batch_alter_table("events") as table:
        table.add_column(sa.Column("txid", sa.BigInteger(), server_default=default, nullable=False))
    op.create_index("ix_events_stream", "events", ["reseller_id", "txid", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_events_stream", table_name="events")
    with op.batch_alter_table("events") as table:
        table.drop_column("txid")
