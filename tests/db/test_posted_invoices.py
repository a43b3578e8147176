"""PostgreSQL guards posted invoices whatever the application does: raw SQL run as the application
role cannot change a posted invoice's lines, charges, amounts or number, cannot make it a DRAFT
again and cannot delete it, while the same statements on a DRAFT go through; and a customer
portal's transaction sees, by row-level security alone, only its own customer's posted invoices."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from billing.lifecycle import BillingPolicy, InvoiceLifecycle
from billing.models import InvoiceStatus
from db.database import Database
from db.scope import TenantScope
from notifications.emails import Composer
from tests.billing.conftest import Shop, make_catalog
from tests.billing.drafts import SYSTEM, lines_of, load, retail_drafts
from tests.factories import World

pytestmark = pytest.mark.postgresql


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
async def shop(db: Database, world: World) -> Shop:
    return await make_catalog(db)


@pytest.fixture
def lifecycle() -> InvoiceLifecycle:
    return InvoiceLifecycle(Composer("Billing <billing@platform.example>"), BillingPolicy())


COPY_A_LINE = (
    "INSERT INTO invoice_lines (reseller_id, id, created_at, invoice_id, position, product_id,"
    " kind, description, quantity, unit_price, amount, price_source, service_start, service_end)"
    " SELECT reseller_id, gen_random_uuid(), created_at, invoice_id, position + 100, product_id,"
    " kind, description, quantity, unit_price, amount, price_source, service_start, service_end"
    " FROM invoice_lines WHERE invoice_id = :id LIMIT 1"
)
# Each statement touches the invoice :id (a posted one is refused, a draft's goes through).
STATEMENTS = {
    "update a line": "UPDATE invoice_lines SET amount = amount + 1 WHERE invoice_id = :id",
    "delete the lines": "DELETE FROM invoice_lines WHERE invoice_id = :id",
    "insert a line": COPY_A_LINE,
    "update a charge": "UPDATE invoice_charges SET amount = amount + 1 WHERE invoice_id = :id",
    "delete the charges": "DELETE FROM invoice_charges WHERE invoice_id = :id",
    "change the total": "UPDATE invoices SET total = total + 1 WHERE id = :id",
    "change the period": ("UPDATE invoices SET period_end = period_end + 1 WHERE id = :id"),
    "make it a draft": "UPDATE invoices SET status = 'DRAFT' WHERE id = :id",
    "delete it": "DELETE FROM invoices WHERE id = :id",
}


class RolledBack(Exception):
    """Ends a transaction that went through, so that the next statement finds the same rows."""


async def run(db: Database, sql: str, invoice_id: uuid.UUID) -> int:
    """One statement in its own transaction as the application role (system scope): the number
    of rows it touched. The transaction is rolled back."""
    touched = -1
    with pytest.raises(RolledBack):
        async with db.write(TenantScope.system()) as session:
            result: Any = await session.execute(text(sql), {"id": invoice_id})
            touched = result.rowcount
            raise RolledBack
    return touched


async def refused(db: Database, sql: str, invoice_id: uuid.UUID) -> DBAPIError:
    with pytest.raises(DBAPIError) as caught:
        async with db.write(TenantScope.system()) as session:
            await session.execute(text(sql), {"id": invoice_id})
    return caught.value


async def two_invoices(
    db: Database, world: World, shop: Shop, lifecycle: InvoiceLifecycle, posted_status: str
) -> tuple[uuid.UUID, uuid.UUID]:
    """A's drafts of two customers: the first taken to ``posted_status``, the second a DRAFT."""
    posted, draft = await retail_drafts(
        db, world.a.id, world.a.customers[:2], [shop.products["m365"]]
    )
    scope = TenantScope.tenant(world.a.id)
    for status in {"OPEN": ["OPEN"], "CLOSED": ["OPEN", "CLOSED"], "VOID": ["OPEN", "VOID"]}[
        posted_status
    ]:
        async with db.write(scope) as session:
            await lifecycle.update_status(
                session, scope, SYSTEM, posted, InvoiceStatus(status), notify=False
            )
    return posted, draft


async def test_a_posted_invoice_refuses_raw_changes_a_draft_takes_them(
    db: Database, world: World, shop: Shop, lifecycle: InvoiceLifecycle
):
    # given
    posted, draft = await two_invoices(db, world, shop, lifecycle, "OPEN")
    before = await load(db, posted)
    assert before is not None

    for what, sql in STATEMENTS.items():
        # when
        error = await refused(db, sql, posted)

        # then
        assert "is posted" in str(error.orig), what
        after = await load(db, posted)
        assert after is not None
        assert (after.status, after.number, after.total, after.period_end) == (
            before.status,
            before.number,
            before.total,
            before.period_end,
        ), what

        # when: the same statement on a draft
        touched = await run(db, sql, draft)

        # then: it went through, on rows the application role can see
        assert touched >= 1, what


@pytest.mark.parametrize("status", ["CLOSED", "VOID"])
async def test_closed_and_void_invoices_are_final_in_the_database_too(
    db: Database, world: World, shop: Shop, lifecycle: InvoiceLifecycle, status: str
):
    # given
    posted, _ = await two_invoices(db, world, shop, lifecycle, status)

    for sql in (
        "UPDATE invoices SET status = 'OPEN' WHERE id = :id",
        "UPDATE invoices SET number = number || 'X' WHERE id = :id",
        'UPDATE invoices SET custom_fields = \'{"po": "late"}\' WHERE id = :id',
        "DELETE FROM invoices WHERE id = :id",
        "DELETE FROM invoice_lines WHERE invoice_id = :id",
    ):
        # when
        error = await refused(db, sql, posted)

        # then
        assert "is posted" in str(error.orig), sql
    stored = await load(db, posted)
    assert stored is not None and stored.status == status


async def test_one_statement_over_drafts_and_a_posted_invoice_fails_whole(
    db: Database, world: World, shop: Shop, lifecycle: InvoiceLifecycle
):
    """The guard checks a statement's rows together: one posted invoice among them fails the
    whole statement, and no draft's row is changed either."""
    posted, draft = await two_invoices(db, world, shop, lifecycle, "OPEN")
    both = f"(SELECT id FROM invoices WHERE id IN (:id, '{draft}'))"
    before = await lines_of(db, draft)
    for sql in (
        f"UPDATE invoice_lines SET amount = amount + 1 WHERE invoice_id IN {both}",
        f"DELETE FROM invoice_charges WHERE invoice_id IN {both}",
        COPY_A_LINE.replace("WHERE invoice_id = :id LIMIT 1", f"WHERE invoice_id IN {both}"),
    ):
        error = await refused(db, sql, posted)
        assert "is posted" in str(error.orig), sql
    after = await lines_of(db, draft)
    assert [line.amount for line in after] == [line.amount for line in before]


async def test_a_line_never_moves_to_another_invoice(
    db: Database, world: World, shop: Shop, lifecycle: InvoiceLifecycle
):
    _, draft = await two_invoices(db, world, shop, lifecycle, "OPEN")
    other = (await retail_drafts(db, world.a.id, world.a.customers[2:3], [shop.products["m365"]]))[
        0
    ]
    error = await refused(
        db, f"UPDATE invoice_lines SET invoice_id = '{other}' WHERE invoice_id = :id", draft
    )
    assert "never moves" in str(error.orig)


async def test_an_open_invoice_may_still_be_settled(
    db: Database, world: World, shop: Shop, lifecycle: InvoiceLifecycle
):
    # given
    posted, _ = await two_invoices(db, world, shop, lifecycle, "OPEN")

    # when: what settling changes, and only that
    touched = await run(
        db,
        "UPDATE invoices SET status = 'CLOSED', amount_paid = total, closed_at = now()"
        " WHERE id = :id",
        posted,
    )

    # then
    assert touched == 1


async def test_a_portal_sees_only_its_customers_posted_invoices(
    db: Database, world: World, shop: Shop, lifecycle: InvoiceLifecycle
):
    # given: A's customers 1 and 2 each have an OPEN and a DRAFT invoice (two vendors); B has
    # invoices of its own
    products = [shop.products["m365"], shop.products["support"]]
    a_ids = await retail_drafts(db, world.a.id, world.a.customers[:2], products)
    b_ids = await retail_drafts(db, world.b.id, world.b.customers[:1], products)
    scope = TenantScope.tenant(world.a.id)
    by_id = {i: await load(db, i) for i in a_ids}
    to_post = [
        i
        for i, invoice in by_id.items()
        if invoice is not None and invoice.vendor_id == shop.vendors["microsoft"]
    ]
    for invoice_id in to_post:
        async with db.write(scope) as session:
            await lifecycle.update_status(
                session, scope, SYSTEM, invoice_id, InvoiceStatus.OPEN, notify=False
            )
    first = world.a.customers[0]
    portal = TenantScope.customer(world.a.id, first)
    select_all = "SELECT id, customer_id, status, reseller_id FROM invoices"

    # when
    async with db.read(portal) as session:
        seen = (await session.execute(text(select_all))).all()
    async with db.read(TenantScope.tenant(world.a.id)) as session:
        seen_by_a = (await session.execute(text(select_all))).all()

    # then
    assert len(seen) == 1
    [(invoice_id, customer_id, status, reseller_id)] = seen
    assert invoice_id in to_post
    assert (customer_id, status, reseller_id) == (first, "OPEN", world.a.id)
    # the reseller itself sees all its invoices, drafts included, and none of B's
    assert {row.id for row in seen_by_a} == set(a_ids)
    assert not {row.id for row in seen_by_a} & set(b_ids)
