"""The account's standing while the platform collects from it (domain.md, Payments and dunning):

    ACTIVE --a charge fails--> PAST_DUE --the last retry fails--> DEACTIVATED
       ^                          |                                    |
       `---- paid up -------------'<--- reactivateAccount (new card) --'

A failed autopay or retry schedules the next retry the upcoming evening (``payments.schedule``),
one job per evening, keyed by cycle and retry number so that deciding twice queues it once. Only
scheduled retries count toward ``RetryPolicy.retries``. Every transition runs in the caller's
transaction, with its audit entry and email, so it happens wholly or not at all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.lifecycle import facts_of
from billing.models import Invoice
from db.scope import TenantScope
from events import log as events
from jobs import queue
from notifications.branding import branding_of
from notifications.emails import Composer, amount
from notifications.models import NotificationEvent
from notifications.outbox import enqueue
from payments.repositories import card_on_file, in_dunning
from payments.schedule import RetryPolicy, upcoming_evening
from tenants import snapshots
from tenants.audit import Actor, record
from tenants.models import AccountStatus, Reseller
from tenants.repositories import UserRepository

JOB_RETRY = "payments.retry"


@dataclass(frozen=True, slots=True)
class Failure:
    reason: str
    decline_code: str | None


@dataclass(frozen=True, slots=True)
class Standing:
    """What ``Reseller.dunning`` shows."""

    state: AccountStatus
    attempts: int
    next_retry_at: datetime | None
    last_failure_reason: str | None
    last_decline_code: str | None
    overdue: Decimal
    currency: str


class Dunning:
    def __init__(
        self, composer: Composer, policy: RetryPolicy, *, platform_name: str, card_url: str
    ) -> None:
        self.composer = composer
        self.policy = policy
        self.platform_name = platform_name
        self.card_url = card_url

    async def _reseller(self, session: AsyncSession, reseller_id: uuid.UUID) -> Reseller:
        reseller = await session.scalar(
            select(Reseller)
            .where(Reseller.id == reseller_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if reseller is None:
            raise LookupError(f"no reseller {reseller_id}")
        return reseller

    def _retry_key(self, reseller: Reseller, number: int) -> str:
        assert reseller.dunning_since is not None
        return f"{JOB_RETRY}:{reseller.dunning_since.isoformat()}:{number}"

    async def failed(
        self,
        session: AsyncSession,
        reseller_id: uuid.UUID,
        failure: Failure,
        now: datetime,
        *,
        retry_number: int | None = None,
        invoice: Invoice | None = None,
    ) -> AccountStatus:
        """A charge (or a retry, ``retry_number``) failed: schedule the next retry, or
        deactivate after the last. Returns the account's status after."""
        reseller = await self._reseller(session, reseller_id)
        before = reseller.status
        if reseller.dunning_since is None:
            reseller.dunning_since = now
        if retry_number is not None:
            # Assigned, not added: a retry whose job runs twice counts once.
            reseller.dunning_retries = max(reseller.dunning_retries, retry_number)
        reseller.last_failure_reason = failure.reason[:300]
        reseller.last_decline_code = failure.decline_code
        if reseller.dunning_retries >= self.policy.retries:
            reseller.status = AccountStatus.DEACTIVATED
            await queue.cancel(session, reseller.id, JOB_RETRY)
            if before is not AccountStatus.DEACTIVATED:
                record(
                    session,
                    Actor.system(),
                    "account.deactivated",
                    "Reseller",
                    reseller.id,
                    reseller.id,
                    reason=failure.reason,
                    retries=reseller.dunning_retries,
                )
                await _account_event(session, "account.deactivated", reseller)
                await self._account_email(session, reseller, NotificationEvent.ACCOUNT_DEACTIVATED)
            return reseller.status
        reseller.status = AccountStatus.PAST_DUE
        number = reseller.dunning_retries + 1
        retry_at = upcoming_evening(now, reseller.timezone, self.policy)
        scheduled = await queue.schedule(
            session,
            reseller_id=reseller.id,
            kind=JOB_RETRY,
            key=self._retry_key(reseller, number),
            run_at=retry_at,
            payload={"retry": number},
        )
        if before is not AccountStatus.PAST_DUE:
            record(
                session,
                Actor.system(),
                "account.past_due",
                "Reseller",
                reseller.id,
                reseller.id,
                reason=failure.reason,
            )
            await _account_event(session, "account.past_due", reseller)
        if scheduled:
            record(
                session,
                Actor.system(),
                "payment.retry_scheduled",
                "Reseller",
                reseller.id,
                reseller.id,
                retry=number,
                at=retry_at.isoformat(),
            )
            await self._failure_email(session, reseller, failure, retry_at, invoice)
        return reseller.status

    async def paid_up(
        self, session: AsyncSession, reseller_id: uuid.UUID, actor: Actor, now: datetime
    ) -> bool:
        """After a payment: when nothing a charge failed for is left unpaid, the account is
        ACTIVE again and its retries are off. Whether it changed."""
        reseller = await self._reseller(session, reseller_id)
        if reseller.status is AccountStatus.ACTIVE and reseller.dunning_since is None:
            return False
        if await in_dunning(session, reseller.id):
            return False
        before = reseller.status
        self._clear(reseller)
        await queue.cancel(session, reseller.id, JOB_RETRY)
        if before is not AccountStatus.ACTIVE:
            record(
                session,
                actor,
                "account.reactivated" if before is AccountStatus.DEACTIVATED else "account.paid_up",
                "Reseller",
                reseller.id,
                reseller.id,
                status_from=str(before),
            )
        if before is AccountStatus.DEACTIVATED:
            await _account_event(session, "account.reactivated", reseller)
            await self._account_email(session, reseller, NotificationEvent.ACCOUNT_REACTIVATED)
            await events.resume_deliveries(session, reseller.id, now)
        elif before is AccountStatus.PAST_DUE:
            await _account_event(session, "account.paid_up", reseller)
        return before is not AccountStatus.ACTIVE

    async def reactivated(
        self, session: AsyncSession, reseller_id: uuid.UUID, actor: Actor, now: datetime
    ) -> datetime | None:
        """``reactivateAccount`` verified a new card: ACTIVE at once, and what is unpaid is
        retried with it the upcoming evening (a new cycle). Returns that retry's time."""
        reseller = await self._reseller(session, reseller_id)
        before = reseller.status
        self._clear(reseller)
        await queue.cancel(session, reseller.id, JOB_RETRY)
        retry_at = None
        if await in_dunning(session, reseller.id):
            reseller.dunning_since = now
            retry_at = upcoming_evening(now, reseller.timezone, self.policy)
            await queue.schedule(
                session,
                reseller_id=reseller.id,
                kind=JOB_RETRY,
                key=self._retry_key(reseller, 1),
                run_at=retry_at,
                payload={"retry": 1},
            )
        record(
            session,
            actor,
            "account.reactivated",
            "Reseller",
            reseller.id,
            reseller.id,
            status_from=str(before),
            retry_at=retry_at.isoformat() if retry_at else None,
        )
        await _account_event(session, "account.reactivated", reseller)
        await self._account_email(session, reseller, NotificationEvent.ACCOUNT_REACTIVATED)
        if before is AccountStatus.DEACTIVATED:
            await events.resume_deliveries(session, reseller.id, now)
        return retry_at

    async def card_changed(
        self, session: AsyncSession, reseller_id: uuid.UUID, now: datetime
    ) -> datetime | None:
        """A new card while PAST_DUE: the pending retry moves to the upcoming evening."""
        reseller = await self._reseller(session, reseller_id)
        if reseller.status is not AccountStatus.PAST_DUE:
            return None
        retry_at = upcoming_evening(now, reseller.timezone, self.policy)
        moved = await queue.move(session, reseller.id, JOB_RETRY, retry_at)
        return retry_at if moved else None

    @staticmethod
    def _clear(reseller: Reseller) -> None:
        reseller.status = AccountStatus.ACTIVE
        reseller.dunning_retries = 0
        reseller.dunning_since = None
        reseller.last_failure_reason = None
        reseller.last_decline_code = None

    async def standing(self, session: AsyncSession, reseller: Reseller) -> Standing:
        owed = await in_dunning(session, reseller.id)
        retries = await queue.queued(session, reseller.id, JOB_RETRY)
        return Standing(
            state=reseller.status,
            attempts=reseller.dunning_retries,
            next_retry_at=retries[0].run_at if retries else None,
            last_failure_reason=reseller.last_failure_reason,
            last_decline_code=reseller.last_decline_code,
            overdue=sum((i.total - i.amount_paid for i in owed), Decimal(0)),
            currency=owed[0].currency if owed else reseller.currency,
        )

    # -- emails to the reseller's billing users, as the platform -------------------------------

    async def _recipients(self, session: AsyncSession, reseller: Reseller) -> list[str]:
        return await UserRepository(session, TenantScope.tenant(reseller.id)).billing_emails(
            reseller.id
        )

    async def _failure_email(
        self,
        session: AsyncSession,
        reseller: Reseller,
        failure: Failure,
        retry_at: datetime,
        invoice: Invoice | None,
    ) -> None:
        if invoice is None:
            owed = await in_dunning(session, reseller.id)
            invoice = owed[0] if owed else None
        if invoice is None:
            return
        brand = await branding_of(session, None, self.platform_name)
        if not brand.enabled(NotificationEvent.PAYMENT_FAILED):
            return
        card = await card_on_file(session, reseller.id)
        local = retry_at.astimezone(ZoneInfo(reseller.timezone))
        when = f"{local:%A %d %B %Y, %H:%M} ({reseller.timezone})"
        for to in await self._recipients(session, reseller):
            enqueue(
                session,
                self.composer.payment_failed(
                    to,
                    brand,
                    facts_of(invoice),
                    reason=failure.reason.rstrip("."),
                    card=f"{card.brand.title()} ending in {card.last4}" if card else None,
                    retry_at=when,
                    update_card_url=self.card_url,
                ),
                event=NotificationEvent.PAYMENT_FAILED,
                reseller_id=reseller.id,
                about_type="Invoice",
                about_id=invoice.id,
            )

    async def _account_email(
        self, session: AsyncSession, reseller: Reseller, event: NotificationEvent
    ) -> None:
        brand = await branding_of(session, None, self.platform_name)
        if not brand.enabled(event):
            return
        owed = await in_dunning(session, reseller.id)
        unpaid = sum((i.total - i.amount_paid for i in owed), Decimal(0))
        due = amount(unpaid, owed[0].currency) if owed else None
        for to in await self._recipients(session, reseller):
            enqueue(
                session,
                self.composer.account(
                    event,
                    to,
                    brand,
                    buyer=reseller.name,
                    amount_due=due if event is NotificationEvent.ACCOUNT_DEACTIVATED else None,
                    update_card_url=self.card_url,
                ),
                event=event,
                reseller_id=reseller.id,
                about_type="Reseller",
                about_id=reseller.id,
            )


async def _account_event(session: AsyncSession, type_: str, reseller: Reseller) -> None:
    await events.record(
        session,
        type_,
        reseller_id=reseller.id,
        object_type="Reseller",
        object_id=reseller.id,
        payload=snapshots.account(reseller),
    )
