"""The billing run: one DRAFT invoice per buyer and vendor with charges in a period.

RETAIL runs bill customers at their effective prices (billing.prices); WHOLESALE runs (platform
admins) bill each reseller at cost for what all its customers used. A run is idempotent: a buyer
and vendor that already have a live (not VOID) invoice for an overlapping period is reported as
skipped, and a unique index stops two concurrent runs from both succeeding.

Each buyer stands alone: an invoice that cannot be made (a price needs a rate nobody published, an
amount too large to store) is reported as skipped with the reason, naming the buyer, and every
other buyer is invoiced. Nothing of a skipped invoice is written.

Built for volume: everything is read in a handful of set-based queries, priced from an in-memory
``PriceBook``, and written with Core ``insert`` executemany in batches; no ORM object per row.
"""

from __future__ import annotations

import base64
import calendar
import functools
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ARRAY, Table, bindparam, cast, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import money, snapshots
from billing.bounds import AmountOutOfRange, checked, fits
from billing.models import (
    Invoice,
    InvoiceCharge,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    Product,
    Subscription,
    UsageRecord,
)
from billing.prices import PriceBook, UnitPrice
from core.clock import utcnow
from core.currency import minor_units
from core.errors import DomainError, ErrorCode, Problem, ValidationFailed
from core.ids import new_id
from db.scope import TenantScope
from events import log as events
from events.models import Event
from tenants.audit import Actor, record
from tenants.models import Customer, Reseller

BATCH = 2000
MAX_PERIOD_DAYS = 366
# Far enough from date.min and date.max that reading usage around a period (a day either side)
# and walking its months (to the day after each) stay within the calendar.
EARLIEST_PERIOD = date(1900, 1, 1)
LATEST_PERIOD = date(9998, 12, 31)
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _CROCKFORD.encode())
_MICRO = Decimal("1e-6")  # a charge keeps its exact amount to the column's 6 places


def document_id(id_: uuid.UUID) -> str:
    """A draft's reference from the moment it is made: 'D' and the id in Crockford base32.

    26 digits of 5 bits hold the id's 128 bits: RFC 4648 base32 of the id as 20 bytes gives 32
    digits, of which the first 6 only hold leading zero bits; those are dropped and the alphabet
    is mapped to Crockford's."""
    digits = base64.b32encode(id_.int.to_bytes(20, "big"))[6:]
    return "D" + digits.translate(_TO_CROCKFORD).decode("ascii")


@functools.cache
def _minor_unit(currency: str) -> Decimal:
    """1 in the currency's smallest unit (JPY 1, USD 0.01, KWD 0.001)."""
    return Decimal(1).scaleb(-minor_units(currency))


@functools.cache
def _month_days(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _round(amount: Decimal, currency: str) -> Decimal:
    """core.currency.quantize, with the currency's minor unit looked up once."""
    return amount.quantize(_minor_unit(currency), rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Charge:
    """One piece of a line: part of a subscription's month, or one usage record."""

    start: date
    end: date
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal  # exact; the line rounds the sum
    subscription_id: uuid.UUID | None = None
    usage_record_id: uuid.UUID | None = None
    days: int | None = None
    period_days: int | None = None


def recurring_charges(
    period_start: date,
    period_end: date,
    start: date,
    end: date | None,
    quantity: int,
    unit_price: Decimal,
    subscription_id: uuid.UUID | None = None,
) -> list[Charge]:
    """A monthly price over ``[period_start, period_end]``: for each calendar month the period
    touches, price x quantity x (days subscribed in it / days of that month)."""
    charges: list[Charge] = []
    month_start = period_start.replace(day=1)
    while month_start <= period_end:
        month_days = _month_days(month_start.year, month_start.month)
        month_end = month_start.replace(day=month_days)
        first, last = max(period_start, month_start, start), min(period_end, month_end)
        if end is not None:
            last = min(last, end)
        if first <= last:
            days = money.days_between(first, last)
            exact = unit_price * quantity * days / month_days
            charges.append(
                Charge(
                    first,
                    last,
                    Decimal(quantity),
                    unit_price,
                    exact,
                    subscription_id,
                    None,
                    days,
                    month_days,
                )
            )
        month_start = month_end + timedelta(days=1)
    return charges


def _check_period(ps: date, pe: date) -> None:
    for name, day in (("periodStart", ps), ("periodEnd", pe)):
        if not EARLIEST_PERIOD <= day <= LATEST_PERIOD:
            raise ValidationFailed(
                f"{name} must lie between {EARLIEST_PERIOD.isoformat()}"
                f" and {LATEST_PERIOD.isoformat()}",
                field=name,
            )
    if pe < ps:
        raise ValidationFailed("periodEnd must not be before periodStart", field="periodEnd")
    if money.days_between(ps, pe) > MAX_PERIOD_DAYS:
        raise ValidationFailed(f"a period is at most {MAX_PERIOD_DAYS} days", field="periodEnd")


@dataclass(frozen=True, slots=True)
class RunRequest:
    period_start: date
    period_end: date
    kind: InvoiceKind = InvoiceKind.RETAIL
    customer_ids: Sequence[uuid.UUID] | None = None  # RETAIL: only these customers
    reseller_ids: Sequence[uuid.UUID] | None = None  # only these resellers (platform admins)


EXISTS = "EXISTS"


@dataclass(frozen=True, slots=True)
class Skipped:
    """An invoice the run did not make: one exists (EXISTS), or the code of what stopped it."""

    reseller_id: uuid.UUID
    customer_id: uuid.UUID | None
    vendor_id: uuid.UUID
    invoice_id: uuid.UUID | None  # EXISTS: the live invoice that already covers the period
    reason: str
    message: str = ""  # names the buyer, and what is wrong
    buyer_name: str = ""


@dataclass
class RunResult:
    created: list[uuid.UUID] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(slots=True)
class _Line:
    product: Product
    price: UnitPrice
    charges: list[Charge]


@dataclass
class _Draft:
    """An invoice being assembled: its buyer, vendor and, per product, the charges."""

    reseller_id: uuid.UUID
    customer_id: uuid.UUID | None
    vendor_id: uuid.UUID
    currency: str
    tax_rate: Decimal
    seller_name: str
    buyer_name: str
    buyer_email: str | None
    lines: dict[uuid.UUID, _Line] = field(default_factory=dict)
    problem: Problem | None = None  # why it cannot be made; the first one found

    @property
    def buyer(self) -> str:
        kind = "reseller" if self.customer_id is None else "customer"
        return f'{kind} "{self.buyer_name}"'

    def fail(self, error: DomainError, product: Product | None = None) -> None:
        if self.problem is None:
            problem = error.problems[0]
            about = f" ({product.sku})" if product is not None else ""
            message = f"{self.buyer}{about}: {problem.message}"
            self.problem = Problem(problem.code, message)

    def skipped(self, invoice_id: uuid.UUID | None = None) -> Skipped:
        if invoice_id is not None:
            message = f"{self.buyer} already has a live invoice for this period"
            return Skipped(*self.key, invoice_id, EXISTS, message, self.buyer_name)
        assert self.problem is not None
        code, message = self.problem.code, self.problem.message
        return Skipped(*self.key, None, code, message, self.buyer_name)

    @property
    def key(self) -> tuple[uuid.UUID, uuid.UUID | None, uuid.UUID]:
        return (self.reseller_id, self.customer_id, self.vendor_id)

    def add(
        self, product_id: uuid.UUID, product: Product, price: UnitPrice, charges: list[Charge]
    ) -> None:
        """Add charges to the product's line; the list is the line's from now on."""
        known = self.lines.get(product_id)
        if known is None:
            self.lines[product_id] = _Line(product, price, charges)
        else:
            known.charges.extend(charges)


@dataclass(frozen=True, slots=True)
class _Buyer:
    reseller_id: uuid.UUID
    customer_id: uuid.UUID | None
    currency: str
    tax_rate: Decimal
    name: str
    email: str | None
    timezone: str


@dataclass(slots=True)
class _Account:
    """One customer in a run: who pays for it, its prices by product, its local time zone, and
    the drafts its charges went to, by vendor."""

    buyer: _Buyer
    prices: Mapping[uuid.UUID, UnitPrice]
    timezone: str
    drafts: dict[uuid.UUID, _Draft] = field(default_factory=dict)


class BillingRun:
    """One run, in the caller's transaction (the caller commits; a failure leaves nothing)."""

    def __init__(
        self, session: AsyncSession, scope: TenantScope, actor: Actor, platform_name: str
    ) -> None:
        self.session = session
        self.scope = scope
        self.actor = actor
        self.platform_name = platform_name

    async def run(self, request: RunRequest) -> RunResult:
        ps, pe = request.period_start, request.period_end
        _check_period(ps, pe)
        resellers = await self._resellers(request.reseller_ids)
        customers = await self._customers(request.customer_ids, resellers)
        wholesale = request.kind is InvoiceKind.WHOLESALE
        subscriptions = await self._subscriptions(customers, ps, pe)
        usage = await self._usage(customers, ps, pe)
        product_ids = {row.product_id for row in subscriptions} | {row.product_id for row in usage}
        book = await PriceBook.load(self.session, self.scope, product_ids, resellers, pe)

        # Per subscription only a few dictionary lookups: the customer's account, the product,
        # its price (lists shared by customers without prices of their own), its draft.
        accounts: dict[uuid.UUID, _Account] = {}
        for c in customers.values():
            reseller = resellers[c.reseller_id]
            if wholesale:
                buyer = _Buyer(
                    reseller.id,
                    None,
                    reseller.currency,
                    Decimal(0),
                    reseller.name,
                    None,
                    reseller.timezone,
                )
                prices = book.cost_list(reseller.currency)
            else:
                buyer = _Buyer(
                    reseller.id, c.id, c.currency, c.tax_rate, c.name, c.email, c.timezone
                )
                prices = book.retail_list(reseller.id, c.id, c.currency)
            accounts[c.id] = _Account(buyer, prices, c.timezone)

        drafts: dict[tuple[uuid.UUID, uuid.UUID | None, uuid.UUID], _Draft] = {}

        def draft_for(account: _Account, product: Product) -> _Draft:
            found = account.drafts.get(product.vendor_id)
            if found is None:
                buyer = account.buyer
                key = (buyer.reseller_id, buyer.customer_id, product.vendor_id)
                found = drafts.get(key)
                if found is None:
                    seller = self.platform_name if wholesale else resellers[buyer.reseller_id].name
                    found = drafts[key] = _Draft(
                        buyer.reseller_id,
                        buyer.customer_id,
                        product.vendor_id,
                        buyer.currency,
                        buyer.tax_rate,
                        seller,
                        buyer.name,
                        buyer.email,
                    )
                account.drafts[product.vendor_id] = found
            return found

        products = book.products
        for sub in subscriptions:
            account = accounts[sub.customer_id]
            try:
                price = account.prices[sub.product_id]
            except DomainError as error:  # a missing rate, a price too large: this invoice only
                product = products[sub.product_id]
                draft_for(account, product).fail(error, product)
                continue
            charges = recurring_charges(
                ps, pe, sub.start_date, sub.end_date, sub.quantity, price.amount, sub.id
            )
            if charges:
                product = products[sub.product_id]
                draft_for(account, product).add(sub.product_id, product, price, charges)
        for use in usage:
            account = accounts[use.customer_id]
            # Read with a margin: a record outside the customer's local period is not priced.
            day = use.occurred_at.astimezone(ZoneInfo(account.timezone)).date()
            if not ps <= day <= pe:
                continue
            product = products[use.product_id]
            try:
                price = account.prices[use.product_id]
            except DomainError as error:
                draft_for(account, product).fail(error, product)
                continue
            charge = Charge(
                day, day, use.quantity, price.amount, price.amount * use.quantity, None, use.id
            )
            draft_for(account, product).add(use.product_id, product, price, [charge])

        existing = await self._live_invoices(request.kind, drafts, ps, pe)
        result = RunResult()
        for key in list(drafts):
            found = existing.get(key)
            if found is not None:
                result.skipped.append(drafts.pop(key).skipped(found))
        made = await self._insert(request.kind, ps, pe, list(drafts.values()), result)
        self._audit(request, made, result)
        return result

    async def _resellers(self, ids: Sequence[uuid.UUID] | None) -> dict[uuid.UUID, Reseller]:
        statement = self.scope.filter(select(Reseller), Reseller.id)
        if ids is not None:
            statement = statement.where(Reseller.id.in_(list(ids)))
        return {r.id: r for r in await self.session.scalars(statement)}

    async def _customers(
        self, ids: Sequence[uuid.UUID] | None, resellers: dict[uuid.UUID, Reseller]
    ) -> dict[uuid.UUID, Any]:
        statement = self.scope.filter(
            select(
                Customer.id,
                Customer.reseller_id,
                Customer.name,
                Customer.email,
                Customer.currency,
                Customer.tax_rate,
                Customer.timezone,
            ),
            Customer.reseller_id,
        ).where(Customer.reseller_id.in_(list(resellers)))
        if ids is not None:
            statement = statement.where(Customer.id.in_(list(ids)))
        found = {row.id: row for row in await self.session.execute(statement)}
        if ids is not None and len(found) != len(set(ids)):
            raise ValidationFailed(
                "one of the customers was not found", field="customerIds", code=ErrorCode.NOT_FOUND
            )
        return found

    async def _subscriptions(
        self, customers: dict[uuid.UUID, Any], ps: date, pe: date
    ) -> list[Any]:
        statement = select(
            Subscription.id,
            Subscription.customer_id,
            Subscription.product_id,
            Subscription.quantity,
            Subscription.start_date,
            Subscription.end_date,
        ).where(
            Subscription.start_date <= pe,
            (Subscription.end_date.is_(None)) | (Subscription.end_date >= ps),
        )
        return [row for row in await self._of_customers(statement, Subscription, customers)]

    async def _usage(self, customers: dict[uuid.UUID, Any], ps: date, pe: date) -> list[Any]:
        # Local days differ from UTC by at most 14 hours: read a margin, keep the local period.
        since = datetime.combine(ps, time.min, tzinfo=ZoneInfo("UTC")) - timedelta(hours=14)
        until = datetime.combine(pe, time.min, tzinfo=ZoneInfo("UTC")) + timedelta(hours=38)
        statement = select(
            UsageRecord.id,
            UsageRecord.customer_id,
            UsageRecord.product_id,
            UsageRecord.quantity,
            UsageRecord.occurred_at,
        ).where(UsageRecord.occurred_at >= since, UsageRecord.occurred_at < until)
        return await self._of_customers(statement, UsageRecord, customers)

    async def _of_customers(
        self, statement: Any, model: Any, customers: dict[uuid.UUID, Any]
    ) -> list[Any]:
        """Rows of these customers: by their resellers (one query) and kept if the customer is."""
        if not customers:
            return []
        resellers = list({c.reseller_id for c in customers.values()})
        statement = self.scope.filter(statement, model.reseller_id).where(
            model.reseller_id.in_(resellers)
        )
        if len(customers) <= 500:
            statement = statement.where(model.customer_id.in_(list(customers)))
        rows = await self.session.execute(statement.order_by(model.id))
        return [row for row in rows if row.customer_id in customers]

    async def _live_invoices(
        self,
        kind: InvoiceKind,
        drafts: dict[tuple[uuid.UUID, uuid.UUID | None, uuid.UUID], _Draft],
        ps: date,
        pe: date,
    ) -> dict[tuple[uuid.UUID, uuid.UUID | None, uuid.UUID], uuid.UUID]:
        if not drafts:
            return {}
        resellers = list({key[0] for key in drafts})
        statement = self.scope.filter(
            select(Invoice.id, Invoice.reseller_id, Invoice.customer_id, Invoice.vendor_id),
            Invoice.reseller_id,
        ).where(
            Invoice.reseller_id.in_(resellers),
            Invoice.kind == kind,
            Invoice.status != InvoiceStatus.VOID,
            Invoice.period_start <= pe,
            Invoice.period_end >= ps,
        )
        return {
            (row.reseller_id, row.customer_id, row.vendor_id): row.id
            for row in await self.session.execute(statement)
        }

    async def _insert(
        self,
        kind: InvoiceKind,
        ps: date,
        pe: date,
        drafts: list[_Draft],
        result: RunResult,
    ) -> list[_Draft]:
        """Write the drafts that can be made, in ``result.created``; the rest go to its skipped
        list. Every row of an invoice is built and checked before any of them is kept."""
        now = utcnow()
        invoices: list[dict[str, Any]] = []
        lines: list[dict[str, Any]] = []
        charges: list[dict[str, Any]] = []
        made: list[_Draft] = []
        for draft in drafts:
            if draft.problem is None:
                try:
                    invoice, its_lines, its_charges = self._rows(kind, ps, pe, now, draft)
                except AmountOutOfRange as error:
                    draft.fail(error)
                else:
                    invoices.append(invoice)
                    lines.extend(its_lines)
                    charges.extend(its_charges)
                    made.append(draft)
                    continue
            result.skipped.append(draft.skipped())
        for table, rows in (
            (Invoice.__table__, invoices),
            (InvoiceLine.__table__, lines),
            (InvoiceCharge.__table__, charges),
        ):
            await self._write(table, rows)  # type: ignore[arg-type]
        recorded = [
            events.new_row(
                "invoice.created",
                reseller_id=row["reseller_id"],
                object_type="Invoice",
                object_id=row["id"],
                payload=snapshots.invoice(SimpleNamespace(**row)),
                customer_id=row["customer_id"],
            )
            for row in invoices
        ]
        await self._write(Event.__table__, recorded)  # type: ignore[arg-type]
        await events.fan_out(self.session, recorded)
        result.created = [row["id"] for row in invoices]
        return made

    def _rows(
        self, kind: InvoiceKind, ps: date, pe: date, now: datetime, draft: _Draft
    ) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        """One invoice's rows; AmountOutOfRange if any amount would not fit its column."""
        invoice_id = new_id()
        currency = draft.currency
        amounts: list[Decimal] = []
        lines: list[dict[str, Any]] = []
        charges: list[dict[str, Any]] = []
        for position, line in enumerate(draft.lines.values(), 1):
            line_id = new_id()
            parts = line.charges
            product = line.product
            if len(parts) == 1:
                only = parts[0]
                quantity, exact, start, end = only.quantity, only.amount, only.start, only.end
            else:
                quantity = self._line_quantity(parts)
                exact = sum((c.amount for c in parts), Decimal(0))
                start, end = min(c.start for c in parts), max(c.end for c in parts)
            if not fits(quantity):
                raise AmountOutOfRange(f"the quantity of line {position} ({product.sku})", quantity)
            # The exact amount first: rounding a number past 10^25 fails before it overflows.
            line_amount = _round(exact, currency) if fits(exact) else exact
            if not fits(line_amount):
                raise AmountOutOfRange(f"the amount of line {position} ({product.sku})", exact)
            amounts.append(line_amount)
            lines.append(
                {
                    "reseller_id": draft.reseller_id,
                    "id": line_id,
                    "created_at": now,
                    "invoice_id": invoice_id,
                    "position": position,
                    "product_id": product.id,
                    "kind": product.kind,
                    "description": (
                        f"{product.name} ({product.unit}), {start.isoformat()} to {end.isoformat()}"
                    )[:300],
                    "quantity": quantity,
                    "unit_price": line.price.amount,
                    "amount": line_amount,
                    "price_source": line.price.source,
                    "service_start": start,
                    "service_end": end,
                }
            )
            for charge in parts:
                # Within the line's sum, but a charge can be large where another is negative.
                if not fits(charge.amount):
                    raise AmountOutOfRange(
                        f"a charge of line {position} ({product.sku})", charge.amount
                    )
                charges.append(
                    {
                        "reseller_id": draft.reseller_id,
                        "id": new_id(),
                        "created_at": now,
                        "invoice_id": invoice_id,
                        "line_id": line_id,
                        "subscription_id": charge.subscription_id,
                        "usage_record_id": charge.usage_record_id,
                        "start_date": charge.start,
                        "end_date": charge.end,
                        "quantity": charge.quantity,
                        "unit_price": charge.unit_price,
                        "days": charge.days,
                        "period_days": charge.period_days,
                        "amount": charge.amount.quantize(_MICRO),
                    }
                )
        totals = money.totals(amounts, draft.tax_rate, currency)
        invoice = {
            "reseller_id": draft.reseller_id,
            "id": invoice_id,
            "created_at": now,
            "kind": kind,
            "customer_id": draft.customer_id,
            "vendor_id": draft.vendor_id,
            "document_id": document_id(invoice_id),
            "number": None,
            "status": InvoiceStatus.DRAFT,
            "period_start": ps,
            "period_end": pe,
            "currency": currency,
            "seller_name": draft.seller_name,
            "buyer_name": draft.buyer_name,
            "buyer_email": draft.buyer_email,
            "tax_rate": draft.tax_rate,
            "subtotal": checked(totals.subtotal, "the subtotal"),
            "tax": checked(totals.tax, "the tax"),
            "total": checked(totals.total, "the total"),
            "amount_paid": Decimal(0),
            "custom_fields": {},
            "issued_at": None,
            "due_date": None,
            "closed_at": None,
            "voided_at": None,
        }
        return invoice, lines, charges

    async def _write(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Insert rows (all with the same keys, in the same order) in batches.

        PostgreSQL runs an executemany as one statement per row, and that per-statement work is
        most of its time here: there, each batch is one ``INSERT ... SELECT FROM unnest(...)``
        of one array per column. Row-level security, triggers and foreign keys apply as to any
        insert."""
        if not rows:
            return
        connection = await self.session.connection()
        dialect = connection.dialect
        if dialect.name != "postgresql":
            for start in range(0, len(rows), BATCH):
                await self.session.execute(insert(table), rows[start : start + BATCH])
            return
        names = list(rows[0])
        types = [table.c[name].type for name in names]
        # The parameters are sent as they are: each value made by its column's type below.
        arrays = func.unnest(
            *(cast(bindparam(n), ARRAY(t)) for n, t in zip(names, types, strict=True))
        )
        source = arrays.table_valued(*names).render_derived()
        statement = insert(table).from_select(names, select(*(source.c[n] for n in names)))
        processors = [t.dialect_impl(dialect).bind_processor(dialect) for t in types]
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            params: dict[str, list[Any]] = {}
            for name, process in zip(names, processors, strict=True):
                values = [row[name] for row in batch]
                if process is not None:
                    values = [None if v is None else process(v) for v in values]
                params[name] = values
            await self.session.execute(statement, params)

    @staticmethod
    def _line_quantity(parts: list[Charge]) -> Decimal:
        """Usage: the sum of the records. Recurring: the units of each subscription once."""
        if parts[0].subscription_id is None:
            return sum((c.quantity for c in parts), Decimal(0))
        units: dict[uuid.UUID | None, Decimal] = {}
        for c in parts:
            units[c.subscription_id] = c.quantity
        return sum(units.values(), Decimal(0))

    def _audit(self, request: RunRequest, drafts: Iterable[_Draft], result: RunResult) -> None:
        made: dict[uuid.UUID, int] = defaultdict(int)
        for draft in drafts:
            made[draft.reseller_id] += 1
        skipped: dict[uuid.UUID, int] = defaultdict(int)
        failed: dict[uuid.UUID, int] = defaultdict(int)
        for skip in result.skipped:
            skipped[skip.reseller_id] += 1
            if skip.reason != EXISTS:
                failed[skip.reseller_id] += 1
        for reseller_id in sorted(set(made) | set(skipped)):
            record(
                self.session,
                self.actor,
                "invoices.generated",
                "Reseller",
                reseller_id,
                reseller_id,
                kind=str(request.kind),
                period_start=request.period_start.isoformat(),
                period_end=request.period_end.isoformat(),
                created=made[reseller_id],
                skipped=skipped[reseller_id],
                failed=failed.get(reseller_id),  # of the skipped: could not be made
            )
