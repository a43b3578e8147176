"""The invoice state machine under random sequences of operations (Hypothesis, stateful): billing
runs make drafts of one reseller; postings (some rolled back afterwards), settlements, voids,
partial payments, discards and transitions that must be refused run against a real SQLite
database, and after every step:

- every invoice has the status a plain model of domain.md predicts, and discarded drafts are gone;
- nothing left CLOSED or VOID, nothing that left DRAFT is a DRAFT again;
- the numbers of the posted invoices are exactly 1..n, each once, and drafts have none;
- each invoice's lines sum to its subtotal, and subtotal + tax is its total.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from auth.tokens import TokenSigner
from billing.lifecycle import BillingPolicy, InvoiceLifecycle
from billing.models import Invoice, InvoiceLine, InvoiceStatus, Payment
from billing.models import PaymentMethodKind as Method
from billing.models import PaymentStatus as Paid
from core.clock import utcnow
from core.errors import DomainError
from core.ids import new_id
from db.database import Database
from db.scope import TenantScope
from notifications.emails import Composer
from tests.billing.conftest import make_catalog
from tests.billing.drafts import SYSTEM, month, prefix_of, run_billing, sequence_of, subscribe
from tests.conftest import TEST_SECRET
from tests.factories import build_world

T = TypeVar("T")
DRAFT, OPEN, CLOSED, VOID = (
    InvoiceStatus.DRAFT,
    InvoiceStatus.OPEN,
    InvoiceStatus.CLOSED,
    InvoiceStatus.VOID,
)
MAX_RUNS = 8  # billing runs (months) per example


@dataclass(frozen=True)
class Seed:
    """A migrated database file holding the two-tenant world, the catalog and subscriptions of
    reseller A's three customers to one product of each vendor."""

    path: Path
    reseller_id: uuid.UUID
    customers: tuple[uuid.UUID, ...]
    prefix: str


async def _seed(path: Path) -> Seed:
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        world = await build_world(db, TokenSigner(TEST_SECRET, "channelbill"))
        shop = await make_catalog(db)
        products = [shop.products["m365"], shop.products["support"]]
        await subscribe(db, world.a.id, world.a.customers, products)
        prefix = await prefix_of(db, world.a.id)
    finally:
        await db.dispose()
    return Seed(path, world.a.id, tuple(world.a.customers), prefix)


@dataclass
class Expected:
    """What domain.md says an invoice is now."""

    status: InvoiceStatus = DRAFT
    paid: bool = False


class Boom(Exception):
    pass


class LifecycleMachine(RuleBasedStateMachine):
    seed: Seed  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="lifecycle-machine-"))
        path = self.directory / "channelbill.sqlite3"
        shutil.copyfile(self.seed.path, path)
        self.runner = asyncio.Runner()
        self.db = Database(f"sqlite+aiosqlite:///{path}")
        self.scope = TenantScope.tenant(self.seed.reseller_id)
        self.lifecycle = InvoiceLifecycle(
            Composer("Billing <billing@platform.example>"), BillingPolicy()
        )
        self.expected: dict[uuid.UUID, Expected] = {}
        self.order: list[uuid.UUID] = []  # invoices in the order they were made
        self.left_draft: set[uuid.UUID] = set()
        self.final: dict[uuid.UUID, InvoiceStatus] = {}
        self.discarded: set[uuid.UUID] = set()
        self.runs = 0

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coroutine)

    def teardown(self) -> None:
        try:
            self.run(self.db.dispose())
        finally:
            self.runner.close()
            shutil.rmtree(self.directory, ignore_errors=True)

    # Making drafts ---------------------------------------------------------------------------

    def _bill(self, customers: list[int]) -> None:
        ids = [self.seed.customers[n] for n in sorted(customers)]
        made = self.run(run_billing(self.db, self.scope, month(10 - self.runs), customer_ids=ids))
        self.runs += 1
        assert len(made) == 2 * len(ids)  # one per customer and vendor
        for invoice_id in self.run(self._in_a_stable_order(made)):
            self.expected[invoice_id] = Expected()
            self.order.append(invoice_id)

    async def _in_a_stable_order(self, ids: list[uuid.UUID]) -> list[uuid.UUID]:
        async with self.db.read(self.scope) as session:
            rows = await session.execute(
                select(Invoice.id, Invoice.customer_id, Invoice.total).where(Invoice.id.in_(ids))
            )
            found = list(rows)
        position = {c: n for n, c in enumerate(self.seed.customers)}
        found.sort(key=lambda row: (position[row.customer_id], row.total))
        return [row.id for row in found]

    @initialize()
    def first_run(self) -> None:
        self._bill([0])

    @precondition(lambda self: self.runs < MAX_RUNS)
    @rule(customers=st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True))
    def billing_run(self, customers: list[int]) -> None:
        self._bill(customers)

    # Changes ---------------------------------------------------------------------------------

    def _pick(self, data: st.DataObject) -> uuid.UUID:
        return data.draw(st.sampled_from(self.order), label="invoice")

    def _allowed(self, invoice_id: uuid.UUID) -> set[InvoiceStatus]:
        known = self.expected[invoice_id]
        return {
            DRAFT: {OPEN},
            OPEN: {CLOSED} if known.paid else {CLOSED, VOID},
            CLOSED: set(),
            VOID: set(),
        }[known.status]

    def _change(self, invoice_id: uuid.UUID, status: InvoiceStatus) -> None:
        async def change() -> None:
            async with self.db.write(self.scope) as session:
                await self.lifecycle.update_status(
                    session, self.scope, SYSTEM, invoice_id, status, notify=False
                )

        if status in self._allowed(invoice_id):
            self.run(change())
            self.expected[invoice_id].status = status
            self.left_draft.add(invoice_id)
            if status in (CLOSED, VOID):
                self.final[invoice_id] = status
        else:
            self._assert_refused(change())

    def _assert_refused(self, coroutine: Coroutine[Any, Any, None]) -> None:
        try:
            self.run(coroutine)
        except DomainError as error:
            assert [p.code for p in error.problems] == ["INVALID_TRANSITION"]
        else:
            raise AssertionError("the lifecycle allowed a transition domain.md refuses")

    @precondition(lambda self: self.order)
    @rule(data=st.data())
    def post(self, data: st.DataObject) -> None:
        self._change(self._pick(data), OPEN)

    @precondition(lambda self: self.order)
    @rule(data=st.data())
    def close(self, data: st.DataObject) -> None:
        self._change(self._pick(data), CLOSED)

    @precondition(lambda self: self.order)
    @rule(data=st.data())
    def void(self, data: st.DataObject) -> None:
        self._change(self._pick(data), VOID)

    @precondition(lambda self: self.order)
    @rule(data=st.data(), wanted=st.sampled_from(list(InvoiceStatus)))
    def try_an_invalid_transition(self, data: st.DataObject, wanted: InvoiceStatus) -> None:
        candidates = [i for i in self.order if wanted not in self._allowed(i)]
        if not candidates:
            return
        invoice_id = data.draw(st.sampled_from(candidates), label="invoice")
        self._change(invoice_id, wanted)

    @precondition(lambda self: self.order)
    @rule(data=st.data())
    def post_then_fail(self, data: st.DataObject) -> None:
        """A posting whose transaction fails afterwards: as if it never happened."""
        invoice_id = self._pick(data)

        async def post_and_fail() -> None:
            async with self.db.write(self.scope) as session:
                await self.lifecycle.update_status(
                    session, self.scope, SYSTEM, invoice_id, OPEN, notify=True
                )
                raise Boom

        if self.expected[invoice_id].status is DRAFT:
            try:
                self.run(post_and_fail())
            except Boom:
                pass
            else:
                raise AssertionError("the posting did not reach the failure")
        else:
            self._assert_refused(post_and_fail())

    @precondition(lambda self: self.order)
    @rule(data=st.data())
    def discard(self, data: st.DataObject) -> None:
        invoice_id = self._pick(data)

        async def discard() -> None:
            async with self.db.write(self.scope) as session:
                await self.lifecycle.discard(session, self.scope, SYSTEM, invoice_id)

        if self.expected[invoice_id].status is DRAFT:
            self.run(discard())
            del self.expected[invoice_id]
            self.order.remove(invoice_id)
            self.discarded.add(invoice_id)
        else:
            self._assert_refused(discard())

    @precondition(lambda self: any(e.status is OPEN and not e.paid for e in self.expected.values()))
    @rule(data=st.data())
    def pay_part(self, data: st.DataObject) -> None:
        """A card payment of one cent: from now on the invoice cannot be voided."""
        candidates = [i for i in self.order if self.expected[i].status is OPEN]
        invoice_id = data.draw(st.sampled_from(candidates), label="invoice")

        async def pay() -> None:
            async with self.db.write(TenantScope.system()) as session:
                invoice = (
                    await session.scalars(select(Invoice).where(Invoice.id == invoice_id))
                ).one()
                session.add(
                    Payment(
                        reseller_id=invoice.reseller_id,
                        id=new_id(),
                        invoice_id=invoice.id,
                        customer_id=invoice.customer_id,
                        amount=Decimal("0.01"),
                        currency=invoice.currency,
                        method=Method.CARD,
                        status=Paid.SUCCEEDED,
                        paid_at=utcnow(),
                    )
                )
                invoice.amount_paid += Decimal("0.01")

        self.run(pay())
        self.expected[invoice_id].paid = True

    # Invariants ------------------------------------------------------------------------------

    async def _stored(self) -> tuple[dict[uuid.UUID, Invoice], dict[uuid.UUID, list[Decimal]]]:
        async with self.db.read(self.scope) as session:
            invoices = {i.id: i for i in await session.scalars(select(Invoice))}
            lines: dict[uuid.UUID, list[Decimal]] = {}
            for line in await session.scalars(select(InvoiceLine)):
                lines.setdefault(line.invoice_id, []).append(line.amount)
        return invoices, lines

    @invariant()
    def the_database_agrees_with_domain_md(self) -> None:
        invoices, lines = self.run(self._stored())
        # every invoice is known, with the predicted status; discarded ones are gone
        assert set(invoices) == set(self.expected)
        assert not self.discarded & set(lines)
        for invoice_id, invoice in invoices.items():
            assert invoice.status is self.expected[invoice_id].status, invoice_id
        # nothing leaves CLOSED or VOID, nothing returns to DRAFT
        for invoice_id, status in self.final.items():
            assert invoices[invoice_id].status is status
        for invoice_id in self.left_draft:
            assert invoices[invoice_id].status is not DRAFT
        # numbers: exactly 1..n over the posted invoices, none on drafts
        numbers = [i.number for i in invoices.values() if i.status is not DRAFT]
        assert all(n is not None and n.startswith(f"{self.seed.prefix}-") for n in numbers)
        assert sorted(sequence_of(n) for n in numbers if n is not None) == list(
            range(1, len(numbers) + 1)
        )
        assert all(i.number is None for i in invoices.values() if i.status is DRAFT)
        # amounts
        for invoice_id, invoice in invoices.items():
            assert sum(lines[invoice_id], Decimal(0)) == invoice.subtotal
            assert invoice.subtotal + invoice.tax == invoice.total
            if invoice.status is CLOSED:
                assert invoice.amount_paid == invoice.total
            if invoice.status is VOID:
                assert invoice.amount_paid == 0


def test_the_invoice_lifecycle_keeps_its_invariants(sqlite_template: Path, tmp_path: Path):
    # given: a seeded database, copied for every example
    path = tmp_path / "seed.sqlite3"
    shutil.copyfile(sqlite_template, path)
    runner = asyncio.Runner()
    try:
        seed = runner.run(_seed(path))
    finally:
        runner.close()
    assert not Path(f"{path}-wal").exists()

    class Machine(LifecycleMachine):
        pass

    Machine.seed = seed

    # when / then
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=25,
            stateful_step_count=15,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
