"""The billing run (billing.generation): recurring proration per calendar month, rounding to the
currency, wholesale at cost, idempotency, usage in the customer's local day, missing rates and
amounts too large to store (that buyer skipped, the others billed), the audit entry and tenant
isolation. Services are called directly, in one transaction per run."""

from __future__ import annotations

import calendar
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from billing.catalog import Catalog, NewPrice
from billing.generation import BillingRun, RunRequest, RunResult, recurring_charges
from billing.models import (
    ExchangeRate,
    Invoice,
    InvoiceCharge,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    PriceSource,
    ProductKind,
    UsageRecord,
)
from billing.subscriptions import NewSubscription, NewUsage, create_subscription, record_usage
from core.errors import DomainError
from core.ids import new_id
from db.database import Database
from db.scope import TenantScope
from tenants import services
from tenants.audit import Actor, AuditEvent
from tests.billing.conftest import Shop
from tests.factories import World

NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))
SYSTEM = TenantScope.system()


# Helpers ------------------------------------------------------------------------------------------


async def run(
    db: Database,
    scope: TenantScope,
    period: tuple[date, date] = NOVEMBER,
    kind: InvoiceKind = InvoiceKind.RETAIL,
    customer_ids: list[uuid.UUID] | None = None,
) -> RunResult:
    async with db.write(scope) as session:
        return await BillingRun(session, scope, Actor.system(), "Platform").run(
            RunRequest(period[0], period[1], kind=kind, customer_ids=customer_ids)
        )


async def subscribe(
    db: Database,
    reseller_id: uuid.UUID,
    customer_id: uuid.UUID,
    product_id: object,
    quantity: int = 1,
    start: date = date(2026, 1, 1),
    end: date | None = None,
) -> uuid.UUID:
    scope = TenantScope.tenant(reseller_id)
    async with db.write(scope) as session:
        row = await create_subscription(
            session,
            scope,
            NewSubscription(customer_id, product_id, quantity, start, end),  # type: ignore[arg-type]
        )
    return row.id


async def new_customer(
    db: Database,
    reseller_id: uuid.UUID,
    currency: str,
    timezone: str | None = None,
    tax_rate: str = "0",
) -> uuid.UUID:
    scope = TenantScope.tenant(reseller_id)
    async with db.write(scope) as session:
        customer = await services.create_customer(
            session,
            scope,
            services.NewCustomer(
                name=f"{currency} customer",
                email=f"{currency.lower()}-{new_id().hex[:8]}@example.com",
                currency=currency,
                timezone=timezone,
                tax_rate=Decimal(tax_rate),
            ),
        )
    return customer.id


async def invoices(db: Database, kind: InvoiceKind | None = None) -> list[Invoice]:
    async with db.read(SYSTEM) as session:
        statement = select(Invoice).order_by(Invoice.id)
        if kind is not None:
            statement = statement.where(Invoice.kind == kind)
        return list(await session.scalars(statement))


async def invoice_of(
    db: Database, customer_id: uuid.UUID, vendor_id: object, kind: InvoiceKind = InvoiceKind.RETAIL
) -> Invoice:
    found = [
        i
        for i in await invoices(db, kind)
        if i.customer_id == customer_id and i.vendor_id == vendor_id
    ]
    assert len(found) == 1, found
    return found[0]


async def invoice(db: Database, invoice_id: uuid.UUID) -> Invoice:
    [found] = [i for i in await invoices(db) if i.id == invoice_id]
    return found


async def lines_of(db: Database, invoice_id: uuid.UUID) -> list[InvoiceLine]:
    async with db.read(SYSTEM) as session:
        statement = select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id)
        return list(await session.scalars(statement.order_by(InvoiceLine.position)))


async def charges_of(db: Database, line_id: uuid.UUID) -> list[InvoiceCharge]:
    async with db.read(SYSTEM) as session:
        statement = select(InvoiceCharge).where(InvoiceCharge.line_id == line_id)
        return list(await session.scalars(statement.order_by(InvoiceCharge.start_date)))


async def count(db: Database, model: type) -> int:
    async with db.read(SYSTEM) as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def generated_events(db: Database) -> list[AuditEvent]:
    async with db.read(SYSTEM) as session:
        statement = select(AuditEvent).where(AuditEvent.action == "invoices.generated")
        return list(await session.scalars(statement.order_by(AuditEvent.id)))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# Recurring charges and proration ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "days", "amount"),
    [
        pytest.param(date(2026, 1, 1), None, 30, Decimal("950.00"), id="full-month"),
        pytest.param(date(2026, 11, 16), None, 15, Decimal("475.00"), id="starts-16th"),
        pytest.param(date(2026, 1, 1), date(2026, 11, 10), 10, Decimal("316.67"), id="ends-10th"),
        pytest.param(date(2026, 11, 5), date(2026, 11, 24), 20, Decimal("633.33"), id="inside"),
    ],
)
async def test_a_recurring_line_is_prorated_by_the_days_subscribed(
    db: Database, world: World, shop: Shop, start: date, end: date | None, days: int, amount
):
    # given 10 accounts of support at EUR 95.00, subscribed for part of November (30 days)
    customer = world.a.customers[0]
    sub = await subscribe(db, world.a.id, customer, shop.products["support"], 10, start, end)
    # when
    result = await run(db, TenantScope.tenant(world.a.id))
    # then one invoice, one line of 10 units, 95.00 x 10 x days/30 rounded half up
    assert len(result.created) == 1
    invoice = await invoice_of(db, customer, shop.vendors["aws"])
    [line] = await lines_of(db, invoice.id)
    assert (line.quantity, line.unit_price, line.amount) == (Decimal(10), Decimal(95), amount)
    assert line.price_source is PriceSource.MSRP
    assert line.service_start == max(start, NOVEMBER[0])
    assert line.service_end == min(end or NOVEMBER[1], NOVEMBER[1])
    [charge] = await charges_of(db, line.id)
    assert (charge.subscription_id, charge.days, charge.period_days) == (sub, days, 30)
    assert charge.amount == (Decimal(950) * days / 30).quantize(Decimal("1e-6"))
    # the customer pays 19% tax on the subtotal
    assert invoice.subtotal == amount
    assert invoice.tax == (amount * Decimal("0.19")).quantize(Decimal("0.01"))
    assert invoice.total == invoice.subtotal + invoice.tax


async def test_a_full_month_costs_price_times_quantity_and_the_draft_is_complete(
    db: Database, world: World, shop: Shop
):
    # given 3 seats of M365 (EUR MSRP 20.60) since January
    customer = world.a.customers[0]
    await subscribe(db, world.a.id, customer, shop.products["m365"], 3)
    # when
    await run(db, TenantScope.tenant(world.a.id))
    # then
    invoice = await invoice_of(db, customer, shop.vendors["microsoft"])
    assert invoice.status is InvoiceStatus.DRAFT
    assert invoice.number is None
    assert invoice.document_id.startswith("D") and len(invoice.document_id) == 27
    assert (invoice.period_start, invoice.period_end) == NOVEMBER
    assert (invoice.currency, invoice.kind) == ("EUR", InvoiceKind.RETAIL)
    assert (invoice.seller_name, invoice.buyer_name) == ("Alpha Reseller", "Alpha Customer 1")
    assert invoice.buyer_email == "c1@alpha-customers.example"
    assert (invoice.subtotal, invoice.tax, invoice.total) == (
        Decimal("61.80"),
        Decimal("11.74"),  # 19% of 61.80 = 11.742
        Decimal("73.54"),
    )
    assert invoice.amount_paid == 0
    [line] = await lines_of(db, invoice.id)
    assert line.kind is ProductKind.RECURRING
    assert line.description == "Ms M365 Bp (seat), 2026-11-01 to 2026-11-30"
    assert (line.quantity, line.amount) == (Decimal(3), Decimal("61.80"))


async def test_a_period_over_two_months_is_prorated_per_calendar_month(
    db: Database, world: World, shop: Shop
):
    # given 2 support accounts (EUR 95.00) and a period from 16 November to 15 December
    customer = world.a.customers[0]
    sub = await subscribe(db, world.a.id, customer, shop.products["support"], 2)
    period = (date(2026, 11, 16), date(2026, 12, 15))
    # when
    await run(db, TenantScope.tenant(world.a.id), period)
    # then 15/30 of November plus 15/31 of December, rounded once on the line
    invoice = await invoice_of(db, customer, shop.vendors["aws"])
    [line] = await lines_of(db, invoice.id)
    exact = Decimal(190) * 15 / 30 + Decimal(190) * 15 / 31  # 95 + 91.935483...
    assert line.amount == Decimal("186.94") == exact.quantize(Decimal("0.01"))
    assert line.quantity == 2  # the units, not units x months
    assert (line.service_start, line.service_end) == period
    november, december = await charges_of(db, line.id)
    assert (november.start_date, november.end_date) == (date(2026, 11, 16), date(2026, 11, 30))
    assert (november.days, november.period_days, november.amount) == (15, 30, Decimal(95))
    assert (december.start_date, december.end_date) == (date(2026, 12, 1), date(2026, 12, 15))
    assert (december.days, december.period_days) == (15, 31)
    assert december.amount == Decimal("91.935484")
    assert {november.subscription_id, december.subscription_id} == {sub}


def test_recurring_charges_split_a_period_at_month_boundaries():
    # given a subscription from 10 January to 5 March, billed over the whole first quarter
    # when
    charges = recurring_charges(
        date(2026, 1, 1), date(2026, 3, 31), date(2026, 1, 10), date(2026, 3, 5), 4, Decimal(31)
    )
    # then
    assert [(c.start, c.end, c.days, c.period_days) for c in charges] == [
        (date(2026, 1, 10), date(2026, 1, 31), 22, 31),
        (date(2026, 2, 1), date(2026, 2, 28), 28, 28),
        (date(2026, 3, 1), date(2026, 3, 5), 5, 31),
    ]
    assert [c.amount for c in charges] == [Decimal(88), Decimal(124), Decimal(20)]


def test_no_charge_outside_the_subscription():
    # given a subscription that ended before the period, and one that starts after it
    ended = recurring_charges(*NOVEMBER, date(2026, 1, 1), date(2026, 10, 31), 1, Decimal(10))
    later = recurring_charges(*NOVEMBER, date(2026, 12, 1), None, 1, Decimal(10))
    # then
    assert ended == later == []


def months_touched(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month + 1


def last_day(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


days_2024_2028 = st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31))


@given(
    period_start=days_2024_2028,
    length=st.integers(min_value=0, max_value=365),
    sub_start=days_2024_2028,
    sub_length=st.none() | st.integers(min_value=0, max_value=800),
    quantity=st.integers(min_value=1, max_value=1_000_000),
    price=st.decimals(min_value=0, max_value=Decimal(10) ** 7, places=6),
)
def test_segments_never_exceed_the_months_touched(
    period_start, length, sub_start, sub_length, quantity, price
):
    # given any period of at most 366 days and any subscription
    period_end = period_start + timedelta(days=length)
    sub_end = None if sub_length is None else sub_start + timedelta(days=sub_length)
    # when
    charges = recurring_charges(period_start, period_end, sub_start, sub_end, quantity, price)
    # then the segments lie in the period and in the subscription, one per month at most
    total = sum((c.amount for c in charges), Decimal(0))
    ceiling = price * quantity * months_touched(period_start, period_end)
    assert Decimal(0) <= total <= ceiling
    assert len(charges) <= months_touched(period_start, period_end)
    for c in charges:
        assert period_start <= c.start <= c.end <= period_end
        assert sub_start <= c.start and (sub_end is None or c.end <= sub_end)
        assert c.start.month == c.end.month and 1 <= c.days <= c.period_days  # type: ignore[operator]
        assert c.quantity == quantity
    # and the whole months of an always-on subscription cost exactly price x quantity each
    month_start, month_end = period_start.replace(day=1), last_day(period_end)
    whole = recurring_charges(month_start, month_end, date(2000, 1, 1), None, quantity, price)
    assert sum((c.amount for c in whole), Decimal(0)) == price * quantity * months_touched(
        month_start, month_end
    )


@pytest.mark.parametrize(
    ("currency", "msrp", "amount", "tax", "total"),
    [
        # half up to the yen: 332.5 -> 333 (half even would say 332); 10% tax of 333 = 33.3
        pytest.param("JPY", "332.5", "333", "33", "366", id="JPY"),
        # half up to the fils: 1.0005 -> 1.001 (half even would say 1.000); tax 0.1001 -> 0.100
        pytest.param("KWD", "1.0005", "1.001", "0.100", "1.101", id="KWD"),
    ],
)
async def test_line_amounts_are_rounded_half_up_to_the_currency(
    db: Database, world: World, shop: Shop, currency, msrp, amount, tax, total
):
    # given a catalog price in the customer's currency and one seat for the whole month
    async with db.write(SYSTEM) as session:
        await Catalog(session).set_product_prices(
            shop.products["m365"], [NewPrice(currency, Decimal(msrp), Decimal(1))]
        )
    customer = await new_customer(db, world.a.id, currency, tax_rate="10")
    await subscribe(db, world.a.id, customer, shop.products["m365"], 1)
    # when
    await run(db, TenantScope.tenant(world.a.id))
    # then
    invoice = await invoice_of(db, customer, shop.vendors["microsoft"])
    [line] = await lines_of(db, invoice.id)
    assert invoice.currency == currency
    assert line.unit_price == Decimal(msrp)
    assert line.amount == Decimal(amount)
    assert (invoice.subtotal, invoice.tax, invoice.total) == (
        Decimal(amount),
        Decimal(tax),
        Decimal(total),
    )


# Wholesale -----------------------------------------------------------------------------------------


async def test_wholesale_bills_each_reseller_per_vendor_at_cost_for_all_its_customers(
    db: Database, world: World, shop: Shop
):
    # given subscriptions of two of A's customers and one of B's
    a0, a1, b0 = world.a.customers[0], world.a.customers[1], world.b.customers[0]
    await subscribe(db, world.a.id, a0, shop.products["m365"], 3)
    await subscribe(db, world.a.id, a0, shop.products["support"], 1)
    await subscribe(db, world.a.id, a1, shop.products["m365"], 2)
    await subscribe(db, world.a.id, a1, shop.products["teams"], 4)
    await subscribe(db, world.b.id, b0, shop.products["m365"], 5)
    # when the platform runs the wholesale billing
    result = await run(db, SYSTEM, kind=InvoiceKind.WHOLESALE)
    # then one invoice per reseller and vendor, in the reseller's currency, untaxed
    made = await invoices(db, InvoiceKind.WHOLESALE)
    assert sorted(result.created) == [i.id for i in made]
    assert sorted((i.reseller_id, i.vendor_id) for i in made) == sorted(
        [
            (world.a.id, shop.vendors["microsoft"]),
            (world.a.id, shop.vendors["aws"]),
            (world.b.id, shop.vendors["microsoft"]),
        ]
    )
    for invoice in made:
        assert invoice.customer_id is None
        assert (invoice.currency, invoice.tax_rate, invoice.tax) == ("EUR", 0, 0)
        assert invoice.seller_name == "Platform"
        assert invoice.buyer_name == (
            "Alpha Reseller" if invoice.reseller_id == world.a.id else "Bravo Reseller"
        )
    by_key = {(i.reseller_id, i.vendor_id): i for i in made}
    # A at Microsoft: M365 for both customers (3 + 2) at the EUR cost 16.50, and Teams at its USD
    # cost 3.20 converted at the rate of 30 November (1 / 1.08, the newer of the two)
    microsoft = by_key[(world.a.id, shop.vendors["microsoft"])]
    m365, teams = sorted(await lines_of(db, microsoft.id), key=lambda line: line.unit_price)[::-1]
    assert (m365.quantity, m365.unit_price, m365.amount) == (5, Decimal("16.50"), Decimal("82.50"))
    assert m365.price_source is PriceSource.COST
    assert (teams.quantity, teams.unit_price) == (4, Decimal("2.962963"))
    assert (teams.amount, teams.price_source) == (Decimal("11.85"), PriceSource.CONVERTED_COST)
    assert microsoft.total == Decimal("94.35")
    assert len(await charges_of(db, m365.id)) == 2  # one per subscription behind the line
    aws = by_key[(world.a.id, shop.vendors["aws"])]
    assert aws.total == Decimal("75.00")
    assert by_key[(world.b.id, shop.vendors["microsoft"])].total == Decimal("82.50")


async def test_retail_and_wholesale_runs_coexist_and_each_is_idempotent(
    db: Database, world: World, shop: Shop
):
    # given
    for customer in world.a.customers[:2]:
        await subscribe(db, world.a.id, customer, shop.products["m365"], 2)
    # when both runs are made, then both again
    retail = await run(db, TenantScope.tenant(world.a.id))
    wholesale = await run(db, SYSTEM, kind=InvoiceKind.WHOLESALE)
    retail_again = await run(db, TenantScope.tenant(world.a.id))
    wholesale_again = await run(db, SYSTEM, kind=InvoiceKind.WHOLESALE)
    # then
    assert (len(retail.created), len(wholesale.created)) == (2, 1)
    assert retail_again.created == wholesale_again.created == []
    assert {s.invoice_id for s in retail_again.skipped} == set(retail.created)
    assert [(s.customer_id, s.invoice_id) for s in wholesale_again.skipped] == [
        (None, wholesale.created[0])
    ]
    assert await count(db, Invoice) == 3


# Idempotency and the customers of a run -----------------------------------------------------------


async def test_a_second_run_creates_nothing_and_reports_what_exists(
    db: Database, world: World, shop: Shop
):
    # given every customer of A subscribed to a Microsoft and an AWS product, billed once
    for customer in world.a.customers:
        await subscribe(db, world.a.id, customer, shop.products["m365"])
        await subscribe(db, world.a.id, customer, shop.products["support"])
    scope = TenantScope.tenant(world.a.id)
    first = await run(db, scope)
    before = {(i.customer_id, i.vendor_id): i.id for i in await invoices(db)}
    counts = (
        await count(db, Invoice),
        await count(db, InvoiceLine),
        await count(db, InvoiceCharge),
    )
    # when
    second = await run(db, scope)
    # then
    assert len(first.created) == 6 and first.skipped == []
    assert second.created == []
    assert {(s.customer_id, s.vendor_id): s.invoice_id for s in second.skipped} == before
    assert {(s.reseller_id, s.reason) for s in second.skipped} == {(world.a.id, "EXISTS")}
    assert (
        (
            await count(db, Invoice),
            await count(db, InvoiceLine),
            await count(db, InvoiceCharge),
        )
        == counts
        == (6, 6, 6)
    )


async def test_customer_ids_restrict_the_run(db: Database, world: World, shop: Shop):
    # given
    for customer in world.a.customers:
        await subscribe(db, world.a.id, customer, shop.products["m365"])
        await subscribe(db, world.a.id, customer, shop.products["support"])
    chosen = world.a.customers[1]
    scope = TenantScope.tenant(world.a.id)
    # when
    only = await run(db, scope, customer_ids=[chosen])
    rest = await run(db, scope)
    # then
    assert len(only.created) == 2
    assert {(await invoice(db, id_)).customer_id for id_ in only.created} == {chosen}
    assert len(rest.created) == 4
    assert {s.customer_id for s in rest.skipped} == {chosen}


@pytest.mark.parametrize("who", ["unknown", "other-tenant"])
async def test_an_unknown_customer_fails_the_run_and_nothing_is_made(
    db: Database, world: World, shop: Shop, who: str
):
    # given
    for customer in world.a.customers + world.b.customers[:1]:
        tenant = world.a.id if customer in world.a.customers else world.b.id
        await subscribe(db, tenant, customer, shop.products["m365"])
    stranger = new_id() if who == "unknown" else world.b.customers[0]
    # when
    with pytest.raises(DomainError) as failure:
        await run(db, TenantScope.tenant(world.a.id), customer_ids=[world.a.customers[0], stranger])
    # then
    assert [(p.code, p.field) for p in failure.value.problems] == [("NOT_FOUND", "customerIds")]
    assert await count(db, Invoice) == 0
    assert await generated_events(db) == []


async def test_a_period_that_ends_before_it_starts_is_refused(db: Database, world: World):
    with pytest.raises(DomainError) as failure:
        await run(db, TenantScope.tenant(world.a.id), (date(2026, 11, 2), date(2026, 11, 1)))
    assert failure.value.problems[0].field == "periodEnd"


# Usage -----------------------------------------------------------------------------------------------


async def usage(db: Database, reseller_id: uuid.UUID, *records: NewUsage) -> None:
    scope = TenantScope.tenant(reseller_id)
    async with db.write(scope) as session:
        await record_usage(session, scope, list(records))


async def test_usage_is_billed_by_the_customers_local_day(db: Database, world: World, shop: Shop):
    # given one customer in Auckland (UTC+13 in November) and one in UTC, billed in USD
    auckland = await new_customer(db, world.a.id, "USD", "Pacific/Auckland")
    utc = await new_customer(db, world.a.id, "USD", "UTC")
    azure = shop.products["azure"]
    moments = {
        "2026-10-31T10:30:00+00:00": Decimal(1),  # Auckland 31 Oct 23:30 | UTC 31 Oct
        "2026-10-31T11:30:00+00:00": Decimal(2),  # Auckland 1 Nov 00:30  | UTC 31 Oct
        "2026-11-30T10:30:00+00:00": Decimal(4),  # Auckland 30 Nov 23:30 | UTC 30 Nov
        "2026-11-30T11:30:00+00:00": Decimal(8),  # Auckland 1 Dec 00:30  | UTC 30 Nov
        "2026-09-15T12:00:00+00:00": Decimal(16),  # long before
        "2026-12-20T12:00:00+00:00": Decimal(32),  # long after
    }
    for customer in (auckland, utc):
        await usage(
            db,
            world.a.id,
            *(NewUsage(customer, azure, q, at(moment)) for moment, q in moments.items()),  # type: ignore[arg-type]
        )
    # when
    await run(db, TenantScope.tenant(world.a.id))
    # then Auckland pays 2 + 4, UTC 4 + 8, at the USD MSRP of 1.00
    for customer, quantity, days in (
        (auckland, Decimal(6), [date(2026, 11, 1), date(2026, 11, 30)]),
        (utc, Decimal(12), [date(2026, 11, 30), date(2026, 11, 30)]),
    ):
        bill = await invoice_of(db, customer, shop.vendors["microsoft"])
        [line] = await lines_of(db, bill.id)
        assert (line.kind, line.quantity, line.amount) == (ProductKind.USAGE, quantity, quantity)
        assert line.price_source is PriceSource.MSRP
        charges = await charges_of(db, line.id)
        assert [c.start_date for c in charges] == days
        assert all(c.usage_record_id is not None and c.days is None for c in charges)
        assert (line.service_start, line.service_end) == (days[0], days[-1])


async def test_a_duplicate_reference_is_billed_once(db: Database, world: World, shop: Shop):
    # given the same reference sent twice, in two batches
    customer = await new_customer(db, world.a.id, "USD")
    s3 = shop.products["s3"]
    first = NewUsage(customer, s3, Decimal(100), at("2026-11-10T10:00:00+00:00"), "r-1")  # type: ignore[arg-type]
    again = NewUsage(customer, s3, Decimal(999), at("2026-11-11T10:00:00+00:00"), "r-1")  # type: ignore[arg-type]
    await usage(db, world.a.id, first)
    await usage(db, world.a.id, again)
    # when
    await run(db, TenantScope.tenant(world.a.id))
    # then 100 GB at 0.023
    bill = await invoice_of(db, customer, shop.vendors["aws"])
    [line] = await lines_of(db, bill.id)
    assert (line.quantity, line.amount) == (Decimal(100), Decimal("2.30"))


# Exchange rates --------------------------------------------------------------------------------------


async def test_a_customer_whose_prices_need_a_missing_rate_is_skipped_and_the_others_are_billed(
    db: Database, world: World, shop: Shop
):
    # given a CHF customer on a USD-only product (no USD/CHF rate), and a customer who can be
    # billed at both vendors
    chf = await new_customer(db, world.a.id, "CHF")
    await subscribe(db, world.a.id, chf, shop.products["teams"])
    healthy = world.a.customers[0]
    await subscribe(db, world.a.id, healthy, shop.products["m365"])
    await subscribe(db, world.a.id, healthy, shop.products["support"])
    # when
    result = await run(db, TenantScope.tenant(world.a.id))
    # then the healthy customer is invoiced, and the CHF one is skipped, named, with the reason
    made = await invoices(db)
    assert sorted(result.created) == [i.id for i in made]
    assert {(i.customer_id, i.vendor_id) for i in made} == {
        (healthy, shop.vendors["microsoft"]),
        (healthy, shop.vendors["aws"]),
    }
    [skipped] = result.skipped
    assert (skipped.customer_id, skipped.vendor_id, skipped.invoice_id) == (
        chf,
        shop.vendors["microsoft"],
        None,
    )
    assert skipped.reason == "RATE_UNAVAILABLE"
    assert skipped.message == (
        'customer "CHF customer" (MS-TEAMS-ESS):'
        " no exchange rate from USD to CHF on or before 2026-11-30"
    )
    assert await count(db, InvoiceLine) == await count(db, InvoiceCharge) == 2
    [event] = await generated_events(db)
    assert (event.details["created"], event.details["skipped"], event.details["failed"]) == (
        2,
        1,
        1,
    )


async def test_usage_of_one_customer_too_large_to_store_skips_only_its_invoice(
    db: Database, world: World, shop: Shop
):
    # given 300 usage records of the largest quantity a record may have (their sum is 3 x 10^15,
    # beyond NUMERIC(20, 6)), for a customer who also has an AWS subscription
    huge = await new_customer(db, world.a.id, "USD")
    moment = at("2026-11-10T12:00:00+00:00")
    azure = shop.products["azure"]
    most = Decimal("9999999999999")
    await usage(db, world.a.id, *(NewUsage(huge, azure, most, moment) for _ in range(300)))  # type: ignore[arg-type]
    await subscribe(db, world.a.id, huge, shop.products["support"])
    healthy = world.a.customers[0]
    await subscribe(db, world.a.id, healthy, shop.products["m365"])
    # when
    result = await run(db, TenantScope.tenant(world.a.id))
    # then only the invoice with that usage is skipped, and nothing of it is written
    made = await invoices(db)
    assert {(i.customer_id, i.vendor_id) for i in made} == {
        (healthy, shop.vendors["microsoft"]),
        (huge, shop.vendors["aws"]),
    }
    assert sorted(result.created) == [i.id for i in made]
    [skipped] = result.skipped
    assert (skipped.customer_id, skipped.vendor_id, skipped.reason) == (
        huge,
        shop.vendors["microsoft"],
        "AMOUNT_OUT_OF_RANGE",
    )
    assert skipped.message.startswith(
        'customer "USD customer": the quantity of line 1 (MS-AZURE-CU) would be'
        " 2,999,999,999,999,700, beyond the largest amount an invoice can hold"
    )
    assert await count(db, InvoiceLine) == await count(db, InvoiceCharge) == 2


async def test_one_resellers_usage_too_large_to_store_does_not_stop_the_wholesale_run(
    db: Database, world: World, shop: Shop
):
    # given B's customer used more than an invoice can hold at Microsoft, and has AWS support;
    # A's customers are ordinary
    moment = at("2026-11-10T12:00:00+00:00")
    most = Decimal("9999999999999")
    b0 = world.b.customers[0]
    azure = shop.products["azure"]
    await usage(db, world.b.id, *(NewUsage(b0, azure, most, moment) for _ in range(300)))  # type: ignore[arg-type]
    await subscribe(db, world.b.id, b0, shop.products["support"])
    await subscribe(db, world.b.id, world.b.customers[1], shop.products["m365"])
    await subscribe(db, world.a.id, world.a.customers[0], shop.products["m365"])
    await subscribe(db, world.a.id, world.a.customers[1], shop.products["support"])
    # when the platform bills the resellers
    result = await run(db, SYSTEM, kind=InvoiceKind.WHOLESALE)
    # then every reseller invoice is made but B's at Microsoft, which is named and written nowhere
    made = await invoices(db, InvoiceKind.WHOLESALE)
    assert sorted(result.created) == [i.id for i in made]
    assert {(i.reseller_id, i.vendor_id) for i in made} == {
        (world.a.id, shop.vendors["microsoft"]),
        (world.a.id, shop.vendors["aws"]),
        (world.b.id, shop.vendors["aws"]),
    }
    [skipped] = result.skipped
    assert (skipped.reseller_id, skipped.customer_id, skipped.vendor_id) == (
        world.b.id,
        None,
        shop.vendors["microsoft"],
    )
    assert skipped.reason == "AMOUNT_OUT_OF_RANGE"
    assert skipped.message.startswith('reseller "Bravo Reseller": the quantity of line ')
    assert skipped.buyer_name == "Bravo Reseller"
    assert await count(db, InvoiceLine) == await count(db, InvoiceCharge) == 3
    # and, once the usage is corrected, a second run makes the missing invoice only
    async with db.write(SYSTEM) as session:
        await session.execute(
            UsageRecord.__table__.update().values(quantity=Decimal(1))  # type: ignore[attr-defined]
        )
    again = await run(db, SYSTEM, kind=InvoiceKind.WHOLESALE)
    assert len(again.created) == 1 and {s.reason for s in again.skipped} == {"EXISTS"}


async def test_a_total_too_large_to_store_skips_the_invoice(db: Database, world: World, shop: Shop):
    # given a line of 90,000,000,000,000 SEK that fits, and 19% tax that makes the total not fit
    async with db.write(SYSTEM) as session:
        await Catalog(session).set_product_prices(
            shop.products["m365"], [NewPrice("SEK", Decimal(90_000_000), Decimal(1))]
        )
    sek = await new_customer(db, world.a.id, "SEK", tax_rate="19")
    await subscribe(db, world.a.id, sek, shop.products["m365"], 1_000_000)
    await subscribe(db, world.a.id, world.a.customers[0], shop.products["m365"])
    # when
    result = await run(db, TenantScope.tenant(world.a.id))
    # then
    assert len(result.created) == 1
    [skipped] = result.skipped
    assert (skipped.customer_id, skipped.reason) == (sek, "AMOUNT_OUT_OF_RANGE")
    assert skipped.message.startswith(
        'customer "SEK customer": the total would be 107,100,000,000,000, beyond'
    )
    assert {i.customer_id for i in await invoices(db)} == {world.a.customers[0]}


async def test_a_price_converted_beyond_what_can_be_stored_skips_the_invoice(
    db: Database, world: World, shop: Shop
):
    # given a rate that makes the USD 22.00 of M365 more than 10^14 VND
    async with db.write(SYSTEM) as session:
        session.add(
            ExchangeRate(
                base="USD", quote="VND", rate=Decimal(10) ** 13, rate_date=date(2026, 1, 1)
            )
        )
    vnd = await new_customer(db, world.a.id, "VND")
    await subscribe(db, world.a.id, vnd, shop.products["teams"])  # 4.00 x 10^13: fits
    await subscribe(db, world.a.id, vnd, shop.products["m365"])
    await subscribe(db, world.a.id, world.a.customers[0], shop.products["m365"])
    # when
    result = await run(db, TenantScope.tenant(world.a.id))
    # then
    assert {(await invoice(db, i)).customer_id for i in result.created} == {world.a.customers[0]}
    [skipped] = result.skipped
    assert (skipped.customer_id, skipped.reason) == (vnd, "AMOUNT_OUT_OF_RANGE")
    assert skipped.message.startswith(
        'customer "VND customer" (MS-M365-BP): the MSRP in VND would be 220,000,000,000,000,'
    )
    assert await count(db, InvoiceLine) == 1


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        pytest.param(date(1, 1, 1), date(1, 1, 31), "periodStart", id="year-1"),
        pytest.param(date(1899, 12, 1), date(1899, 12, 31), "periodStart", id="1899"),
        pytest.param(date(9999, 12, 1), date(9999, 12, 31), "periodStart", id="year-9999"),
        pytest.param(date(9998, 12, 1), date(9999, 1, 31), "periodEnd", id="into-9999"),
        pytest.param(date(1, 1, 1), date(9999, 12, 31), "periodStart", id="everything"),
        pytest.param(date(2026, 1, 1), date(2027, 12, 31), "periodEnd", id="two-years"),
    ],
)
async def test_a_period_at_the_edges_of_the_calendar_is_refused_naming_the_field(
    db: Database, world: World, shop: Shop, start: date, end: date, field: str
):
    # given a customer who would be billed
    await subscribe(
        db, world.a.id, world.a.customers[0], shop.products["m365"], start=date(1, 1, 1)
    )
    # when
    with pytest.raises(DomainError) as failure:
        await run(db, TenantScope.tenant(world.a.id), (start, end))
    # then
    assert [(p.code, p.field) for p in failure.value.problems] == [("BAD_USER_INPUT", field)]
    assert await count(db, Invoice) == 0


async def test_the_last_period_allowed_is_billed(db: Database, world: World, shop: Shop):
    # given
    await subscribe(
        db, world.a.id, world.a.customers[0], shop.products["m365"], start=date(1, 1, 1)
    )
    # when
    result = await run(db, TenantScope.tenant(world.a.id), (date(9998, 12, 1), date(9998, 12, 31)))
    # then
    assert len(result.created) == 1


async def test_usage_outside_the_period_needs_no_rate(db: Database, world: World, shop: Shop):
    # given a CHF customer (no USD/CHF rate) whose only usage fell on 31 October, local time
    chf = await new_customer(db, world.a.id, "CHF")
    await usage(
        db,
        world.a.id,
        NewUsage(chf, shop.products["s3"], Decimal(5), at("2026-10-31T20:00:00+00:00")),  # type: ignore[arg-type]
    )
    await subscribe(db, world.a.id, world.a.customers[0], shop.products["m365"])
    # when
    result = await run(db, TenantScope.tenant(world.a.id))
    # then nothing of that customer is billed, and the others are
    assert len(result.created) == 1
    assert {i.customer_id for i in await invoices(db)} == {world.a.customers[0]}


async def test_prices_are_converted_at_the_rate_of_the_period_end(
    db: Database, world: World, shop: Shop
):
    # given Teams (USD 4.00 only) for a EUR customer; USD->EUR 0.9 from January, EUR->USD 1.08
    # from October (so 1/1.08 after it)
    customer = world.a.customers[0]
    await subscribe(db, world.a.id, customer, shop.products["teams"], 1)
    scope = TenantScope.tenant(world.a.id)
    # when
    await run(db, scope, (date(2026, 9, 1), date(2026, 9, 30)))
    await run(db, scope)
    # then
    september, november = sorted(await invoices(db), key=lambda i: i.period_start)
    [before] = await lines_of(db, september.id)
    [after] = await lines_of(db, november.id)
    assert (before.unit_price, before.amount) == (Decimal("3.600000"), Decimal("3.60"))
    assert (after.unit_price, after.amount) == (Decimal("3.703704"), Decimal("3.70"))
    assert before.price_source is after.price_source is PriceSource.CONVERTED_MSRP


# Audit -------------------------------------------------------------------------------------------------


async def test_each_run_leaves_one_audit_entry_per_reseller(db: Database, world: World, shop: Shop):
    # given
    await subscribe(db, world.a.id, world.a.customers[0], shop.products["m365"])
    await subscribe(db, world.a.id, world.a.customers[1], shop.products["support"])
    await subscribe(db, world.b.id, world.b.customers[0], shop.products["m365"])
    # when a platform run bills both resellers, twice
    await run(db, SYSTEM)
    await run(db, SYSTEM)
    # then
    events = await generated_events(db)
    assert len(events) == 4
    summary = sorted(
        (e.reseller_id == world.a.id, e.details["created"], e.details["skipped"]) for e in events
    )
    assert summary == [(False, 0, 1), (False, 1, 0), (True, 0, 2), (True, 2, 0)]
    for event in events:
        assert (event.object_type, event.object_id) == ("Reseller", event.reseller_id)
        assert event.actor_kind == "SYSTEM"
        assert event.details["kind"] == "RETAIL"
        assert (event.details["period_start"], event.details["period_end"]) == (
            "2026-11-01",
            "2026-11-30",
        )


class Abandon(Exception):
    pass


async def test_the_audit_entry_is_in_the_runs_transaction(db: Database, world: World, shop: Shop):
    # given
    await subscribe(db, world.a.id, world.a.customers[0], shop.products["m365"])
    scope = TenantScope.tenant(world.a.id)
    # when the transaction of a successful run rolls back
    with pytest.raises(Abandon):
        async with db.write(scope) as session:
            result = await BillingRun(session, scope, Actor.system(), "Platform").run(
                RunRequest(*NOVEMBER)
            )
            assert len(result.created) == 1
            raise Abandon
    # then neither its invoices nor its audit entry remain
    assert await count(db, Invoice) == 0
    assert await generated_events(db) == []


# Tenant isolation ----------------------------------------------------------------------------------


async def test_a_tenant_run_bills_only_its_own_customers(db: Database, world: World, shop: Shop):
    # given customers of both tenants with subscriptions
    for tenant in (world.a, world.b):
        for customer in tenant.customers:
            await subscribe(db, tenant.id, customer, shop.products["m365"])
    # when A runs its billing
    result = await run(db, TenantScope.tenant(world.a.id))
    # then
    made = await invoices(db)
    assert len(result.created) == len(made) == 3
    assert {i.reseller_id for i in made} == {world.a.id}
    assert {i.customer_id for i in made} == set(world.a.customers)
    # and B's own run is not disturbed by A's
    assert len((await run(db, TenantScope.tenant(world.b.id))).created) == 3
