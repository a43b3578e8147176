"""Posted invoices' lines and charges guarded once per statement instead of once per row.

The guard of 0003 was a BEFORE ... FOR EACH ROW trigger: a plpgsql call and an invoice lookup
for every line and charge a billing run inserts, half of the run's write time. These AFTER ...
FOR EACH STATEMENT triggers see the statement's rows as transition tables and check them in one
join: a line or charge of a posted invoice is still never inserted, changed or deleted, and a
line still never moves to another invoice; the statement that tries fails as a whole, as before.
PostgreSQL only (SQLite has no such guard: the application's own checks apply there).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("invoice_lines", "invoice_charges")
REFUSE_POSTED_LINES = """
CREATE FUNCTION refuse_posted_lines() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    posted uuid;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT i.id INTO posted FROM new_rows n
            JOIN invoices i ON i.reseller_id = n.reseller_id AND i.id = n.invoice_id
            WHERE i.status <> 'DRAFT' LIMIT 1;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT i.id INTO posted FROM old_rows o
            JOIN invoices i ON i.reseller_id = o.reseller_id AND i.id = o.invoice_id
            WHERE i.status <> 'DRAFT' LIMIT 1;
    ELSE
        IF EXISTS (
            SELECT 1 FROM old_rows o JOIN new_rows n ON n.reseller_id = o.reseller_id
                AND n.id = o.id
            WHERE n.invoice_id IS DISTINCT FROM o.invoice_id
        ) OR (SELECT count(*) FROM old_rows) <> (
            SELECT count(*) FROM old_rows o JOIN new_rows n ON n.reseller_id = o.reseller_id
                AND n.id = o.id
        ) THEN
            RAISE EXCEPTION 'a line never moves to another invoice'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        SELECT i.id INTO posted FROM old_rows o
            JOIN invoices i ON i.reseller_id = o.reseller_id AND i.id = o.invoice_id
            WHERE i.status <> 'DRAFT' LIMIT 1;
    END IF;
    IF posted IS NOT NULL THEN
        RAISE EXCEPTION 'invoice % is posted: its lines never change', posted
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$
"""
# 0003's row trigger, for the downgrade.
REFUSE_POSTED_LINE_CHANGE = """
CREATE FUNCTION refuse_posted_line_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    row_reseller uuid;
    row_invoice uuid;
    invoice_status text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        row_reseller := OLD.reseller_id;
        row_invoice := OLD.invoice_id;
    ELSE
        row_reseller := NEW.reseller_id;
        row_invoice := NEW.invoice_id;
    END IF;
    SELECT status INTO invoice_status FROM invoices
        WHERE reseller_id = row_reseller AND id = row_invoice;
    IF TG_OP = 'UPDATE' AND (OLD.reseller_id, OLD.invoice_id) IS DISTINCT FROM
            (NEW.reseller_id, NEW.invoice_id) THEN
        RAISE EXCEPTION 'a line never moves to another invoice'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF invoice_status IS NOT NULL AND invoice_status <> 'DRAFT' THEN
        RAISE EXCEPTION 'invoice % is posted: its lines never change', row_invoice
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$
"""
# PostgreSQL allows transition tables on a trigger of one event only: three per table.
EVENTS = {
    "insert": ("INSERT", "REFERENCING NEW TABLE AS new_rows"),
    "update": ("UPDATE", "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    "delete": ("DELETE", "REFERENCING OLD TABLE AS old_rows"),
}


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _postgresql():
        return
    op.execute(REFUSE_POSTED_LINES)
    for table in TABLES:
        op.execute(f"DROP TRIGGER posted_invoice_lines_are_final ON {table}")
        for name, (event, referencing) in EVENTS.items():
            op.execute(
                f"CREATE TRIGGER posted_invoice_lines_{name} AFTER {event} ON {table}"
                f" {referencing} FOR EACH STATEMENT EXECUTE FUNCTION refuse_posted_lines()"
            )
    op.execute("DROP FUNCTION refuse_posted_line_change()")


def downgrade() -> None:
    if not _postgresql():
        return
    op.execute(REFUSE_POSTED_LINE_CHANGE)
    for table in TABLES:
        for name in EVENTS:
            op.execute(f"DROP TRIGGER posted_invoice_lines_{name} ON {table}")
        op.execute(
            f"CREATE TRIGGER posted_invoice_lines_are_final BEFORE INSERT OR UPDATE OR DELETE"
            f" ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_posted_line_change()"
        )
    op.execute("DROP FUNCTION refuse_posted_lines()")
