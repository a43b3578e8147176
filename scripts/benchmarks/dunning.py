"""Dunning (issue 16): the evening's due ``payments.retry`` jobs worked by the real JobRunner,
Collector and sandbox gateway, by 1 worker and by 2, against the ceiling: a bare ``UPDATE`` of
the same job rows to DONE, in the same run, on the same database.

N resellers each owe the platform one OPEN wholesale invoice whose autopay charge was declined
yesterday: PAST_DUE, the sandbox's ledger holding that declined charge, and retry 1 due now.
As on a real evening, some accounts have given a new card since and some have not: every other
reseller's card on file is now ``pm_card_visa`` (the retry is charged and succeeds: the invoice
is CLOSED, the account paid up, the buyer emailed), the rest still ``pm_card_chargeCustomerFail``
(charged and declined again: retry 2 is scheduled, the billing users emailed). Every retry
charges the gateway once, so the run must leave exactly one new sandbox charge per reseller: the
count is checked and printed.

A worker is a process of its own (two share no interpreter, as two worker processes of a
deployment do not), with its own pool, started and connected before the clock starts, on a
barrier. The runs commit, so each measurement gets a round of resellers of its own, seeded in
bulk and vacuumed beforehand (a posted invoice cannot be deleted to start over); the order of
the 1- and 2-worker rounds alternates between repeats so that neither always meets the larger
tables. The bare update runs on the 1-worker round before it is worked, rolled back.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update

from billing.generation import document_id
from billing.lifecycle import BillingPolicy, InvoiceLifecycle
from billing.models import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Payment,
    PaymentMethodKind,
    PaymentStatus,
    PaymentTrigger,
    Vendor,
)
from core.clock import utcnow
from core.ids import new_id
from db.database import Database
from db.scope import PLATFORM_TENANT_ID, TenantScope
from jobs.models import Job, JobStatus
from jobs.runner import JobRunner
from notifications.emails import Composer
from payments.collection import JOB_COLLECT
from payments.dunning import JOB_RETRY
from payments.models import CardStatus, PaymentMethod, SandboxCharge
from payments.sandbox import DECLINED, SandboxGateway
from payments.schedule import RetryPolicy
from payments.service import PaymentServices
from tenants.models import AccountStatus, Reseller, Role, User, UserStatus

from .billing_run import StatementCounter
from .harness import Report, Target, median, number, rolled_back, spread, timed

NAME = "dunning"
TITLE = "Dunning retries"
WORKERS = (1, 2)
BATCH_SIZE = 20  # the runner's default claim
TOTAL = Decimal("1234.50")
SEEDED = (
    "resellers",
    "users",
    "payment_methods",
    "invoices",
    "payments",
    "sandbox_charges",
    "jobs",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--resellers",
        type=int,
        default=200,
        help="dunning: resellers with a due retry each, per measurement (default 200)",
    )


@dataclass(frozen=True)
class Round:
    """One measurement's resellers and their due retry jobs."""

    resellers: list[uuid.UUID]
    jobs: list[tuple[uuid.UUID, uuid.UUID]]  # (reseller_id, job id)

    @property
    def renewed(self) -> int:
        return len(self.resellers[::2])


async def seed_vendor(db: Database) -> uuid.UUID:
    vendor_id = new_id()
    async with db.write(TenantScope.system()) as session:
        session.add(Vendor(id=vendor_id, name="Bench Vendor"))
    return vendor_id


async def seed_round(db: Database, vendor_id: uuid.UUID, label: int, resellers: int) -> Round:
    """N resellers in dunning with retry 1 due: bulk Core inserts, as the real flow would have
    left them (autopay declined yesterday at 14:00, the retry due at 20:00 today)."""
    now = utcnow()
    failed_at = now - timedelta(days=1)
    rows: dict[Any, list[dict[str, Any]]] = {model: [] for model in _SEED_ORDER}
    jobs: list[tuple[uuid.UUID, uuid.UUID]] = []
    for n in range(resellers):
        reseller_id, invoice_id, job_id = new_id(), new_id(), new_id()
        declining_card, new_card = new_id(), new_id()
        renewed = n % 2 == 0
        name = f"Dunning Reseller {label:02d}-{n + 1:05d}"
        rows[Reseller].append(
            {
                "id": reseller_id,
                "created_at": failed_at - timedelta(days=90),
                "name": name,
                "slug": f"dunning-{label:02d}-{n + 1:05d}",
                "currency": "EUR",
                "timezone": "UTC",
                "status": AccountStatus.PAST_DUE,
                "invoice_prefix": "DUN",
                "autopay": True,
                "dunning_retries": 0,
                "dunning_since": failed_at,
                "last_failure_reason": DECLINED[0],
                "last_decline_code": DECLINED[1],
            }
        )
        rows[User].append(
            {
                "reseller_id": reseller_id,
                "id": new_id(),
                "created_at": failed_at,
                "email": f"owner@reseller-{label:02d}-{n + 1:05d}.example",
                "name": "Owner",
                "role": Role.OWNER,
                "billing_access": True,
                "status": UserStatus.ACTIVE,
                "password_hash": None,
            }
        )
        cards = [(declining_card, "pm_card_chargeCustomerFail", "0341", failed_at)]
        if renewed:
            cards.append((new_card, "pm_card_visa", "4242", now - timedelta(hours=2)))
        for position, (card_id, token, last4, created) in enumerate(cards, start=1):
            rows[PaymentMethod].append(
                {
                    "reseller_id": reseller_id,
                    "id": card_id,
                    "created_at": created,
                    "customer_id": None,
                    "gateway": "sandbox",
                    "gateway_ref": token,
                    "gateway_customer_ref": f"sandbox_customer_{reseller_id}",
                    "brand": "visa",
                    "last4": last4,
                    "exp_month": 12,
                    "exp_year": now.year + 3,
                    "status": CardStatus.ACTIVE if position == len(cards) else CardStatus.REPLACED,
                }
            )
        rows[Invoice].append(
            {
                "reseller_id": reseller_id,
                "id": invoice_id,
                "created_at": failed_at,
                "kind": InvoiceKind.WHOLESALE,
                "customer_id": None,
                "vendor_id": vendor_id,
                "document_id": document_id(invoice_id),
                "number": f"PLT-{label:02d}-{n + 1:05d}",
                "status": InvoiceStatus.OPEN,
                "period_start": date(2026, 11, 1),
                "period_end": date(2026, 11, 30),
                "currency": "EUR",
                "seller_name": "Platform",
                "buyer_name": name,
                "buyer_email": f"owner@reseller-{label:02d}-{n + 1:05d}.example",
                "tax_rate": Decimal(0),
                "subtotal": TOTAL,
                "tax": Decimal(0),
                "total": TOTAL,
                "amount_paid": Decimal(0),
                "custom_fields": {},
                "issued_at": failed_at,
                "due_date": failed_at.date() + timedelta(days=14),
                "closed_at": None,
                "voided_at": None,
            }
        )
        key = f"cb_{PLATFORM_TENANT_ID.hex}_{invoice_id.hex}_1"
        rows[Payment].append(
            {
                "reseller_id": reseller_id,
                "id": new_id(),
                "created_at": failed_at,
                "invoice_id": invoice_id,
                "customer_id": None,
                "amount": TOTAL,
                "currency": "EUR",
                "method": PaymentMethodKind.CARD,
                "status": PaymentStatus.FAILED,
                "trigger": PaymentTrigger.AUTOPAY,
                "attempt": 1,
                "gateway_key": key,
                "job_key": f"{JOB_COLLECT}:{invoice_id}",
                "gateway_charge_id": f"sandbox_pi_{new_id().hex}",
                "payment_method_id": declining_card,
                "failure_reason": DECLINED[0],
                "decline_code": DECLINED[1],
                "reference": None,
                "paid_at": failed_at,
            }
        )
        rows[SandboxCharge].append(
            {
                "reseller_id": reseller_id,
                "id": new_id(),
                "created_at": failed_at,
                "key": key,
                "card_ref": "pm_card_chargeCustomerFail",
                "amount": TOTAL,
                "currency": "EUR",
                "succeeded": False,
                "decline_code": DECLINED[1],
                "charged_at": failed_at,
            }
        )
        rows[Job].append(
            {
                "reseller_id": reseller_id,
                "id": job_id,
                "created_at": failed_at,
                "kind": JOB_RETRY,
                "key": f"{JOB_RETRY}:{failed_at.isoformat()}:1",
                "payload": {"retry": 1},
                "status": JobStatus.QUEUED,
                "run_at": now - timedelta(minutes=5),
                "attempts": 0,
                "locked_until": None,
                "last_error": None,
                "finished_at": None,
            }
        )
        jobs.append((reseller_id, job_id))
    async with db.write(TenantScope.system()) as session:
        for model in _SEED_ORDER:
            await session.execute(insert(model.__table__), rows[model])
    return Round([r["id"] for r in rows[Reseller]], jobs)


_SEED_ORDER = (Reseller, User, PaymentMethod, Invoice, Payment, SandboxCharge, Job)


async def bare_update(db: Database, job_rows: list[tuple[uuid.UUID, uuid.UUID]]) -> float:
    """The ceiling: the same job rows set DONE, one executemany UPDATE by key, rolled back."""
    statement = (
        update(Job.__table__)
        .where(Job.__table__.c.reseller_id == bindparam("r"), Job.__table__.c.id == bindparam("i"))
        .values(status=JobStatus.DONE, finished_at=bindparam("at"), locked_until=None)
    )
    now = utcnow()
    params = [{"r": r, "i": i, "at": now} for r, i in job_rows]
    async with rolled_back(db, TenantScope.system()) as session:
        seconds, _ = await timed(lambda: session.execute(statement, params))
    return seconds


# -- the workers, each a process -------------------------------------------------------------


def _worker(url: str, ready: Any, results: Any) -> None:
    asyncio.run(_work(url, ready, results))


async def _work(url: str, ready: Any, results: Any) -> None:
    """One worker process: the services as the worker builds them, connected, then waiting on
    the barrier; it works due jobs until none is left to claim and reports how many."""
    db = Database(url, pool_size=2)
    try:
        composer = Composer("Billing <billing@platform.example>", platform_name="Platform")
        lifecycle = InvoiceLifecycle(composer, BillingPolicy(platform_name="Platform"))
        services = PaymentServices.build(
            db,
            SandboxGateway(db),
            lifecycle,
            composer,
            policy=RetryPolicy(),
            platform_name="Platform",
            card_url="http://127.0.0.1:8000/billing/card",
        )
        runner = JobRunner(db, services.job_handlers(), batch_size=BATCH_SIZE)
        async with db.read(TenantScope.system()) as session:
            await session.scalar(select(func.count()).select_from(Job))  # connected and warm
        statements = StatementCounter(db)
        await asyncio.to_thread(ready.wait)
        statements.counting = True
        worked = await runner.run_due(rounds=1_000_000)
        statements.counting = False
        results.put((worked, statements.count))
    finally:
        await db.dispose()


def run_workers(url: str, workers: int) -> tuple[float, list[tuple[int, int]]]:
    """Wall seconds from the barrier to the last worker's report, and each worker's count of
    jobs worked and SQL statements sent."""
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(workers + 1)
    results = context.Queue()
    processes = [
        context.Process(target=_worker, args=(url, ready, results), name=f"dunning-worker-{n}")
        for n in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        ready.wait(timeout=120)
        start = time.perf_counter()
        counts = [results.get(timeout=600) for _ in processes]
        seconds = time.perf_counter() - start
    finally:
        for process in processes:
            process.join(timeout=60)
    return seconds, counts


# -- what the run left -----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    done: int
    paid: int  # invoices CLOSED by their retry
    declined: int  # accounts still PAST_DUE with retry 2 queued
    charges: dict[int, int]  # new sandbox charges per reseller -> how many resellers


async def outcome(db: Database, round_: Round) -> Outcome:
    ids = round_.resellers
    async with db.read(TenantScope.system()) as session:
        done = await session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.reseller_id.in_(ids), Job.kind == JOB_RETRY, Job.status == JobStatus.DONE)
        )
        paid = await session.scalar(
            select(func.count())
            .select_from(Invoice)
            .where(Invoice.reseller_id.in_(ids), Invoice.status == InvoiceStatus.CLOSED)
        )
        declined = await session.scalar(
            select(func.count())
            .select_from(Job)
            .where(
                Job.reseller_id.in_(ids),
                Job.kind == JOB_RETRY,
                Job.status == JobStatus.QUEUED,
                Job.key.like("%:2"),
            )
        )
        per_reseller = (
            select(SandboxCharge.reseller_id, (func.count() - 1).label("new"))
            .where(SandboxCharge.reseller_id.in_(ids))
            .group_by(SandboxCharge.reseller_id)
            .subquery()
        )
        histogram = (
            await session.execute(
                select(per_reseller.c.new, func.count()).group_by(per_reseller.c.new)
            )
        ).all()
    return Outcome(done or 0, paid or 0, declined or 0, {int(n): int(c) for n, c in histogram})


async def measure(target: Target, options: argparse.Namespace) -> Report:
    db = Database(target.url, pool_size=2)
    size = options.resellers
    seconds: dict[int, list[float]] = {n: [] for n in WORKERS}
    update_times: list[float] = []
    outcomes: list[Outcome] = []
    label = sql = 0
    try:
        vendor_id = await seed_vendor(db)
        for repeat in range(options.repeat):
            order = WORKERS if repeat % 2 == 0 else WORKERS[::-1]
            for workers in order:
                label += 1
                round_ = await seed_round(db, vendor_id, label, size)
                await target.maintain(*SEEDED)
                if workers == 1:
                    update_times.append(await bare_update(db, round_.jobs))
                    await target.maintain("jobs")
                wall, reports = await asyncio.to_thread(run_workers, target.url, workers)
                counts = [worked for worked, _ in reports]
                if sum(counts) != size:
                    raise AssertionError(f"{workers} worker(s) worked {counts}, not {size} jobs")
                result = await outcome(db, round_)
                expected = (size, round_.renewed, size - round_.renewed)
                if (result.done, result.paid, result.declined) != expected:
                    raise AssertionError(f"{workers} worker(s) left {result}, not {expected}")
                outcomes.append(result)
                seconds[workers].append(wall)
                if workers == 1:
                    sql = reports[0][1]
    finally:
        await db.dispose()

    one, two = median(seconds[1]), median(seconds[2])
    bare = median(update_times)
    # Resellers charged more than once by one retry, and retries that charged nothing.
    double = sum(c for o in outcomes for n, c in o.charges.items() if n > 1)
    missing = sum(c for o in outcomes for n, c in o.charges.items() if n < 1)
    return Report(
        row={
            "1 worker s": f"{one:.2f}",
            "retries/s": number(size / one),
            "2 workers s": f"{two:.2f}",
            "retries/s (2)": number(size / two),
            "2 / 1 workers": f"{one / two:.2f}x",
            "bare update ms": f"{bare * 1000:.1f}",
            "retry / bare update": f"{one / bare:,.0f}x",
            "1 worker s min-max": spread(seconds[1]),
        },
        facts={
            "due retries per measurement": (
                f"{size:,} ({round_.renewed:,} on a new card: paid;"
                f" {size - round_.renewed:,} declined again: retry 2 scheduled)"
            ),
            "workers": f"processes of their own, {BATCH_SIZE} jobs a claim",
            "SQL statements per retry (1 worker)": f"{sql / size:.1f}",
            "sandbox charges per retry": (
                f"double charges: {double}, retries not charged: {missing}"
                f" ({len(outcomes)} runs x {size:,} retries)"
            ),
        },
    )
