"""The payments services over the sandbox gateway (or another one, such as Stripe against
localstripe), with a clock the test moves."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from billing.lifecycle import BillingPolicy, InvoiceLifecycle
from billing.models import InvoiceKind, InvoiceStatus
from db.database import Database
from db.scope import TenantScope
from jobs.models import Job, JobStatus
from jobs.runner import JobRunner
from notifications.emails import Composer
from notifications.models import OutboxMessage
from payments.cards import Cards
from payments.collection import Collector
from payments.dunning import JOB_RETRY, Dunning
from payments.gateway import Gateway
from payments.recorded import RecordedPayments
from payments.sandbox import SandboxGateway
from payments.schedule import RetryPolicy
from tenants.audit import Actor
from tenants.models import Reseller
from tests.billing.drafts import SYSTEM, run_billing, subscribe
from tests.catalog import Shop

OWNER = Actor("USER", None, "Owner")


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2027, 1, 4, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def at(self, local: datetime) -> None:
        """Move to a local time (aware, in its own zone)."""
        assert local.tzinfo is not None
        self.now = local.astimezone(UTC)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Payments:
    db: Database
    clock: Clock
    gateway: Gateway  # the sandbox's (with its ledger) unless build was given another
    lifecycle: InvoiceLifecycle
    dunning: Dunning
    collector: Collector
    cards: Cards
    recorded: RecordedPayments
    runner: JobRunner

    async def run_due(self) -> int:
        return await self.runner.run_due()

    async def set_timezone(self, reseller_id: uuid.UUID, timezone: str) -> None:
        async with self.db.write(TenantScope.system()) as session:
            await session.execute(
                update(Reseller).where(Reseller.id == reseller_id).values(timezone=timezone)
            )

    async def reseller(self, reseller_id: uuid.UUID) -> Reseller:
        async with self.db.read(TenantScope.system()) as session:
            found = await session.get(Reseller, reseller_id)
            assert found is not None
            return found

    async def wholesale_invoice(
        self, shop: Shop, reseller_id: uuid.UUID, customer_id: uuid.UUID
    ) -> uuid.UUID:
        """A wholesale draft for the reseller (one subscription of one customer)."""
        await subscribe(self.db, reseller_id, [customer_id], [shop.products["m365"]], 2)
        [draft] = await run_billing(self.db, TenantScope.system(), kind=InvoiceKind.WHOLESALE)
        return draft

    async def post(self, invoice_id: uuid.UUID) -> None:
        async with self.db.write(TenantScope.system()) as session:
            await self.lifecycle.update_status(
                session, TenantScope.system(), SYSTEM, invoice_id, InvoiceStatus.OPEN
            )

    async def retries(self, reseller_id: uuid.UUID) -> list[Job]:
        async with self.db.read(TenantScope.system()) as session:
            rows = await session.scalars(
                select(Job)
                .where(
                    Job.reseller_id == reseller_id,
                    Job.kind == JOB_RETRY,
                    Job.status == JobStatus.QUEUED,
                )
                .order_by(Job.run_at)
            )
            return list(rows)

    async def mail(self, reseller_id: uuid.UUID, event: str) -> list[OutboxMessage]:
        async with self.db.read(TenantScope.system()) as session:
            rows = await session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.reseller_id == reseller_id, OutboxMessage.event == event
                )
            )
            return list(rows)


def build(
    db: Database,
    *,
    retries: int = 3,
    clock: Clock | None = None,
    gateway: Gateway | None = None,
) -> Payments:
    clock = clock or Clock()
    composer = Composer("Billing <billing@platform.example>", platform_name="Platform")
    lifecycle = InvoiceLifecycle(composer, BillingPolicy(platform_name="Platform"))
    gateway = gateway or SandboxGateway(db)
    dunning = Dunning(
        composer,
        RetryPolicy(retries=retries),
        platform_name="Platform",
        card_url="http://127.0.0.1:8000/billing/card",
    )
    collector = Collector(db, gateway, lifecycle, dunning, clock=clock)
    return Payments(
        db=db,
        clock=clock,
        gateway=gateway,
        lifecycle=lifecycle,
        dunning=dunning,
        collector=collector,
        cards=Cards(db, gateway, dunning, clock=clock),
        recorded=RecordedPayments(lifecycle, dunning, clock=clock),
        runner=JobRunner(db, collector.handlers(), clock=clock),
    )
