"""No double charge, ever, and no attempt lost: an answer that never came, a worker that died
between its commit and the gateway's answer, two workers on the same due retries. Charges are
counted at the (sandbox) gateway's own ledger."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update

from billing.models import Invoice, InvoiceStatus, PaymentStatus, PaymentTrigger
from core.errors import DomainError
from db.database import Database
from db.scope import TenantScope
from jobs.runner import JobRunner
from payments.collection import JOB_COLLECT, NEVER_SENT, UNANSWERED_AFTER
from payments.gateway import ChargeRequest, ChargeResult, GatewayUnavailable
from tenants.models import Reseller
from tests.billing.drafts import load, payments_of
from tests.catalog import Shop
from tests.factories import World
from tests.payments.harness import OWNER, Payments, build


class AnswerLost:
    """A gateway that does the charge and then loses the answer (a timeout, a crash)."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.name = inner.name
        self.lose = True

    async def verify(self, token: str, *, account: str, email: str | None):  # type: ignore[no-untyped-def]
        return await self.inner.verify(token, account=account, email=email)

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        result = await self.inner.charge(request)
        if self.lose:
            raise GatewayUnavailable("the connection dropped before the answer")
        return result

    async def find_charge(self, key: str, *, account: str) -> ChargeResult | None:
        return await self.inner.find_charge(key, account=account)


async def _open_invoice(payments: Payments, world: World, shop: Shop, card: str = "pm_card_visa"):  # type: ignore[no-untyped-def]
    await payments.cards.update(world.a.id, card, OWNER)
    invoice_id = await payments.wholesale_invoice(shop, world.a.id, world.a.customers[0])
    return invoice_id


async def test_a_lost_answer_is_resolved_by_asking_not_by_charging_again(
    payments: Payments, world: World, shop: Shop
):
    a = world.a.id
    async with payments.db.write(TenantScope.system()) as session:
        await session.execute(update(Reseller).where(Reseller.id == a).values(autopay=False))
    invoice_id = await _open_invoice(payments, world, shop)
    await payments.post(invoice_id)
    lossy = AnswerLost(payments.gateway)
    payments.collector.gateway = lossy
    # when the owner pays and the gateway's answer is lost
    payment = await payments.collector.pay(a, invoice_id, OWNER)
    # then the attempt stays PENDING, and a second payInvoice is refused meanwhile
    assert payment.status is PaymentStatus.PENDING
    with pytest.raises(DomainError) as refused:
        await payments.collector.pay(a, invoice_id, OWNER)
    assert [p.code for p in refused.value.problems] == ["PAYMENT_IN_PROGRESS"]
    # when the reconciler runs after its wait
    lossy.lose = False
    assert await payments.run_due() == 0  # not yet due
    payments.clock.advance(seconds=UNANSWERED_AFTER.total_seconds() + 1)
    assert await payments.run_due() == 1
    # then the attempt is settled from the gateway's record: paid once, invoice CLOSED
    [settled] = await payments_of(payments.db, invoice_id)
    assert settled.status is PaymentStatus.SUCCEEDED and settled.gateway_charge_id
    invoice = await load(payments.db, invoice_id)
    assert invoice is not None and invoice.status is InvoiceStatus.CLOSED
    assert await payments.gateway.count_charges(str(a)) == 1


async def test_a_job_that_lost_the_answer_finds_the_charge_when_it_runs_again(
    payments: Payments, world: World, shop: Shop
):
    a = world.a.id
    invoice_id = await _open_invoice(payments, world, shop)
    lossy = AnswerLost(payments.gateway)
    payments.collector.gateway = lossy
    await payments.post(invoice_id)
    assert await payments.run_due() == 1  # autopay: charged, answer lost, the job waits
    [pending] = await payments_of(payments.db, invoice_id)
    assert pending.status is PaymentStatus.PENDING
    lossy.lose = False
    payments.clock.advance(minutes=2)
    assert await payments.run_due() == 1
    [settled] = await payments_of(payments.db, invoice_id)
    assert settled.status is PaymentStatus.SUCCEEDED
    assert await payments.gateway.count_charges(str(a)) == 1


async def test_an_attempt_that_never_reached_the_gateway_is_failed_then_made_anew(
    payments: Payments, world: World, shop: Shop
):
    a = world.a.id
    invoice_id = await _open_invoice(payments, world, shop)
    await payments.post(invoice_id)
    # given a worker that committed the autopay attempt and died before calling the gateway
    async with payments.db.write(TenantScope.tenant(a)) as session:
        await payments.collector.begin(
            session, a, invoice_id, PaymentTrigger.AUTOPAY, job_key=f"{JOB_COLLECT}:{invoice_id}"
        )
    # when the job runs while the attempt is young, it waits rather than charge
    assert await payments.run_due() == 1
    assert await payments.gateway.count_charges(str(a)) == 0
    # and once the gateway has had time to show the charge and has none
    payments.clock.advance(seconds=UNANSWERED_AFTER.total_seconds() + 120)
    assert await payments.run_due() == 1
    # then the lost attempt is FAILED as never sent, and one new attempt paid
    attempts = sorted(await payments_of(payments.db, invoice_id), key=lambda p: p.attempt)
    assert [(p.attempt, p.status) for p in attempts] == [
        (1, PaymentStatus.FAILED),
        (2, PaymentStatus.SUCCEEDED),
    ]
    assert attempts[0].failure_reason == NEVER_SENT
    assert attempts[0].gateway_key != attempts[1].gateway_key
    assert await payments.gateway.count_charges(str(a)) == 1


async def test_two_workers_on_the_same_due_retries_charge_each_once(
    db: Database, world: World, shop: Shop
):
    payments = build(db)
    # given both resellers in dunning, their retries due
    for tenant in (world.a, world.b):
        await payments.cards.update(tenant.id, "pm_card_chargeCustomerFail", OWNER)
        await payments.wholesale_invoice(shop, tenant.id, tenant.customers[0])
    async with db.read(TenantScope.system()) as session:
        drafts = list(await session.scalars(select(Invoice.id)))
    for invoice_id in drafts:
        await payments.post(invoice_id)
    await payments.run_due()
    for tenant in (world.a, world.b):
        await payments.cards.update(tenant.id, "pm_card_visa", OWNER)
    payments.clock.advance(days=2)
    # when two workers run the due retries at the same moment
    workers = [
        JobRunner(db, payments.collector.handlers(), clock=payments.clock, batch_size=1)
        for _ in range(2)
    ]
    await asyncio.gather(*(w.run_due() for w in workers))
    # then each invoice was charged once more, and paid
    for tenant in (world.a, world.b):
        assert await payments.gateway.count_charges(str(tenant.id)) == 2  # autopay + one retry
    for invoice_id in drafts:
        invoice = await load(db, invoice_id)
        assert invoice is not None and invoice.status is InvoiceStatus.CLOSED
