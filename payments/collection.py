"""Charging the card on file for what a reseller owes the platform, never twice.

A charge is three steps, each its own short transaction or none:

1. ``begin``: the attempt row is committed PENDING *before* the gateway hears of it, with a key
   derived from seller, invoice and attempt number (``gateway_key``), sent as the gateway's
   idempotency key and in its metadata.
2. the gateway call, outside any transaction, bounded by a timeout.
3. ``settle``: the attempt becomes SUCCEEDED or FAILED (only while still PENDING: the fencing),
   the invoice is CLOSED when paid in full, and the account's standing follows (``dunning``).

A crash or timeout between 1 and 3 leaves the attempt PENDING. It is resolved by asking the
gateway what became of that key (``find_charge``), never by charging again: found, it is settled
as the gateway says; not found once ``unanswered_after`` has passed, it never reached the
gateway and is FAILED, and only then may a new attempt (a new key) be made. Jobs find their own
attempt again by ``job_key``, so a job that runs twice charges once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.invoices import InvoiceRepository
from billing.lifecycle import COLLECT_INVOICE, InvoiceLifecycle, record_payment_event
from billing.models import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Payment,
    PaymentMethodKind,
    PaymentStatus,
    PaymentTrigger,
)
from core.clock import utcnow
from core.errors import DomainError, ErrorCode, NotFound
from core.ids import new_id
from db.database import Database
from db.scope import PLATFORM_TENANT_ID, TenantScope
from jobs import queue
from jobs.runner import ClaimedJob, RetryLater
from limits.idempotency import IdempotentRequest
from payments.dunning import JOB_RETRY, Dunning, Failure
from payments.gateway import (
    HARD_DECLINES,
    Card,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    Gateway,
    GatewayUnavailable,
)
from payments.models import PaymentMethod
from payments.repositories import (
    attempt_of_job,
    card_on_file,
    in_dunning,
    last_failure,
    next_attempt_number,
)
from tenants.audit import Actor, record

log = logging.getLogger("channelbill.payments")

JOB_COLLECT = COLLECT_INVOICE  # autopay: queued by posting the platform's invoice
JOB_RECONCILE = "payments.reconcile"  # an attempt whose answer never came
UNANSWERED_AFTER = timedelta(minutes=10)
NEVER_SENT = "the charge never reached the payment gateway"


class PaymentRefused(DomainError):
    code = ErrorCode.PAYMENT_NOT_POSSIBLE


@dataclass(frozen=True, slots=True)
class Attempt:
    payment: Payment
    card: PaymentMethod | None
    new: bool  # made now (send it), or found (a PENDING one is reconciled, never resent)


def gateway_key(invoice: Invoice, attempt: int) -> str:
    seller = PLATFORM_TENANT_ID if invoice.kind is InvoiceKind.WHOLESALE else invoice.reseller_id
    return f"cb_{seller.hex}_{invoice.id.hex}_{attempt}"


class Collector:
    def __init__(
        self,
        db: Database,
        gateway: Gateway,
        lifecycle: InvoiceLifecycle,
        dunning: Dunning,
        *,
        clock: Callable[[], datetime] = utcnow,
        charge_timeout_seconds: float = 60.0,
        unanswered_after: timedelta = UNANSWERED_AFTER,
    ) -> None:
        self.db = db
        self.gateway = gateway
        self.lifecycle = lifecycle
        self.dunning = dunning
        self.clock = clock
        self.charge_timeout_seconds = charge_timeout_seconds
        self.unanswered_after = unanswered_after

    # -- the three steps -------------------------------------------------------------------

    async def begin(
        self,
        session: AsyncSession,
        reseller_id: uuid.UUID,
        invoice_id: uuid.UUID,
        trigger: PaymentTrigger,
        *,
        job_key: str | None = None,
    ) -> Attempt:
        """Step 1, in the caller's transaction: the PENDING attempt, or the job's own."""
        invoice = await InvoiceRepository(session, TenantScope.system()).for_update(invoice_id)
        if invoice is None or invoice.reseller_id != reseller_id:
            raise NotFound("invoice", field="invoiceId")
        if job_key is not None:
            mine = await attempt_of_job(session, reseller_id, invoice.id, job_key)
            if mine is not None and mine.status is not PaymentStatus.FAILED:
                return Attempt(mine, None, new=False)
            if mine is not None and mine.failure_reason != NEVER_SENT:
                return Attempt(mine, None, new=False)
        if invoice.kind is not InvoiceKind.WHOLESALE:
            raise PaymentRefused(
                "only the platform's invoices to a reseller are charged to its card; record a"
                " customer's payment with recordPayment",
                field="invoiceId",
            )
        if invoice.status is not InvoiceStatus.OPEN or invoice.total <= invoice.amount_paid:
            raise PaymentRefused(
                f"a {invoice.status} invoice with nothing due cannot be paid"
                if invoice.total <= invoice.amount_paid
                else f"a {invoice.status} invoice cannot be paid",
                field="invoiceId",
            )
        pending = await session.scalar(
            select(Payment.id).where(
                Payment.reseller_id == reseller_id,
                Payment.invoice_id == invoice.id,
                Payment.status == PaymentStatus.PENDING,
            )
        )
        if pending is not None:
            raise PaymentRefused(
                "a payment of this invoice is under way: wait for its outcome",
                field="invoiceId",
                code=ErrorCode.PAYMENT_IN_PROGRESS,
            )
        card = await card_on_file(session, reseller_id)
        if card is None:
            raise PaymentRefused(
                "no card on file: add one with updatePaymentMethod",
                field="invoiceId",
                code=ErrorCode.NO_PAYMENT_METHOD,
            )
        number = await next_attempt_number(session, reseller_id, invoice.id)
        payment = Payment(
            reseller_id=reseller_id,
            id=new_id(),
            invoice_id=invoice.id,
            customer_id=None,
            amount=invoice.total - invoice.amount_paid,
            currency=invoice.currency,
            method=PaymentMethodKind.CARD,
            status=PaymentStatus.PENDING,
            trigger=trigger,
            attempt=number,
            gateway_key=gateway_key(invoice, number),
            job_key=job_key,
            payment_method_id=card.id,
            paid_at=self.clock(),
            created_at=self.clock(),
        )
        session.add(payment)
        await session.flush()
        return Attempt(payment, card, new=True)

    async def send(self, attempt: Attempt) -> ChargeResult | None:
        """Step 2: the gateway's answer; None while it is unknown (the attempt stays PENDING)."""
        payment = attempt.payment
        assert payment.gateway_key is not None
        account = str(payment.reseller_id)
        if not attempt.new:
            return await self._ask(payment)
        assert attempt.card is not None
        request = ChargeRequest(
            key=payment.gateway_key,
            card=_card(attempt.card),
            amount=payment.amount,
            currency=payment.currency,
            description=f"channelbill invoice {payment.invoice_id}",
            metadata={
                "account": account,
                "invoice": str(payment.invoice_id),
                "attempt": str(payment.attempt),
                "channelbill_key": payment.gateway_key,
            },
        )
        try:
            async with asyncio.timeout(self.charge_timeout_seconds):
                return await self.gateway.charge(request)
        except (GatewayUnavailable, TimeoutError) as error:
            log.warning("payment %s: no answer from the gateway: %s", payment.id, error)
            return None

    async def _ask(self, payment: Payment) -> ChargeResult | None:
        """What the gateway made of an attempt sent before; a FAILED ``NEVER_SENT`` result
        once it has had ``unanswered_after`` to show up and has not."""
        assert payment.gateway_key is not None
        try:
            async with asyncio.timeout(self.charge_timeout_seconds):
                found = await self.gateway.find_charge(
                    payment.gateway_key, account=str(payment.reseller_id)
                )
        except (GatewayUnavailable, TimeoutError):
            return None
        if found is not None:
            return found
        if self.clock() - payment.created_at < self.unanswered_after:
            return None
        return ChargeResult(ChargeStatus.FAILED, None, NEVER_SENT, None)

    async def settle(
        self,
        session: AsyncSession,
        payment_id: uuid.UUID,
        reseller_id: uuid.UUID,
        result: ChargeResult,
        actor: Actor,
    ) -> Payment | None:
        """Step 3, in the caller's transaction: the outcome, once. None when another worker
        settled it first."""
        payment = await session.scalar(
            select(Payment)
            .where(
                Payment.reseller_id == reseller_id,
                Payment.id == payment_id,
                Payment.status == PaymentStatus.PENDING,
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if payment is None:
            return None
        payment.gateway_charge_id = result.reference
        if result.status is ChargeStatus.SUCCEEDED:
            payment.status = PaymentStatus.SUCCEEDED
            invoice = await InvoiceRepository(session, TenantScope.system()).for_update(
                payment.invoice_id
            )
            assert invoice is not None
            invoice.amount_paid = min(invoice.total, invoice.amount_paid + payment.amount)
            await session.flush()
            record(
                session,
                actor,
                "payment.succeeded",
                "Payment",
                payment.id,
                reseller_id,
                invoice_id=str(invoice.id),
                number=invoice.number,
                amount=str(payment.amount),
                currency=payment.currency,
                attempt=payment.attempt,
                trigger=str(payment.trigger),
            )
            await record_payment_event(session, payment)
            if invoice.amount_paid >= invoice.total and invoice.status is InvoiceStatus.OPEN:
                await self.lifecycle.update_status(
                    session, TenantScope.system(), actor, invoice.id, InvoiceStatus.CLOSED
                )
        else:
            payment.status = PaymentStatus.FAILED
            payment.failure_reason = (result.failure_reason or "declined")[:300]
            payment.decline_code = result.decline_code
            await record_payment_event(session, payment)
            record(
                session,
                actor,
                "payment.failed",
                "Payment",
                payment.id,
                reseller_id,
                invoice_id=str(payment.invoice_id),
                amount=str(payment.amount),
                currency=payment.currency,
                attempt=payment.attempt,
                trigger=str(payment.trigger),
                reason=payment.failure_reason,
                decline_code=result.decline_code,
            )
        await session.flush()
        return payment

    # -- what callers do -------------------------------------------------------------------

    async def pay(
        self,
        reseller_id: uuid.UUID,
        invoice_id: uuid.UUID,
        actor: Actor,
        *,
        idempotency: IdempotentRequest | None = None,
    ) -> Payment:
        """``payInvoice``: charge now. A success that leaves nothing unpaid ends dunning; a
        failure changes no schedule (only scheduled retries count). With an idempotency key
        the key is claimed in the attempt's own transaction: a repeat returns the first
        attempt (as it stands now) and charges nothing."""
        async with self.db.write(TenantScope.tenant(reseller_id)) as session:
            if idempotency is not None:
                replay = await idempotency.claim(session)
                if replay is not None:
                    first = await session.get(
                        Payment, (reseller_id, uuid.UUID(replay.result["payment"]))
                    )
                    if first is None:
                        raise NotFound("payment", field="idempotencyKey")
                    return first
            attempt = await self.begin(session, reseller_id, invoice_id, PaymentTrigger.MANUAL)
            if idempotency is not None:
                await idempotency.remember(session, {"payment": str(attempt.payment.id)})
        result = await self.send(attempt)
        return await self._finish(attempt.payment, result, actor, after_success=True)

    async def _finish(
        self, payment: Payment, result: ChargeResult | None, actor: Actor, *, after_success: bool
    ) -> Payment:
        if result is None:
            async with self.db.write(TenantScope.tenant(payment.reseller_id)) as session:
                await queue.schedule(
                    session,
                    reseller_id=payment.reseller_id,
                    kind=JOB_RECONCILE,
                    key=f"{JOB_RECONCILE}:{payment.id}",
                    run_at=self.clock() + self.unanswered_after,
                    payload={"payment": str(payment.id)},
                )
            return payment
        async with self.db.write(TenantScope.tenant(payment.reseller_id)) as session:
            settled = await self.settle(session, payment.id, payment.reseller_id, result, actor)
            if settled is not None and settled.status is PaymentStatus.SUCCEEDED and after_success:
                await self.dunning.paid_up(session, payment.reseller_id, actor, self.clock())
            current = await session.get(Payment, (payment.reseller_id, payment.id))
            assert current is not None
            return current

    async def apply_outcome(
        self, reseller_id: uuid.UUID, key: str, result: ChargeResult
    ) -> Payment | None:
        """What the gateway told us on its own (a webhook): the attempt sent with ``key`` is
        settled as it says, once; an attempt already settled, or a key we never sent, is left
        as it is (None). A success that leaves nothing unpaid ends dunning."""
        async with self.db.read(TenantScope.tenant(reseller_id)) as session:
            payment = await session.scalar(
                select(Payment).where(
                    Payment.reseller_id == reseller_id, Payment.gateway_key == key
                )
            )
        if payment is None or payment.status is not PaymentStatus.PENDING:
            return None
        return await self._finish(payment, result, Actor.system(), after_success=True)

    # -- jobs ------------------------------------------------------------------------------

    def handlers(self) -> dict[str, Callable[[ClaimedJob], Awaitable[None]]]:
        return {JOB_COLLECT: self.collect, JOB_RETRY: self.retry, JOB_RECONCILE: self.reconcile}

    async def _charge_for_job(
        self, job: ClaimedJob, invoice_id: uuid.UUID, trigger: PaymentTrigger
    ) -> Payment | None:
        """One invoice's attempt for a job: made once, found again when the job runs again.
        RetryLater while the gateway's answer is unknown. An attempt that proved never to
        have reached the gateway is followed by a new one (a new key), once."""
        settled: Payment | None = None
        for _ in range(2):
            try:
                async with self.db.write(TenantScope.tenant(job.reseller_id)) as session:
                    attempt = await self.begin(
                        session, job.reseller_id, invoice_id, trigger, job_key=job.key
                    )
            except PaymentRefused:
                return settled  # paid meanwhile, voided, no card: nothing (more) to charge
            if attempt.payment.status is not PaymentStatus.PENDING:
                return attempt.payment
            result = await self.send(attempt)
            if result is None:
                raise RetryLater("the payment gateway has not answered", seconds=60.0)
            async with self.db.write(TenantScope.tenant(job.reseller_id)) as session:
                await self.settle(
                    session, attempt.payment.id, job.reseller_id, result, Actor.system()
                )
                settled = await session.get(Payment, (job.reseller_id, attempt.payment.id))
            if result.failure_reason != NEVER_SENT:
                return settled
        return settled

    async def collect(self, job: ClaimedJob) -> None:
        """Autopay: charge the posted invoice. A failure starts dunning (not counted)."""
        invoice_id = uuid.UUID(job.payload["invoice"])
        payment = await self._charge_for_job(job, invoice_id, PaymentTrigger.AUTOPAY)
        if payment is None:
            return
        async with self.db.write(TenantScope.tenant(job.reseller_id)) as session:
            if payment.status is PaymentStatus.FAILED:
                invoice = await session.get(Invoice, (job.reseller_id, invoice_id))
                await self.dunning.failed(
                    session, job.reseller_id, _failure(payment), self.clock(), invoice=invoice
                )

    async def retry(self, job: ClaimedJob) -> None:
        """The evening's retry: charge what a charge failed for, with the card on file now.
        A card that was declined for good is not charged blindly: the retry counts as failed
        until the account gives another card."""
        number = int(job.payload.get("retry", 1))
        async with self.db.read(TenantScope.tenant(job.reseller_id)) as session:
            owed = [i.id for i in await in_dunning(session, job.reseller_id)]
            card = await card_on_file(session, job.reseller_id)
            last = await last_failure(session, job.reseller_id)
        if not owed:
            async with self.db.write(TenantScope.tenant(job.reseller_id)) as session:
                await self.dunning.paid_up(session, job.reseller_id, Actor.system(), self.clock())
            return
        failures: list[Failure] = []
        if card is None:
            failures.append(Failure("no card on file", None))
        elif (
            last is not None
            and last.payment_method_id == card.id
            and (last.decline_code in HARD_DECLINES)
        ):
            failures.append(
                Failure(
                    f"not retried: the card was declined ({last.decline_code}); add another card",
                    last.decline_code,
                )
            )
        else:
            for invoice_id in owed:
                payment = await self._charge_for_job(job, invoice_id, PaymentTrigger.RETRY)
                if payment is not None and payment.status is PaymentStatus.FAILED:
                    failures.append(_failure(payment))
        async with self.db.write(TenantScope.tenant(job.reseller_id)) as session:
            if failures:
                await self.dunning.failed(
                    session, job.reseller_id, failures[-1], self.clock(), retry_number=number
                )
            else:
                await self.dunning.paid_up(session, job.reseller_id, Actor.system(), self.clock())

    async def reconcile(self, job: ClaimedJob) -> None:
        """An attempt started by hand (payInvoice) whose answer never came."""
        payment_id = uuid.UUID(job.payload["payment"])
        async with self.db.read(TenantScope.tenant(job.reseller_id)) as session:
            payment = await session.get(Payment, (job.reseller_id, payment_id))
        if payment is None or payment.status is not PaymentStatus.PENDING:
            return
        result = await self._ask(payment)
        if result is None:
            raise RetryLater("the payment gateway has not answered", seconds=60.0)
        await self._finish(payment, result, Actor.system(), after_success=True)


def _card(row: PaymentMethod) -> Card:
    return Card(
        ref=row.gateway_ref,
        customer_ref=row.gateway_customer_ref,
        brand=row.brand,
        last4=row.last4,
        exp_month=row.exp_month,
        exp_year=row.exp_year,
    )


def _failure(payment: Payment) -> Failure:
    return Failure(payment.failure_reason or "declined", payment.decline_code)
