"""The invoice lifecycle service (domain.md, Invoices): every transition allowed or refused,
numbering on posting, settlement and voiding, discarding, the buyer's email in the outbox and the
audit trail written in the transaction of the change, custom fields, and who may change what."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from billing.invoices import InvoiceRepository
from billing.lifecycle import (
    InvoiceLifecycle,
    allowed_transitions,
    define_custom_field,
)
from billing.models import (
    FieldType,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Payment,
    PaymentMethodKind,
    PaymentStatus,
)
from core.clock import utcnow
from core.errors import DomainError
from core.ids import new_id
from db.database import Database
from db.scope import PLATFORM_TENANT_ID, TenantScope
from tenants.models import Customer, Reseller
from tests.billing.conftest import Shop
from tests.billing.drafts import (
    SYSTEM,
    audit_of,
    count_charges,
    counter,
    lines_of,
    load,
    outbox_about,
    payments_of,
    prefix_of,
    retail_drafts,
    run_billing,
    subscribe,
)
from tests.factories import World

OPEN, CLOSED, VOID, DRAFT = (
    InvoiceStatus.OPEN,
    InvoiceStatus.CLOSED,
    InvoiceStatus.VOID,
    InvoiceStatus.DRAFT,
)
# How to bring a fresh draft to each status.
PATHS = {DRAFT: [], OPEN: [OPEN], CLOSED: [OPEN, CLOSED], VOID: [OPEN, VOID]}


@pytest.fixture
async def drafts(db: Database, world: World, shop: Shop) -> list[uuid.UUID]:
    """Three November drafts of reseller A, one per customer, each with two lines."""
    made = await retail_drafts(
        db, world.a.id, world.a.customers, [shop.products["m365"], shop.products["teams"]]
    )
    assert len(made) == 3
    return made


class Changes:
    """Runs lifecycle calls, each in its own committed transaction."""

    def __init__(self, db: Database, lifecycle: InvoiceLifecycle, scope: TenantScope) -> None:
        self.db = db
        self.lifecycle = lifecycle
        self.scope = scope

    async def status(
        self, invoice_id: uuid.UUID, status: InvoiceStatus, notify: bool = True
    ) -> Invoice:
        async with self.db.write(self.scope) as session:
            return await self.lifecycle.update_status(
                session, self.scope, SYSTEM, invoice_id, status, notify=notify
            )

    async def walk(self, invoice_id: uuid.UUID, to: InvoiceStatus) -> None:
        for status in PATHS[to]:
            await self.status(invoice_id, status, notify=False)

    async def discard(self, invoice_id: uuid.UUID) -> Invoice:
        async with self.db.write(self.scope) as session:
            return await self.lifecycle.discard(session, self.scope, SYSTEM, invoice_id)

    async def fields(self, invoice_id: uuid.UUID, values: list[tuple[str, str | None]]) -> Invoice:
        async with self.db.write(self.scope) as session:
            return await self.lifecycle.set_custom_fields(
                session, self.scope, SYSTEM, invoice_id, values
            )

    async def refused(self, call: Callable[[Any], Awaitable[object]]) -> DomainError:
        """Run ``call(session)`` in a transaction that commits whatever the service left in it
        after refusing: the refusal itself must have changed nothing."""
        async with self.db.write(self.scope) as session:
            with pytest.raises(DomainError) as caught:
                await call(session)
        return caught.value


@pytest.fixture
def as_a(db: Database, world: World, lifecycle: InvoiceLifecycle) -> Changes:
    return Changes(db, lifecycle, TenantScope.tenant(world.a.id))


@pytest.fixture
def as_platform(db: Database, lifecycle: InvoiceLifecycle) -> Changes:
    return Changes(db, lifecycle, TenantScope.system())


def codes(error: DomainError) -> list[str]:
    return [p.code for p in error.problems]


def year_and_due(invoice: Invoice, timezone: str = "UTC") -> tuple[int, Any]:
    assert invoice.issued_at is not None
    issued_on = invoice.issued_at.astimezone(ZoneInfo(timezone)).date()
    return issued_on.year, issued_on + timedelta(days=30)


async def snapshot(db: Database, invoice_id: uuid.UUID) -> tuple[object, ...]:
    """Everything about an invoice a refused change must leave as it was."""
    invoice = await load(db, invoice_id)
    assert invoice is not None
    lines = [(line.id, line.amount) for line in await lines_of(db, invoice_id)]
    return (
        invoice.status,
        invoice.number,
        invoice.amount_paid,
        invoice.issued_at,
        invoice.due_date,
        invoice.closed_at,
        invoice.voided_at,
        invoice.custom_fields,
        invoice.total,
        tuple(lines),
        len(await payments_of(db, invoice_id)),
        len(await audit_of(db, invoice_id)),
        len(await outbox_about(db, invoice_id)),
    )


# Allowed transitions -----------------------------------------------------------------------------


async def test_posting_a_draft_gives_it_the_next_number_an_issue_date_and_a_due_date(
    db: Database, world: World, drafts: list[uuid.UUID], as_a: Changes
):
    # given
    prefix = await prefix_of(db, world.a.id)
    before = utcnow()

    # when
    first = await as_a.status(drafts[0], OPEN)
    second = await as_a.status(drafts[1], OPEN)

    # then
    stored = await load(db, drafts[0])
    assert stored is not None
    assert stored.status is OPEN
    assert stored.issued_at is not None and before <= stored.issued_at <= utcnow()
    year, due = year_and_due(stored)
    assert stored.number == first.number == f"{prefix}-{year}-000001"
    assert stored.due_date == due
    assert second.number == f"{prefix}-{year}-000002"
    assert allowed_transitions(stored) == [CLOSED, VOID]
    assert await counter(db, world.a.id) == 2


async def test_posting_uses_the_sellers_local_date_for_year_and_due_date(
    db: Database, world: World, drafts: list[uuid.UUID], as_a: Changes
):
    # given: a seller far from UTC
    async with db.write(TenantScope.system()) as session:
        await session.execute(
            update(Reseller).where(Reseller.id == world.a.id).values(timezone="Pacific/Kiritimati")
        )

    # when
    posted = await as_a.status(drafts[0], OPEN)

    # then
    year, due = year_and_due(posted, "Pacific/Kiritimati")
    assert posted.number is not None and posted.number.split("-")[1] == str(year)
    assert posted.due_date == due


async def test_closing_records_an_out_of_band_payment_of_the_total(
    db: Database, drafts: list[uuid.UUID], as_a: Changes
):
    # given
    await as_a.status(drafts[0], OPEN)

    # when
    await as_a.status(drafts[0], CLOSED)

    # then
    stored = await load(db, drafts[0])
    assert stored is not None
    assert stored.status is CLOSED
    assert stored.total > 0
    assert stored.amount_paid == stored.total
    assert stored.closed_at is not None
    [payment] = await payments_of(db, drafts[0])
    assert payment.method is PaymentMethodKind.OUT_OF_BAND
    assert payment.status is PaymentStatus.SUCCEEDED
    assert (payment.amount, payment.currency) == (stored.total, stored.currency)
    assert allowed_transitions(stored) == []


async def test_voiding_an_open_invoice_keeps_its_number_and_records_no_payment(
    db: Database, drafts: list[uuid.UUID], as_a: Changes
):
    # given
    posted = await as_a.status(drafts[0], OPEN)

    # when
    await as_a.status(drafts[0], VOID)

    # then
    stored = await load(db, drafts[0])
    assert stored is not None
    assert stored.status is VOID
    assert stored.voided_at is not None
    assert stored.number == posted.number
    assert stored.amount_paid == 0
    assert await payments_of(db, drafts[0]) == []
    assert allowed_transitions(stored) == []


async def record_partial_payment(db: Database, invoice_id: uuid.UUID, amount: Decimal) -> None:
    """A card payment of part of the total, as the payment service would store it."""
    async with db.write(TenantScope.system()) as session:
        invoice = (await session.scalars(select(Invoice).where(Invoice.id == invoice_id))).one()
        session.add(
            Payment(
                reseller_id=invoice.reseller_id,
                id=new_id(),
                invoice_id=invoice.id,
                customer_id=invoice.customer_id,
                amount=amount,
                currency=invoice.currency,
                method=PaymentMethodKind.CARD,
                status=PaymentStatus.SUCCEEDED,
                paid_at=utcnow(),
            )
        )
        invoice.amount_paid = amount


async def test_an_invoice_with_anything_paid_cannot_be_voided_but_can_be_closed(
    db: Database, drafts: list[uuid.UUID], as_a: Changes, lifecycle: InvoiceLifecycle
):
    # given: ten of its total paid by card
    await as_a.status(drafts[0], OPEN)
    await record_partial_payment(db, drafts[0], Decimal("10.00"))
    stored = await load(db, drafts[0])
    assert stored is not None
    assert allowed_transitions(stored) == [CLOSED]
    before = await snapshot(db, drafts[0])

    # when
    error = await as_a.refused(
        lambda s: lifecycle.update_status(s, as_a.scope, SYSTEM, drafts[0], VOID)
    )

    # then
    assert codes(error) == ["INVALID_TRANSITION"]
    assert "payments" in str(error)
    assert await snapshot(db, drafts[0]) == before

    # when: closed, only the rest is recorded out of band
    await as_a.status(drafts[0], CLOSED)

    # then
    closed = await load(db, drafts[0])
    assert closed is not None
    assert closed.amount_paid == closed.total
    by_method = {p.method: p.amount for p in await payments_of(db, drafts[0])}
    assert by_method == {
        PaymentMethodKind.CARD: Decimal("10.00"),
        PaymentMethodKind.OUT_OF_BAND: closed.total - Decimal("10.00"),
    }


# Refused transitions -----------------------------------------------------------------------------

REFUSED = {
    DRAFT: [DRAFT, CLOSED, VOID],
    OPEN: [OPEN, DRAFT],
    CLOSED: [DRAFT, OPEN, CLOSED, VOID],
    VOID: [DRAFT, OPEN, CLOSED, VOID],
}


@pytest.mark.parametrize("start", list(REFUSED))
async def test_a_refused_transition_changes_nothing(
    db: Database,
    world: World,
    drafts: list[uuid.UUID],
    as_a: Changes,
    lifecycle: InvoiceLifecycle,
    start: InvoiceStatus,
):
    # given
    await as_a.walk(drafts[0], start)
    before = await snapshot(db, drafts[0])
    last_number = await counter(db, world.a.id)

    for wanted in REFUSED[start]:
        # when
        error = await as_a.refused(
            lambda s, wanted=wanted: lifecycle.update_status(
                s, as_a.scope, SYSTEM, drafts[0], wanted, notify=True
            )
        )

        # then
        assert codes(error) == ["INVALID_TRANSITION"], wanted
        assert error.problems[0].field == "status"
        assert str(start) in str(error) or str(wanted) in str(error)  # a clear reason
        assert await snapshot(db, drafts[0]) == before, wanted
        assert await counter(db, world.a.id) == last_number


async def test_a_posted_invoice_cannot_be_discarded_nor_its_custom_fields_changed(
    db: Database,
    world: World,
    drafts: list[uuid.UUID],
    as_a: Changes,
    lifecycle: InvoiceLifecycle,
):
    # given: one OPEN, one CLOSED, one VOID invoice, each with a custom field value
    await define(db, world.a.id, "note", FieldType.TEXT)
    for invoice_id, status in zip(drafts, [OPEN, CLOSED, VOID], strict=True):
        await as_a.fields(invoice_id, [("note", "before")])
        await as_a.walk(invoice_id, status)

    for invoice_id in drafts:
        before = await snapshot(db, invoice_id)

        # when
        discarding = await as_a.refused(
            lambda s, i=invoice_id: lifecycle.discard(s, as_a.scope, SYSTEM, i)
        )
        setting = await as_a.refused(
            lambda s, i=invoice_id: lifecycle.set_custom_fields(
                s, as_a.scope, SYSTEM, i, [("note", "after")]
            )
        )

        # then
        assert codes(discarding) == codes(setting) == ["INVALID_TRANSITION"]
        assert await snapshot(db, invoice_id) == before
        assert await count_charges(db, invoice_id) > 0


# Discarding ---------------------------------------------------------------------------------------


async def test_discarding_a_draft_deletes_it_with_its_lines_and_charges(
    db: Database, drafts: list[uuid.UUID], as_a: Changes
):
    # given
    stored = await load(db, drafts[0])
    assert stored is not None
    assert len(await lines_of(db, drafts[0])) == 2
    assert await count_charges(db, drafts[0]) == 2

    # when
    await as_a.discard(drafts[0])

    # then
    assert await load(db, drafts[0]) is None
    assert await lines_of(db, drafts[0]) == []
    assert await count_charges(db, drafts[0]) == 0
    [event] = await audit_of(db, drafts[0])
    assert event.action == "invoice.discarded"
    assert event.details["document_id"] == stored.document_id
    assert await outbox_about(db, drafts[0]) == []
    # the other drafts are untouched
    assert all([await load(db, other) for other in drafts[1:]])
    assert len(await lines_of(db, drafts[1])) == 2


async def test_discarding_never_consumes_a_number(
    db: Database, world: World, drafts: list[uuid.UUID], as_a: Changes
):
    # given
    first = await as_a.status(drafts[0], OPEN)

    # when
    await as_a.discard(drafts[1])
    second = await as_a.status(drafts[2], OPEN)

    # then
    assert first.number is not None and first.number.endswith("-000001")
    assert second.number is not None and second.number.endswith("-000002")
    assert await counter(db, world.a.id) == 2


# Notifications and audit ---------------------------------------------------------------------------


async def test_notify_queues_one_email_to_the_customer_with_the_change(
    db: Database, world: World, drafts: list[uuid.UUID], as_a: Changes
):
    # given: the customers changed their billing email after the drafts were made
    emails = {c: f"accounts-{n}@new.example" for n, c in enumerate(world.a.customers)}
    async with db.write(TenantScope.tenant(world.a.id)) as session:
        for customer_id, email in emails.items():
            await session.execute(
                update(Customer).where(Customer.id == customer_id).values(email=email)
            )
    cases = [([OPEN], "INVOICE_POSTED"), ([OPEN, CLOSED], "INVOICE_PAID")]
    cases.append(([OPEN, VOID], "INVOICE_VOIDED"))

    for invoice_id, (path, event) in zip(drafts, cases, strict=True):
        for status in path[:-1]:
            await as_a.status(invoice_id, status, notify=False)

        # when
        changed = await as_a.status(invoice_id, path[-1], notify=True)

        # then
        [message] = await outbox_about(db, invoice_id)
        assert message.event == event
        assert message.recipient == emails[changed.customer_id]
        assert message.about_type == "Invoice"
        assert message.reseller_id == world.a.id
        assert changed.number is not None and changed.number in message.subject
        assert changed.number.encode() in message.message


async def test_notify_false_queues_nothing(db: Database, drafts: list[uuid.UUID], as_a: Changes):
    # when
    await as_a.status(drafts[0], OPEN, notify=False)
    await as_a.status(drafts[0], CLOSED, notify=False)
    await as_a.status(drafts[1], OPEN, notify=False)
    await as_a.status(drafts[1], VOID, notify=False)

    # then
    assert await outbox_about(db, drafts[0]) == []
    assert await outbox_about(db, drafts[1]) == []


async def test_every_change_is_audited_with_the_change(
    db: Database, world: World, drafts: list[uuid.UUID], as_a: Changes
):
    # when
    posted = await as_a.status(drafts[0], OPEN)
    await as_a.status(drafts[0], CLOSED, notify=False)
    await as_a.status(drafts[1], OPEN, notify=False)
    await as_a.status(drafts[1], VOID)

    # then
    closed = await audit_of(db, drafts[0])
    assert [(e.action, e.details["status_from"], e.details["status_to"]) for e in closed] == [
        ("invoice.posted", "DRAFT", "OPEN"),
        ("invoice.closed", "OPEN", "CLOSED"),
    ]
    assert [e.details["notify"] for e in closed] == [True, False]
    assert all(e.details["number"] == posted.number for e in closed)
    assert all(e.reseller_id == world.a.id and e.object_type == "Invoice" for e in closed)
    assert all(e.actor_kind == "SYSTEM" for e in closed)
    voided = await audit_of(db, drafts[1])
    assert [e.action for e in voided] == ["invoice.posted", "invoice.voided"]


async def test_a_failure_later_in_the_transaction_undoes_the_posting_number_email_and_audit(
    db: Database,
    world: World,
    drafts: list[uuid.UUID],
    as_a: Changes,
    lifecycle: InvoiceLifecycle,
):
    # given
    scope = as_a.scope

    # when: the posting succeeds, then something else in the same unit of work fails
    with pytest.raises(RuntimeError, match="after the posting"):
        async with db.write(scope) as session:
            posted = await lifecycle.update_status(session, scope, SYSTEM, drafts[0], OPEN)
            assert posted.number is not None
            raise RuntimeError("after the posting")

    # then
    stored = await load(db, drafts[0])
    assert stored is not None
    assert (stored.status, stored.number, stored.issued_at, stored.due_date) == (
        DRAFT,
        None,
        None,
        None,
    )
    assert await audit_of(db, drafts[0]) == []
    assert await outbox_about(db, drafts[0]) == []
    assert await counter(db, world.a.id) is None
    # and the number was not lost
    again = await as_a.status(drafts[0], OPEN)
    assert again.number is not None and again.number.endswith("-000001")


async def test_a_failure_after_closing_undoes_the_payment_too(
    db: Database, drafts: list[uuid.UUID], as_a: Changes, lifecycle: InvoiceLifecycle
):
    # given
    await as_a.status(drafts[0], OPEN, notify=False)
    before = await snapshot(db, drafts[0])

    # when
    with pytest.raises(RuntimeError):
        async with db.write(as_a.scope) as session:
            await lifecycle.update_status(session, as_a.scope, SYSTEM, drafts[0], CLOSED)
            raise RuntimeError("boom")

    # then
    assert await snapshot(db, drafts[0]) == before
    assert await payments_of(db, drafts[0]) == []


# Custom fields -----------------------------------------------------------------------------------


async def define(
    db: Database, reseller_id: uuid.UUID, key: str, type_: FieldType, required: bool = False
) -> None:
    scope = TenantScope.tenant(reseller_id)
    async with db.write(scope) as session:
        await define_custom_field(
            session, scope, SYSTEM, reseller_id, key, key.replace("_", " ").title(), type_, required
        )


async def test_a_required_field_must_have_a_value_before_posting(
    db: Database,
    world: World,
    drafts: list[uuid.UUID],
    as_a: Changes,
    lifecycle: InvoiceLifecycle,
):
    # given
    await define(db, world.a.id, "po_number", FieldType.TEXT, required=True)
    await define(db, world.a.id, "note", FieldType.TEXT)
    before = await snapshot(db, drafts[0])

    # when
    error = await as_a.refused(
        lambda s: lifecycle.update_status(s, as_a.scope, SYSTEM, drafts[0], OPEN)
    )

    # then
    assert codes(error) == ["CUSTOM_FIELD_REQUIRED"]
    assert error.problems[0].field == "customFields.po_number"
    assert await snapshot(db, drafts[0]) == before
    assert await counter(db, world.a.id) is None

    # when: a blank value is no value
    await as_a.fields(drafts[0], [("po_number", "   ")])
    error = await as_a.refused(
        lambda s: lifecycle.update_status(s, as_a.scope, SYSTEM, drafts[0], OPEN)
    )

    # then
    assert codes(error) == ["CUSTOM_FIELD_REQUIRED"]

    # when
    await as_a.fields(drafts[0], [("po_number", "  PO-4711 ")])
    posted = await as_a.status(drafts[0], OPEN)

    # then
    assert posted.status is OPEN
    assert posted.number is not None and posted.number.endswith("-000001")
    stored = await load(db, drafts[0])
    assert stored is not None and stored.custom_fields == {"po_number": "PO-4711"}
    assert [e.action for e in await audit_of(db, drafts[0])] == [
        "invoice.custom_fields_set",
        "invoice.custom_fields_set",
        "invoice.posted",
    ]


async def test_number_and_date_fields_are_validated_and_normalized(
    db: Database, world: World, drafts: list[uuid.UUID], as_a: Changes, lifecycle: InvoiceLifecycle
):
    # given
    await define(db, world.a.id, "cost_center", FieldType.NUMBER)
    await define(db, world.a.id, "delivered_on", FieldType.DATE)
    before = await snapshot(db, drafts[0])

    # when
    error = await as_a.refused(
        lambda s: lifecycle.set_custom_fields(
            s,
            as_a.scope,
            SYSTEM,
            drafts[0],
            [("cost_center", "12,5"), ("delivered_on", "2026-13-01")],
        )
    )

    # then
    assert codes(error) == ["BAD_USER_INPUT", "BAD_USER_INPUT"]
    assert [p.field for p in error.problems] == ["values.0.value", "values.1.value"]
    assert await snapshot(db, drafts[0]) == before

    # when: not a finite number
    for bad in ("NaN", "Infinity", "abc"):
        error = await as_a.refused(
            lambda s, bad=bad: lifecycle.set_custom_fields(
                s, as_a.scope, SYSTEM, drafts[0], [("cost_center", bad)]
            )
        )
        # then
        assert codes(error) == ["BAD_USER_INPUT"], bad

    # when: valid values
    await as_a.fields(drafts[0], [("cost_center", " 12.50 "), ("delivered_on", "2026-11-30")])

    # then
    stored = await load(db, drafts[0])
    assert stored is not None
    assert stored.custom_fields == {"cost_center": "12.50", "delivered_on": "2026-11-30"}

    # when: no value clears a field
    await as_a.fields(drafts[0], [("cost_center", None)])

    # then
    stored = await load(db, drafts[0])
    assert stored is not None and stored.custom_fields == {"delivered_on": "2026-11-30"}


async def test_an_unknown_field_is_not_found_and_nothing_is_set(
    db: Database, world: World, drafts: list[uuid.UUID], as_a: Changes, lifecycle: InvoiceLifecycle
):
    # given: a field of B is unknown to A
    await define(db, world.a.id, "note", FieldType.TEXT)
    await define(db, world.b.id, "b_only", FieldType.TEXT)
    before = await snapshot(db, drafts[0])

    # when
    error = await as_a.refused(
        lambda s: lifecycle.set_custom_fields(
            s, as_a.scope, SYSTEM, drafts[0], [("note", "hello"), ("b_only", "x")]
        )
    )

    # then
    assert codes(error) == ["NOT_FOUND"]
    assert error.problems[0].field == "values.1.key"
    assert await snapshot(db, drafts[0]) == before


async def test_a_field_key_is_matched_the_way_it_was_defined(
    db: Database, world: World, drafts: list[uuid.UUID], as_a: Changes
):
    # given: defined as "PO_Number", kept as "po_number"
    await define(db, world.a.id, "PO_Number", FieldType.TEXT, required=True)

    # when: set under the key as it was typed
    await as_a.fields(drafts[0], [(" PO_Number ", "PO-1")])
    posted = await as_a.status(drafts[0], OPEN)

    # then
    assert posted.custom_fields == {"po_number": "PO-1"}
    [event] = [e for e in await audit_of(db, drafts[0]) if e.action.startswith("invoice.custom")]
    assert event.details["keys"] == ["po_number"]


# Who may change what ------------------------------------------------------------------------------


async def test_another_tenants_invoice_is_not_found(
    db: Database,
    world: World,
    drafts: list[uuid.UUID],
    lifecycle: InvoiceLifecycle,
):
    # given
    as_b = Changes(db, lifecycle, TenantScope.tenant(world.b.id))
    before = await snapshot(db, drafts[0])
    calls = [
        lambda s: lifecycle.update_status(s, as_b.scope, SYSTEM, drafts[0], OPEN),
        lambda s: lifecycle.discard(s, as_b.scope, SYSTEM, drafts[0]),
        lambda s: lifecycle.set_custom_fields(s, as_b.scope, SYSTEM, drafts[0], []),
    ]

    for call in calls:
        # when
        error = await as_b.refused(call)

        # then
        assert codes(error) == ["NOT_FOUND"]
        assert error.problems[0].field == "invoiceId"
    assert await snapshot(db, drafts[0]) == before
    assert await counter(db, world.b.id) is None


async def test_an_unknown_invoice_is_not_found(as_a: Changes, lifecycle: InvoiceLifecycle):
    # when
    error = await as_a.refused(
        lambda s: lifecycle.update_status(s, as_a.scope, SYSTEM, new_id(), OPEN)
    )

    # then
    assert codes(error) == ["NOT_FOUND"]


async def wholesale_drafts(db: Database, world: World, shop: Shop) -> dict[uuid.UUID, uuid.UUID]:
    """One wholesale draft for A and one for B (Microsoft, November): buyer -> invoice id."""
    for tenant in (world.a, world.b):
        await subscribe(db, tenant.id, tenant.customers[:1], [shop.products["m365"]])
    made = await run_billing(db, TenantScope.system(), kind=InvoiceKind.WHOLESALE)
    found = {}
    for invoice_id in made:
        stored = await load(db, invoice_id)
        assert stored is not None and stored.kind is InvoiceKind.WHOLESALE
        found[stored.reseller_id] = invoice_id
    assert set(found) == {world.a.id, world.b.id}
    return found


async def test_a_wholesale_invoice_is_changed_by_the_platform_only(
    db: Database,
    world: World,
    shop: Shop,
    as_a: Changes,
    as_platform: Changes,
    lifecycle: InvoiceLifecycle,
):
    # given
    wholesale = await wholesale_drafts(db, world, shop)
    of_a = wholesale[world.a.id]
    before = await snapshot(db, of_a)

    for call in (
        lambda s: lifecycle.update_status(s, as_a.scope, SYSTEM, of_a, OPEN),
        lambda s: lifecycle.discard(s, as_a.scope, SYSTEM, of_a),
        lambda s: lifecycle.set_custom_fields(s, as_a.scope, SYSTEM, of_a, []),
    ):
        # when: A, its buyer, tries to change it
        error = await as_a.refused(call)

        # then: a draft is invisible to its buyer
        assert codes(error) == ["NOT_FOUND"]
    assert await snapshot(db, of_a) == before

    # when: the platform posts A's, then B's
    posted_a = await as_platform.status(of_a, OPEN)
    posted_b = await as_platform.status(wholesale[world.b.id], OPEN)

    # then: the platform's prefix and one counter for all resellers
    year, due = year_and_due(posted_a)
    assert posted_a.number == f"CB-{year}-000001"
    assert posted_b.number == f"CB-{year}-000002"
    assert posted_a.due_date == due
    assert await counter(db, PLATFORM_TENANT_ID) == 2
    assert await counter(db, world.a.id) is None
    # the buyer (each of A's active users with billing access) is told
    messages = await outbox_about(db, of_a)
    assert sorted(m.recipient for m in messages) == sorted(
        world.a.emails[k] for k in ("owner", "billing_manager", "billing_member")
    )
    assert {m.event for m in messages} == {"INVOICE_POSTED"}
    # posted, A sees it, and still may not change it
    error = await as_a.refused(lambda s: lifecycle.update_status(s, as_a.scope, SYSTEM, of_a, VOID))
    assert codes(error) == ["FORBIDDEN"]

    # when: the platform closes it
    await as_platform.status(of_a, CLOSED)

    # then
    closed = await load(db, of_a)
    assert closed is not None and closed.status is CLOSED
    assert closed.amount_paid == closed.total


async def test_wholesale_and_retail_numbers_do_not_share_a_counter(
    db: Database,
    world: World,
    shop: Shop,
    drafts: list[uuid.UUID],
    as_a: Changes,
    as_platform: Changes,
):
    # given
    wholesale = await wholesale_drafts(db, world, shop)
    prefix = await prefix_of(db, world.a.id)

    # when
    platform = await as_platform.status(wholesale[world.a.id], OPEN)
    retail = await as_a.status(drafts[0], OPEN)

    # then
    assert platform.number is not None and platform.number.startswith("CB-")
    assert platform.number.endswith("-000001")
    assert retail.number is not None and retail.number.startswith(f"{prefix}-")
    assert retail.number.endswith("-000001")


async def test_platform_invoices_have_no_custom_fields(
    db: Database, world: World, shop: Shop, as_platform: Changes, lifecycle: InvoiceLifecycle
):
    # given: A requires a field on its own invoices
    await define(db, world.a.id, "po_number", FieldType.TEXT, required=True)
    wholesale = await wholesale_drafts(db, world, shop)

    # when
    error = await as_platform.refused(
        lambda s: lifecycle.set_custom_fields(
            s, as_platform.scope, SYSTEM, wholesale[world.a.id], [("po_number", "x")]
        )
    )
    posted = await as_platform.status(wholesale[world.a.id], OPEN)

    # then: refused, and A's required field does not hold up the platform's posting
    assert codes(error) == ["BAD_USER_INPUT"]
    assert posted.status is OPEN


# Concurrent changes ------------------------------------------------------------------------------


@pytest.mark.postgresql
async def test_a_change_sees_the_committed_status_even_if_the_caller_read_the_invoice_before(
    backend: str,
    db: Database,
    world: World,
    drafts: list[uuid.UUID],
    as_a: Changes,
    lifecycle: InvoiceLifecycle,
):
    if backend == "sqlite":
        pytest.skip("SQLite serializes writers: nothing commits in between")
    # given: a draft to post, and two OPEN invoices to close and to void
    cases = [(drafts[0], DRAFT, OPEN), (drafts[1], OPEN, CLOSED), (drafts[2], OPEN, VOID)]
    await as_a.walk(drafts[1], OPEN)
    await as_a.walk(drafts[2], OPEN)
    scope = as_a.scope

    for invoice_id, start, wanted in cases:
        async with db.write(scope) as session:
            # the caller reads the invoice first (no lock) ...
            read = await InvoiceRepository(session, scope).get(invoice_id)
            assert read is not None and read.status is start
            # ... meanwhile another transaction makes the same change and commits
            await as_a.status(invoice_id, wanted, notify=False)
            before = await snapshot(db, invoice_id)

            # when
            with pytest.raises(DomainError) as caught:
                await lifecycle.update_status(session, scope, SYSTEM, invoice_id, wanted)

        # then: refused on what is committed, and nothing was done twice
        assert codes(caught.value) == ["INVALID_TRANSITION"], wanted
        assert await snapshot(db, invoice_id) == before
        assert len(await payments_of(db, invoice_id)) == (1 if wanted is CLOSED else 0)
    assert await counter(db, world.a.id) == 3
