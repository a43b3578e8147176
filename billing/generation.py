"""The billing run: one DRAFT invoice per buyer and vendor with charges in a period.

RETAIL runs bill customers at their effective prices (billing.prices); WHOLESALE runs (platform
admins) bill each reseller at cost for what all its customers used. A run is idempotent: a buyer
and vendor that already have a live (not VOID) invoice for an overlapping period is reported as
skipped, and a unique index stops two concurrent runs from both succeeding.

Built for volume: everything is read in a handful of set-based queries, priced from an in-memory
``PriceBook``, and written with Core ``insert`` executemany in batches; no ORM object per row.
"""

from __future__ import annotations

import calendar
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import money
from billing.models import (
    Invoice,
    InvoiceCharge,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    Product,
    ProductKind,
    Subscription,
    UsageRecord,
)
from billing.prices import PriceBook, UnitPrice
from core.clock import utcnow
from core.currency import quantize
from core.errors import ValidationFailed
from core.ids import new_id
from db.scope import TenantScope
from tenants.audit import Actor, record
from tenants.models import Customer, Reseller

BATCH = 2000
MAX_PERIOD_DAYS = 366
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def document_id(id_: uuid.UUID) -> str:
    """A draft's reference from the moment it is made: 'D' and the id in Crockford base32."""
    n, chars = id_.int, []
    for _ in range(26):
        chars.append(_CROCKFORD[n & 31])
        n >>= 5
    return "D" + "".join(reversed(chars))


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
        month_days = calendar.monthrange(month_start.year, month_start.month)[1]
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


@dataclass(frozen=True, slots=True)
class RunRequest:
    period_start: date
    period_end: date
    kind: InvoiceKind = InvoiceKind.RETAIL
    customer_ids: Sequence[uuid.UUID] | None = None  # RETAIL: only these customers
    reseller_ids: Sequence[uuid.UUID] | None = None  # only these resellers (platform admins)


@dataclass(frozen=True, slots=True)
class Skipped:
    reseller_id: uuid.UUID
    customer_id: uuid.UUID | None
    vendor_id: uuid.UUID
    invoice_id: uuid.UUID  # the live invoice that already covers the period
    reason: str


@dataclass
class RunResult:
    created: list[uuid.UUID] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


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
    lines: dict[uuid.UUID, tuple[UnitPrice, ProductKind, list[Charge]]] = field(
        default_factory=dict
    )

    def add(self, product: Product, price: UnitPrice, charges: list[Charge]) -> None:
        if not charges:
            return
        known = self.lines.get(product.id)
        if known is None:
            self.lines[product.id] = (price, product.kind, list(charges))
        else:
            known[2].extend(charges)


@dataclass(frozen=True, slots=True)
class _Buyer:
    reseller_id: uuid.UUID
    customer_id: uuid.UUID | None
    currency: str
    tax_rate: Decimal
    name: str
    email: str | None
    timezone: str


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
        if pe < ps:
            raise ValidationFailed("periodEnd must not be before periodStart", field="periodEnd")
        if money.days_between(ps, pe) > MAX_PERIOD_DAYS:
            raise ValidationFailed(f"a period is at most {MAX_PERIOD_DAYS} days", field="periodEnd")
        resellers = await self._resellers(request.reseller_ids)
        customers = await self._customers(request.customer_ids, resellers)
        wholesale = request.kind is InvoiceKind.WHOLESALE
        subscriptions = await self._subscriptions(customers, ps, pe)
        usage = await self._usage(customers, ps, pe)
        product_ids = {row.product_id for row in subscriptions} | {row.product_id for row in usage}
        book = await PriceBook.load(self.session, self.scope, product_ids, resellers, pe)

        buyers: dict[uuid.UUID, _Buyer] = {}
        for c in customers.values():
            reseller = resellers[c.reseller_id]
            if wholesale:
                buyers[c.id] = _Buyer(
                    reseller.id,
                    None,
                    reseller.currency,
                    Decimal(0),
                    reseller.name,
                    None,
                    reseller.timezone,
                )
            else:
                buyers[c.id] = _Buyer(
                    reseller.id, c.id, c.currency, c.tax_rate, c.name, c.email, c.timezone
                )

        drafts: dict[tuple[uuid.UUID, uuid.UUID | None, uuid.UUID], _Draft] = {}

        def draft_for(customer_id: uuid.UUID, product: Product) -> _Draft:
            buyer = buyers[customer_id]
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
            return found

        def price_of(customer_id: uuid.UUID, product_id: uuid.UUID) -> UnitPrice:
            buyer = buyers[customer_id]
            if wholesale:
                return book.cost(product_id, buyer.currency)
            return book.retail(buyer.reseller_id, customer_id, product_id, buyer.currency)

        for sub in subscriptions:
            product = book.products[sub.product_id]
            price = price_of(sub.customer_id, product.id)
            charges = recurring_charges(
                ps, pe, sub.start_date, sub.end_date, sub.quantity, price.amount, sub.id
            )
            draft_for(sub.customer_id, product).add(product, price, charges)
        for use in usage:
            product = book.products[use.product_id]
            price = price_of(use.customer_id, product.id)
            day = use.occurred_at.astimezone(ZoneInfo(customers[use.customer_id].timezone)).date()
            if not ps <= day <= pe:
                continue
            charge = Charge(
                day, day, use.quantity, price.amount, price.amount * use.quantity, None, use.id
            )
            draft_for(use.customer_id, product).add(product, price, [charge])

        existing = await self._live_invoices(request.kind, drafts, ps, pe)
        result = RunResult()
        for key in list(drafts):
            found = existing.get(key)
            if found is not None:
                draft = drafts.pop(key)
                result.skipped.append(
                    Skipped(draft.reseller_id, draft.customer_id, draft.vendor_id, found, "EXISTS")
                )
        result.created = await self._insert(request.kind, ps, pe, list(drafts.values()))
        self._audit(request, drafts.values(), result)
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
                "one of the customers was not found", field="customerIds", code="NOT_FOUND"
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
    ) -> list[uuid.UUID]:
        now = utcnow()
        invoices: list[dict[str, Any]] = []
        lines: list[dict[str, Any]] = []
        charges: list[dict[str, Any]] = []
        for draft in drafts:
            invoice_id = new_id()
            amounts: list[Decimal] = []
            for position, (product_id, (price, line_kind, parts)) in enumerate(
                draft.lines.items(), 1
            ):
                line_id = new_id()
                quantity = self._line_quantity(parts)
                line_amount = quantize(sum((c.amount for c in parts), Decimal(0)), draft.currency)
                amounts.append(line_amount)
                lines.append(
                    {
                        "reseller_id": draft.reseller_id,
                        "id": line_id,
                        "created_at": now,
                        "invoice_id": invoice_id,
                        "position": position,
                        "product_id": product_id,
                        "kind": line_kind,
                        "description": "",
                        "quantity": quantity,
                        "unit_price": price.amount,
                        "amount": line_amount,
                        "price_source": price.source,
                        "service_start": min(c.start for c in parts),
                        "service_end": max(c.end for c in parts),
                    }
                )
                for charge in parts:
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
                            "amount": charge.amount.quantize(Decimal("1e-6")),
                        }
                    )
            totals = money.totals(amounts, draft.tax_rate, draft.currency)
            invoices.append(
                {
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
                    "currency": draft.currency,
                    "seller_name": draft.seller_name,
                    "buyer_name": draft.buyer_name,
                    "buyer_email": draft.buyer_email,
                    "tax_rate": draft.tax_rate,
                    "subtotal": totals.subtotal,
                    "tax": totals.tax,
                    "total": totals.total,
                    "amount_paid": Decimal(0),
                    "custom_fields": {},
                    "issued_at": None,
                    "due_date": None,
                    "closed_at": None,
                    "voided_at": None,
                }
            )
        await self._describe(lines)
        for table, rows in (
            (Invoice.__table__, invoices),
            (InvoiceLine.__table__, lines),
            (InvoiceCharge.__table__, charges),
        ):
            for start in range(0, len(rows), BATCH):
                await self.session.execute(insert(table), rows[start : start + BATCH])
        return [row["id"] for row in invoices]

    @staticmethod
    def _line_quantity(parts: list[Charge]) -> Decimal:
        """Usage: the sum of the records. Recurring: the units of each subscription once."""
        if parts[0].subscription_id is None:
            return sum((c.quantity for c in parts), Decimal(0))
        units: dict[uuid.UUID | None, Decimal] = {}
        for c in parts:
            units[c.subscription_id] = c.quantity
        return sum(units.values(), Decimal(0))

    async def _describe(self, lines: list[dict[str, Any]]) -> None:
        ids = {line["product_id"] for line in lines}
        if not ids:
            return
        names = {
            row.id: (row.name, row.unit)
            for row in await self.session.execute(
                select(Product.id, Product.name, Product.unit).where(Product.id.in_(list(ids)))
            )
        }
        for line in lines:
            name, unit = names[line["product_id"]]
            start, end = line["service_start"], line["service_end"]
            line["description"] = f"{name} ({unit}), {start.isoformat()} to {end.isoformat()}"[:300]

    def _audit(self, request: RunRequest, drafts: Iterable[_Draft], result: RunResult) -> None:
        made: dict[uuid.UUID, int] = defaultdict(int)
        for draft in drafts:
            made[draft.reseller_id] += 1
        skipped: dict[uuid.UUID, int] = defaultdict(int)
        for skip in result.skipped:
            skipped[skip.reseller_id] += 1
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
            )
