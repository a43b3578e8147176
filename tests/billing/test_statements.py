"""Statements (domain.md, Statements): every document posted in the range, a voided invoice as the
invoice and its reversal, balances that carry over, and aging as of the range's end or today,
whichever is earlier. Posting, paying and voiding go through the invoice lifecycle, at the days
the test sets its clock to."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from billing import lifecycle as lifecycle_module
from billing import statements
from billing.lifecycle import InvoiceLifecycle
from billing.models import Invoice, InvoiceStatus
from billing.statements import Statement
from db.database import Database
from db.scope import TenantScope
from tests.billing.conftest import Shop
from tests.billing.drafts import SYSTEM, load, retail_drafts
from tests.factories import World


def noon(day: date) -> datetime:
    """Midday UTC: the same local day for an account in any timezone within 11 hours of UTC."""
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


class Books:
    """Changes invoices of reseller A through the lifecycle, each on a day of the test's choice."""

    def __init__(
        self,
        db: Database,
        lifecycle: InvoiceLifecycle,
        world: World,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        self.db = db
        self.lifecycle = lifecycle
        self.scope = TenantScope.tenant(world.a.id)
        self.monkeypatch = monkeypatch

    async def on(self, day: date, invoice_id: uuid.UUID, status: InvoiceStatus) -> Invoice:
        self.monkeypatch.setattr(lifecycle_module, "utcnow", lambda: noon(day))
        async with self.db.write(self.scope) as session:
            await self.lifecycle.update_status(
                session, self.scope, SYSTEM, invoice_id, status, notify=False
            )
        found = await load(self.db, invoice_id)
        assert found is not None
        return found

    async def statement(
        self, customer_id: uuid.UUID, start: date, end: date, *, today: date
    ) -> Statement:
        self.monkeypatch.setattr(statements, "utcnow", lambda: noon(today))
        async with self.db.read(self.scope) as session:
            return await statements.customer_statement(session, self.scope, customer_id, start, end)


@pytest.fixture
async def books(
    db: Database, world: World, lifecycle: InvoiceLifecycle, monkeypatch: pytest.MonkeyPatch
) -> Books:
    return Books(db, lifecycle, world, monkeypatch)


@pytest.fixture
async def history(books: Books, db: Database, world: World, shop: Shop) -> list[Invoice]:
    """One customer of A, billed September to November 2026: September's invoice posted on
    1 October and paid on 10 October, October's posted on 1 November and voided the next day,
    November's posted on 1 December and still open (due 30 days later)."""
    customer = world.a.customers[0]
    drafts = await retail_drafts(db, world.a.id, [customer], [shop.products["m365"]], periods=3)
    by_period = {}
    for draft in drafts:
        invoice = await load(db, draft)
        assert invoice is not None
        by_period[invoice.period_start.month] = draft
    september = await books.on(date(2026, 10, 1), by_period[9], InvoiceStatus.OPEN)
    september = await books.on(date(2026, 10, 10), september.id, InvoiceStatus.CLOSED)
    october = await books.on(date(2026, 11, 1), by_period[10], InvoiceStatus.OPEN)
    october = await books.on(date(2026, 11, 2), october.id, InvoiceStatus.VOID)
    november = await books.on(date(2026, 12, 1), by_period[11], InvoiceStatus.OPEN)
    return [september, october, november]


def moves(statement: Statement) -> list[tuple[date, str, str, Decimal, Decimal, Decimal]]:
    return [(e.on, e.kind, e.reference, e.debit, e.credit, e.balance) for e in statement.entries]


async def test_a_statement_shows_every_document_a_void_as_the_invoice_and_its_reversal(
    books: Books, history: list[Invoice], world: World
):
    # given
    september, october, november = history
    assert september.number and october.number and november.number
    s, o, n = september.total, october.total, november.total
    assert min(s, o, n) > 0

    # when
    found = await books.statement(
        world.a.customers[0], date(2026, 10, 1), date(2026, 12, 31), today=date(2026, 12, 31)
    )

    # then the voided invoice is there, debited then credited: they net to zero
    assert moves(found) == [
        (date(2026, 10, 1), "INVOICE", september.number, s, 0, s),
        (date(2026, 10, 10), "PAYMENT", september.number, 0, s, 0),
        (date(2026, 11, 1), "INVOICE", october.number, o, 0, o),
        (date(2026, 11, 2), "VOID", october.number, 0, o, 0),
        (date(2026, 12, 1), "INVOICE", november.number, n, 0, n),
    ]
    assert found.entries[3].description == f"Invoice {october.number} voided"
    assert (found.opening_balance, found.closing_balance) == (0, n)
    assert found.aging.total == n


async def test_a_void_after_the_end_is_owed_at_the_end_and_reversed_in_the_next_range(
    books: Books, history: list[Invoice], world: World
):
    # given
    _, october, _ = history
    customer = world.a.customers[0]

    # when the range ends the day October's invoice was posted, and the next starts after it
    first = await books.statement(
        customer, date(2026, 10, 1), date(2026, 11, 1), today=date(2026, 12, 31)
    )
    then = await books.statement(
        customer, date(2026, 11, 2), date(2026, 11, 30), today=date(2026, 12, 31)
    )

    # then the first owes it, not yet due, and the next opens with it and reverses it
    assert [e.kind for e in first.entries] == ["INVOICE", "PAYMENT", "INVOICE"]
    assert first.closing_balance == october.total
    assert (first.aging.current, first.aging.total) == (october.total, october.total)
    assert then.opening_balance == october.total
    assert moves(then) == [(date(2026, 11, 2), "VOID", october.number, 0, october.total, 0)]
    assert then.closing_balance == 0 and then.aging.total == 0


async def test_aging_is_as_of_today_when_the_range_ends_later(
    books: Books, history: list[Invoice], world: World
):
    # given November's invoice, due 30 days after 1 December
    *_, november = history
    assert november.due_date == date(2026, 12, 31)

    # when the statement runs to the end of January, asked on 10 January
    found = await books.statement(
        world.a.customers[0], date(2026, 10, 1), date(2027, 1, 31), today=date(2027, 1, 10)
    )

    # then it is aged 10 days past due, as of today, not 31 as of a day still to come
    assert found.aged_on == date(2027, 1, 10)
    assert (found.aging.days_1_30, found.aging.days_31_60) == (november.total, 0)
    assert found.aging.total == found.closing_balance == november.total


async def test_aging_is_as_of_the_end_when_the_range_is_over(
    books: Books, history: list[Invoice], world: World
):
    # given
    *_, november = history

    # when the statement ends on 15 February 2027, asked in April
    found = await books.statement(
        world.a.customers[0], date(2026, 10, 1), date(2027, 2, 15), today=date(2027, 4, 30)
    )

    # then November's invoice is 46 days late on 15 February
    assert found.aged_on == date(2027, 2, 15)
    assert (found.aging.days_1_30, found.aging.days_31_60) == (0, november.total)
