"""No double charge and no lost attempt, against a real Stripe-compatible server (localstripe,
in its own process) rather than the sandbox: the gateway killed or frozen during a charge, a
`channelbill worker` killed between its attempt's commit and the gateway's answer, two workers
on the same due retries, two concurrent payInvoice with one idempotency key.

Charges are counted at localstripe, by the invoice in each PaymentIntent's metadata: what
matters is what the gateway took, not what we believe it did. localstripe ignores idempotency
keys (Stripe does not), so none of this holds by the gateway's grace: only by ours.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select, update

from billing.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from core.clock import utcnow
from db.database import Database
from db.scope import TenantScope
from jobs.models import Job, JobStatus
from jobs.runner import JobRunner
from payments.collection import JOB_RECONCILE, NEVER_SENT, UNANSWERED_AFTER, PaymentRefused
from payments.stripe_gateway import StripeGateway
from server.app import create_app
from server.settings import Settings
from tenants.models import Reseller
from tests.api.test_access_matrix import gid
from tests.billing.drafts import load, payments_of
from tests.catalog import Shop
from tests.conftest import TEST_SECRET, Api
from tests.factories import Tenant, World, make_tenant
from tests.notifications import eventually
from tests.payments.harness import OWNER, Clock, Payments, build
from tests.payments.localstripe import SECRET_KEY, LocalStripe

ROOT = Path(__file__).resolve().parents[2]
PAY = """mutation($id: ID!, $key: String) { payInvoice(input: {invoiceId: $id, idempotencyKey: $key}) {
  payment { id status } errors { code } } }"""
LEASE = timedelta(seconds=300)  # JobRunner's default lease, which the worker below holds


def _intents(localstripe: LocalStripe, invoice_id: uuid.UUID) -> list[dict[str, object]]:
    """The PaymentIntents localstripe holds for one invoice (our metadata names it)."""
    return [
        intent
        for intent in localstripe.objects("payment_intents")
        if (intent.get("metadata") or {}).get("invoice") == str(invoice_id)  # type: ignore[attr-defined]
    ]


def _charged(localstripe: LocalStripe, invoice_id: uuid.UUID) -> int:
    """How many times the invoice's amount was taken at the gateway."""
    return sum(1 for i in _intents(localstripe, invoice_id) if i["status"] == "succeeded")


def _sent(localstripe: LocalStripe) -> Callable[[], Awaitable[bool]]:
    """Whether a whole request waits, unread, at the frozen localstripe: the charge was sent.
    Some bytes alone are not enough (a loaded machine may send the headers, then the body):
    the count must have stopped growing, the client now waiting for its answer."""
    seen: list[int] = []

    async def waiting() -> bool:
        seen.append(localstripe.unread_bytes())
        settled = seen[-SETTLED_POLLS:]
        return len(settled) == SETTLED_POLLS and settled[0] > 0 and len(set(settled)) == 1

    return waiting


SETTLED_POLLS = 15  # of eventually()'s 20 ms: 0.3 s without a new byte


@pytest.fixture
def payments(db: Database, stripe_gateway: StripeGateway) -> Payments:
    return build(db, gateway=stripe_gateway)


async def _owed(payments: Payments, shop: Shop, tenant: Tenant, card: str) -> uuid.UUID:
    """A posted wholesale invoice of a reseller with ``card`` on file at localstripe and autopay
    off (the test says when it is charged)."""
    async with payments.db.write(TenantScope.system()) as session:
        await session.execute(
            update(Reseller).where(Reseller.id == tenant.id).values(autopay=False)
        )
    await payments.cards.update(tenant.id, card, OWNER)
    invoice_id = await payments.wholesale_invoice(shop, tenant.id, tenant.customers[0])
    await payments.post(invoice_id)
    return invoice_id


async def _reconciles(db: Database, payment_id: uuid.UUID) -> list[Job]:
    async with db.read(TenantScope.system()) as session:
        rows = await session.scalars(
            select(Job).where(Job.kind == JOB_RECONCILE, Job.key == f"{JOB_RECONCILE}:{payment_id}")
        )
        return list(rows)


async def test_a_charge_the_gateway_died_during_is_failed_as_never_sent_then_paid_once(
    payments: Payments, localstripe: LocalStripe, world: World, shop: Shop
):
    # given an invoice to pay, and a gateway that will die with the charge in its hands
    a = world.a.id
    invoice_id = await _owed(payments, shop, world.a, "pm_card_visa")
    localstripe.freeze()
    paying = asyncio.create_task(payments.collector.pay(a, invoice_id, OWNER))
    await eventually(_sent(localstripe), within=10, what="the charge to reach localstripe")
    # when localstripe is killed before it answers
    localstripe.kill()
    payment = await paying
    # then the attempt stays PENDING, its reconciliation queued for later
    assert payment.status is PaymentStatus.PENDING
    [job] = await _reconciles(payments.db, payment.id)
    assert job.status is JobStatus.QUEUED
    assert job.run_at == payments.clock() + UNANSWERED_AFTER

    # when localstripe is back (with nothing of before: it keeps no store) and the
    # reconciliation runs once the charge has had its time to show up
    localstripe.start()
    assert await payments.run_due() == 0  # not yet due
    payments.clock.advance(seconds=UNANSWERED_AFTER.total_seconds() + 1)
    assert await payments.run_due() == 1
    # then the attempt is FAILED as never sent, nothing was taken, and the invoice is still owed
    [failed] = await payments_of(payments.db, invoice_id)
    assert (failed.status, failed.failure_reason) == (PaymentStatus.FAILED, NEVER_SENT)
    assert _intents(localstripe, invoice_id) == []
    invoice = await load(payments.db, invoice_id)
    assert invoice is not None and invoice.status is InvoiceStatus.OPEN
    assert invoice.amount_paid == 0

    # when the owner pays again (the card given again: the new localstripe never saw it)
    await payments.cards.update(a, "pm_card_visa", OWNER)
    again = await payments.collector.pay(a, invoice_id, OWNER)
    # then it is paid, exactly once, under a new key
    assert again.status is PaymentStatus.SUCCEEDED and again.gateway_key != failed.gateway_key
    assert _charged(localstripe, invoice_id) == 1 and len(_intents(localstripe, invoice_id)) == 1
    invoice = await load(payments.db, invoice_id)
    assert invoice is not None and invoice.status is InvoiceStatus.CLOSED
    assert invoice.amount_paid == invoice.total


async def test_a_charge_that_timed_out_is_settled_from_the_gateway_and_not_paid_again(
    payments: Payments, localstripe: LocalStripe, world: World, shop: Shop
):
    # given an invoice to pay, and a gateway that stops answering
    a = world.a.id
    invoice_id = await _owed(payments, shop, world.a, "pm_card_visa")
    localstripe.freeze()
    # when the owner pays: the charge times out (the adapter waits 2 s here)
    payment = await payments.collector.pay(a, invoice_id, OWNER)
    # then the attempt stays PENDING, and a second payInvoice is refused meanwhile
    assert payment.status is PaymentStatus.PENDING
    assert len(await _reconciles(payments.db, payment.id)) == 1
    with pytest.raises(PaymentRefused) as refused:
        await payments.collector.pay(a, invoice_id, OWNER)
    assert refused.value.problems[0].code == "PAYMENT_IN_PROGRESS"

    # when localstripe wakes up: it works through the request it was sent, and takes the money
    localstripe.resume()

    async def charged() -> bool:
        return _charged(localstripe, invoice_id) == 1

    await eventually(charged, within=30, what="localstripe to make the charge it was sent")
    # and the reconciliation runs
    payments.clock.advance(seconds=UNANSWERED_AFTER.total_seconds() + 1)
    assert await payments.run_due() == 1
    # then the attempt is settled from the gateway's record, and the invoice paid once
    [settled] = await payments_of(payments.db, invoice_id)
    assert settled.status is PaymentStatus.SUCCEEDED
    assert settled.gateway_charge_id == _intents(localstripe, invoice_id)[0]["id"]
    invoice = await load(payments.db, invoice_id)
    assert invoice is not None and invoice.status is InvoiceStatus.CLOSED
    assert invoice.amount_paid == invoice.total
    # and a later payInvoice finds nothing to pay: still one charge
    with pytest.raises(PaymentRefused) as refused:
        await payments.collector.pay(a, invoice_id, OWNER)
    assert refused.value.problems[0].code == "PAYMENT_NOT_POSSIBLE"
    assert len(_intents(localstripe, invoice_id)) == 1


def _worker_environment(settings: Settings, localstripe: LocalStripe, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "OUTBOX_"))}
    return env | {
        "CHANNELBILL_ENV": "test",
        "CHANNELBILL_SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": settings.database_url,
        "MIGRATION_DATABASE_URL": settings.owner_database_url,
        "MIGRATE_ON_START": "false",
        "CHANNELBILL_DATA_DIR": str(data),
        "PAYMENT_GATEWAY": "stripe",
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "STRIPE_API_BASE": localstripe.url,
        "JOBS_POLL_SECONDS": "0.1",
        "DB_POOL_SIZE": "2",
        "PYTHONUNBUFFERED": "1",
    }


async def test_a_worker_killed_before_the_gateway_answered_leaves_one_charge_settled(
    db: Database,
    settings: Settings,
    stripe_gateway: StripeGateway,
    localstripe: LocalStripe,
    world: World,
    shop: Shop,
    tmp_path: Path,
):
    # given an invoice posted with autopay on: its charge is a due job (real time: the worker's)
    clock = Clock(utcnow())
    payments = build(db, clock=clock, gateway=stripe_gateway)
    await payments.cards.update(world.a.id, "pm_card_visa", OWNER)
    invoice_id = await payments.wholesale_invoice(shop, world.a.id, world.a.customers[0])
    await payments.post(invoice_id)
    # and a `channelbill worker` that takes the job while the gateway hangs
    localstripe.freeze()
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "worker",
        cwd=ROOT,
        env=_worker_environment(settings, localstripe, tmp_path / "data"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:

        async def attempt_committed() -> bool:
            return [p.status for p in await payments_of(db, invoice_id)] == [PaymentStatus.PENDING]

        await eventually(attempt_committed, within=60, what="the worker to commit its attempt")
        await eventually(_sent(localstripe), within=10, what="the charge to reach localstripe")
        # when the worker is killed before the gateway's answer
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    # and the gateway wakes up and makes the charge it was sent
    localstripe.resume()

    async def charged() -> bool:
        return _charged(localstripe, invoice_id) == 1

    await eventually(charged, within=30, what="localstripe to make the charge it was sent")
    [pending] = await payments_of(db, invoice_id)
    assert pending.status is PaymentStatus.PENDING  # nobody knows yet
    # when another runner takes the job once the dead worker's lease is out
    clock.advance(seconds=(LEASE + UNANSWERED_AFTER).total_seconds() + 60)
    assert await payments.run_due() >= 1
    # then the attempt is settled from the gateway, the invoice CLOSED, nothing charged again
    [settled] = await payments_of(db, invoice_id)
    assert (settled.id, settled.status) == (pending.id, PaymentStatus.SUCCEEDED)
    invoice = await load(db, invoice_id)
    assert invoice is not None and invoice.status is InvoiceStatus.CLOSED
    assert invoice.amount_paid == invoice.total
    assert len(_intents(localstripe, invoice_id)) == 1


async def test_two_workers_on_the_same_due_retries_charge_each_invoice_once(
    db: Database,
    settings: Settings,
    payments: Payments,
    localstripe: LocalStripe,
    world: World,
    shop: Shop,
):
    # given three resellers whose autopay was declined, their retries due, a good card given
    async with db.write(TenantScope.system()) as session:
        charlie = await make_tenant(session, "charlie")
    tenants = [world.a, world.b, charlie]
    for tenant in tenants:
        await payments.cards.update(tenant.id, "pm_card_chargeCustomerFail", OWNER)
        await payments.wholesale_invoice(shop, tenant.id, tenant.customers[0])
    async with db.read(TenantScope.system()) as session:
        invoices = list(await session.scalars(select(Invoice.id)))
    assert len(invoices) == 3
    for invoice_id in invoices:
        await payments.post(invoice_id)
    assert await payments.run_due() == 3
    for tenant in tenants:
        assert len(await payments.retries(tenant.id)) == 1
        await payments.cards.update(tenant.id, "pm_card_visa", OWNER)
    payments.clock.advance(days=2)
    # when two workers, each with its own pool and gateway client, run them at the same moment
    databases = [Database(settings.database_url, pool_size=2) for _ in range(2)]
    gateways = [StripeGateway(SECRET_KEY, api_base=localstripe.url) for _ in range(2)]
    try:
        workers = [
            JobRunner(
                each,
                build(each, clock=payments.clock, gateway=gateway).collector.handlers(),
                clock=payments.clock,
                batch_size=1,
            )
            for each, gateway in zip(databases, gateways, strict=True)
        ]
        worked = await asyncio.gather(*(w.run_due() for w in workers))
    finally:
        for gateway in gateways:
            await gateway.aclose()
        for each in databases:
            await each.dispose()
    # then each invoice was charged once and is paid, each retry having run once
    for invoice_id in invoices:
        assert _charged(localstripe, invoice_id) == 1
        attempts = await payments_of(db, invoice_id)
        assert sorted(p.status for p in attempts) == sorted(
            [PaymentStatus.FAILED, PaymentStatus.SUCCEEDED]
        )
        invoice = await load(db, invoice_id)
        assert invoice is not None and invoice.status is InvoiceStatus.CLOSED
    assert sum(worked) == 3


@pytest.fixture
async def stripe_app(settings: Settings, localstripe: LocalStripe) -> AsyncIterator[Api]:
    """The real app with its payments on Stripe (localstripe), over the same database."""
    application = create_app(
        replace(
            settings,
            payment_gateway="stripe",
            stripe_secret_key=SECRET_KEY,
            stripe_api_base=localstripe.url,
        )
    )
    gateway = application.state.services.payments.gateway
    assert isinstance(gateway, StripeGateway)
    try:
        async with LifespanManager(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                yield Api(c)
    finally:
        await gateway.aclose()  # the app's shutdown leaves its gateway's connections open


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgresql)])
async def test_two_concurrent_pay_invoice_with_one_key_charge_once_at_the_gateway(
    stripe_app: Api, payments: Payments, localstripe: LocalStripe, world: World, shop: Shop
):
    # given an invoice to pay by hand
    invoice_id = await _owed(payments, shop, world.a, "pm_card_visa")
    owner = world.token("owner", world.a)
    variables = {"id": gid("Invoice", invoice_id), "key": f"pay-{uuid.uuid4()}"}
    # when four payInvoice with one key arrive at once
    answers = await asyncio.gather(*(stripe_app(PAY, variables, owner) for _ in range(4)))
    # then all answer with the one payment, charged once at the gateway
    paid = [a["data"]["payInvoice"] for a in answers]
    assert all(p["errors"] == [] for p in paid), answers
    assert len({p["payment"]["id"] for p in paid}) == 1
    assert len(_intents(localstripe, invoice_id)) == 1 and _charged(localstripe, invoice_id) == 1
    async with payments.db.read(TenantScope.system()) as session:
        attempts = list(
            await session.scalars(select(Payment).where(Payment.invoice_id == invoice_id))
        )
    assert [p.status for p in attempts] == [PaymentStatus.SUCCEEDED]
