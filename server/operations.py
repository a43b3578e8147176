"""What operators run from the command line: a reseller or a platform admin, a billing period
with its progress, an email sent again. Each goes through the same services as the API, in the
system scope, audited as the system."""

from __future__ import annotations

import calendar
import sys
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TextIO

from sqlalchemy import func, select, update

from auth.passwords import check_password_policy, hash_password_off_loop
from billing.generation import BillingRun, RunRequest
from billing.models import Invoice, InvoiceKind
from core.clock import utcnow
from core.errors import DomainError
from core.ids import new_id
from core.validation import normalize_email, required_text
from db.database import Database
from db.scope import PLATFORM_TENANT_ID, TenantScope
from notifications.models import DeliveryStatus, OutboxMessage
from server.app import build_services
from server.settings import Settings
from tenants import services
from tenants.audit import Actor, record
from tenants.models import PlatformAdmin, Reseller, UserStatus
from tenants.repositories import PlatformAdminRepository, ResellerRepository


class OperationFailed(Exception):
    """What the operator asked for cannot be done; the message says why."""


def month_of(text: str) -> tuple[date, date]:
    """'2026-11' -> the first and last day of November 2026."""
    try:
        year, month = (int(part) for part in text.split("-"))
        last = calendar.monthrange(year, month)[1]
        return date(year, month, 1), date(year, month, last)
    except (ValueError, calendar.IllegalMonthError):
        raise OperationFailed(f"{text!r} is not a month (YYYY-MM)") from None


def _problem(error: DomainError) -> OperationFailed:
    return OperationFailed("; ".join(f"{p.field or 'input'}: {p.message}" for p in error.problems))


async def create_reseller(
    settings: Settings,
    db: Database,
    *,
    name: str,
    currency: str,
    owner_email: str,
    owner_name: str,
    slug: str | None = None,
    timezone: str | None = None,
) -> Reseller:
    """A new tenant; its OWNER gets the invitation email, as with createReseller."""
    accounts = build_services(settings, db).accounts
    data = services.NewReseller(
        name=name,
        currency=currency,
        owner_email=owner_email,
        owner_name=owner_name,
        slug=slug,
        timezone=timezone,
    )
    try:
        async with db.write(TenantScope.system()) as session:
            reseller, _owner = await accounts.create_reseller(session, Actor.system(), data)
    except DomainError as error:
        raise _problem(error) from None
    return reseller


async def create_platform_admin(db: Database, *, email: str, name: str, password: str) -> None:
    try:
        address = normalize_email(email)
        full_name = required_text(name, field="name")
        check_password_policy(password, address)
    except DomainError as error:
        raise _problem(error) from None
    async with db.write(TenantScope.system()) as session:
        admins = PlatformAdminRepository(session)
        if await admins.by_email(address) is not None:
            raise OperationFailed(f"{address} is a platform admin already")
        admin = admins.add(
            PlatformAdmin(
                id=new_id(),
                email=address,
                name=full_name,
                password_hash=await hash_password_off_loop(password),
                status=UserStatus.ACTIVE,
            )
        )
        record(session, Actor.system(), "platform_admin.created", "PlatformAdmin", admin.id, None)


@dataclass
class PeriodSummary:
    created: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    totals: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{self.created} invoices made (drafts)"]
        out += [f"{count} skipped: {reason}" for reason, count in sorted(self.skipped.items())]
        out += [f"  {currency} {total:,}" for currency, total in sorted(self.totals.items())]
        return out + [f"  ! {problem}" for problem in self.problems]


Progress = Callable[[int, int, str], None]


def progress_bar(stream: TextIO = sys.stderr, width: int = 30) -> Progress:
    """A one-line bar redrawn in place: [#####.....] 3/10 Acme Cloud."""

    def show(done: int, total: int, label: str) -> None:
        filled = width * done // max(total, 1)
        end = "\n" if done == total else ""
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label[:40]:<40}")
        stream.write(end)
        stream.flush()

    return show


async def run_period(
    settings: Settings,
    db: Database,
    period: tuple[date, date],
    *,
    reseller_slug: str | None = None,
    wholesale: bool = False,
    progress: Progress | None = None,
) -> PeriodSummary:
    """Each reseller's retail run in a transaction of its own (one reseller's trouble stops no
    other), then, with ``wholesale``, the platform's bills to the resellers."""
    system = TenantScope.system()
    async with db.read(system) as session:
        resellers = ResellerRepository(session, system)
        if reseller_slug is not None:
            found = await resellers.by_slug(reseller_slug.strip().lower())
            if found is None:
                raise OperationFailed(f"no reseller {reseller_slug!r}")
            chosen = [found]
        else:
            chosen = list(await session.scalars(resellers.select().order_by(Reseller.name)))
    steps: list[tuple[str, TenantScope, RunRequest]] = [
        (r.name, TenantScope.tenant(r.id), RunRequest(*period)) for r in chosen
    ]
    if wholesale:
        ids = [r.id for r in chosen]
        request = RunRequest(*period, kind=InvoiceKind.WHOLESALE, reseller_ids=ids)
        steps.append(("wholesale", system, request))
    summary = PeriodSummary()
    for done, (label, scope, request) in enumerate(steps):
        if progress:
            progress(done, len(steps), label)
        try:
            async with db.write(scope) as session:
                result = await BillingRun(
                    session, scope, Actor.system(), settings.platform_name
                ).run(request)
                made = await _totals(session, result.created)
        except DomainError as error:
            summary.problems.append(f"{label}: {error.problems[0].message}")
            continue
        summary.created += len(result.created)
        summary.skipped.update(s.reason for s in result.skipped)
        for currency, total in made:
            summary.totals[currency] += total
    if progress:
        progress(len(steps), len(steps), "done")
    return summary


async def _totals(session, ids: list[uuid.UUID]) -> list[tuple[str, Decimal]]:  # type: ignore[no-untyped-def]
    if not ids:
        return []
    statement = (
        select(Invoice.currency, func.sum(Invoice.total))
        .where(Invoice.id.in_(ids))
        .group_by(Invoice.currency)
    )
    return [(currency, Decimal(total)) for currency, total in await session.execute(statement)]


async def resend_email(db: Database, message_id: str) -> str:
    """Queue a FAILED email again, from its first attempt. A sent email's body is not kept (it
    is the recipient's), so only one that never arrived can be sent again."""
    try:
        row_id = uuid.UUID(message_id)
    except ValueError:
        raise OperationFailed(f"{message_id!r} is not an outbox message id") from None
    async with db.write(TenantScope.system()) as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.id == row_id))
        if row is None:
            raise OperationFailed(f"no outbox message {message_id}")
        if row.status is not DeliveryStatus.FAILED:
            raise OperationFailed(
                f"message {message_id} is {row.status.value}: only a FAILED one is sent again"
            )
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.reseller_id == row.reseller_id, OutboxMessage.id == row.id)
            .values(
                status=DeliveryStatus.QUEUED,
                attempts=0,
                next_attempt_at=utcnow(),
                locked_until=None,
                last_error=None,
            )
        )
        tenant = None if row.reseller_id == PLATFORM_TENANT_ID else row.reseller_id
        record(
            session,
            Actor.system(),
            "notification.requeued",
            "OutboxMessage",
            row.id,
            tenant,
            recipient=row.recipient,
        )
        return row.recipient
