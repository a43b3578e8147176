"""Which price applies (billing.prices): customer override, then reseller override, then MSRP in
the customer's currency, then MSRP converted at the rate of the date; markups over cost; what an
override may be set for; removing one falls back; the billing run records the source."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing.generation import BillingRun, RunRequest
from billing.models import Invoice, InvoiceLine, PriceOverride, PriceSource
from billing.prices import EffectivePrice, NewOverride, effective_price, remove_price, set_price
from billing.subscriptions import NewSubscription, create_subscription
from core.errors import DomainError, NotFound
from core.ids import new_id
from db.database import Database
from db.scope import TenantScope
from tenants.audit import Actor
from tests.billing.conftest import Shop
from tests.factories import World

NOVEMBER_END = date(2026, 11, 30)


async def price_for(
    db: Database, world: World, product_id: object, customer_id: uuid.UUID, on: date = NOVEMBER_END
) -> EffectivePrice:
    scope = TenantScope.tenant(world.a.id)
    async with db.read(scope) as session:
        return await effective_price(session, scope, product_id, customer_id, on)  # type: ignore[arg-type]


async def set_override(db: Database, scope: TenantScope, **fields: object) -> PriceOverride:
    async with db.write(scope) as session:
        return await set_price(session, scope, NewOverride(**fields))  # type: ignore[arg-type]


async def remove_override(db: Database, scope: TenantScope, **fields: object) -> PriceOverride:
    async with db.write(scope) as session:
        return await remove_price(session, scope, **fields)  # type: ignore[arg-type]


def seen(price: EffectivePrice) -> tuple[Decimal, str, PriceSource]:
    return price.price.amount, price.price.currency, price.price.source


async def test_the_resolution_order_and_the_fall_back_on_removal(
    db: Database, world: World, shop: Shop
):
    # given two EUR customers of A, and M365 (EUR MSRP 20.60, cost 16.50)
    scope = TenantScope.tenant(world.a.id)
    first, second = world.a.customers[:2]
    m365 = shop.products["m365"]
    # then without overrides: the MSRP in the customer's currency
    msrp = await price_for(db, world, m365, first)
    assert seen(msrp) == (Decimal("20.60"), "EUR", PriceSource.MSRP)
    assert (msrp.cost.amount, msrp.cost.source, msrp.margin) == (
        Decimal("16.50"),
        PriceSource.COST,
        Decimal("4.10"),
    )
    # when the reseller sets its own price, it beats the MSRP for all its customers
    await set_override(db, scope, product_id=m365, currency="eur", price=Decimal("19.00"))
    for customer in (first, second):
        reseller_wide = await price_for(db, world, m365, customer)
        assert seen(reseller_wide) == (Decimal(19), "EUR", PriceSource.RESELLER_OVERRIDE)
    # when one customer gets a price of its own, it beats the reseller's for that customer only
    await set_override(
        db, scope, product_id=m365, currency="EUR", customer_id=first, price=Decimal("18.00")
    )
    assert seen(await price_for(db, world, m365, first)) == (
        Decimal(18),
        "EUR",
        PriceSource.CUSTOMER_OVERRIDE,
    )
    assert (await price_for(db, world, m365, second)).price.source is (
        PriceSource.RESELLER_OVERRIDE
    )
    # when the customer's price is removed: the reseller's again; then the MSRP
    await remove_override(db, scope, product_id=m365, currency="EUR", customer_id=first)
    assert seen(await price_for(db, world, m365, first))[2] is PriceSource.RESELLER_OVERRIDE
    await remove_override(db, scope, product_id=m365, currency="EUR")
    assert seen(await price_for(db, world, m365, first)) == seen(msrp)


async def test_msrp_is_converted_at_the_rate_of_the_date(db: Database, world: World, shop: Shop):
    # given Teams, priced in USD only (4.00, cost 3.20): USD->EUR 0.9 from January 2026, and
    # EUR->USD 1.08 from October 2026 (its inverse is the newer rate from then on)
    teams, customer = shop.products["teams"], world.a.customers[0]
    # when
    september = await price_for(db, world, teams, customer, date(2026, 9, 30))
    november = await price_for(db, world, teams, customer, NOVEMBER_END)
    # then
    assert seen(september) == (Decimal("3.600000"), "EUR", PriceSource.CONVERTED_MSRP)
    assert seen(november) == (Decimal("3.703704"), "EUR", PriceSource.CONVERTED_MSRP)
    assert (november.cost.amount, november.cost.source) == (
        Decimal("2.962963"),
        PriceSource.CONVERTED_COST,
    )


async def test_a_rate_missing_for_the_date_is_an_error(db: Database, world: World, shop: Shop):
    # given no USD rate at all before 2026
    with pytest.raises(DomainError) as failure:
        await price_for(db, world, shop.products["teams"], world.a.customers[0], date(2025, 12, 31))
    assert failure.value.problems[0].code == "RATE_UNAVAILABLE"


@pytest.mark.parametrize(
    ("product", "markup", "expected"),
    [
        # 16.50 + 10%
        pytest.param("m365", "10", Decimal("18.150000"), id="own-currency-cost"),
        # Teams' cost 3.20 USD -> 2.962963 EUR, + 12.5% = 3.33333337... rounded to 6 places
        pytest.param("teams", "12.5", Decimal("3.333333"), id="converted-cost"),
        pytest.param("support", "0", Decimal("75.000000"), id="at-cost"),
    ],
)
async def test_a_markup_is_a_percent_over_the_cost(
    db: Database, world: World, shop: Shop, product: str, markup: str, expected: Decimal
):
    # given
    scope = TenantScope.tenant(world.a.id)
    await set_override(
        db, scope, product_id=shop.products[product], currency="EUR", markup_percent=Decimal(markup)
    )
    # when
    price = await price_for(db, world, shop.products[product], world.a.customers[0])
    # then
    assert seen(price) == (expected, "EUR", PriceSource.RESELLER_OVERRIDE)


async def test_an_override_applies_only_to_customers_billed_in_its_currency(
    db: Database, world: World, shop: Shop
):
    # given a reseller-wide USD price (allowed: it is for A's USD customers)
    scope = TenantScope.tenant(world.a.id)
    m365, customer = shop.products["m365"], world.a.customers[0]
    await set_override(db, scope, product_id=m365, currency="USD", price=Decimal("1.00"))
    # then the EUR customer still pays the EUR MSRP
    assert seen(await price_for(db, world, m365, customer))[2] is PriceSource.MSRP
    # and a USD price for this EUR customer is refused: it would never apply
    with pytest.raises(DomainError) as failure:
        await set_override(
            db, scope, product_id=m365, currency="USD", customer_id=customer, price=Decimal(1)
        )
    assert [(p.code, p.field) for p in failure.value.problems] == [("BAD_USER_INPUT", "currency")]


async def test_setting_a_price_again_replaces_it(db: Database, world: World, shop: Shop):
    # given
    scope = TenantScope.tenant(world.a.id)
    m365 = shop.products["m365"]
    first = await set_override(db, scope, product_id=m365, currency="EUR", price=Decimal(19))
    # when a markup replaces the price
    second = await set_override(
        db, scope, product_id=m365, currency="EUR", markup_percent=Decimal(20)
    )
    # then one override, now a markup
    assert second.id == first.id
    async with db.read(scope) as session:
        rows = list(await session.scalars(select(PriceOverride)))
    assert [(r.price, r.markup_percent) for r in rows] == [(None, Decimal(20))]
    price = await price_for(db, world, m365, world.a.customers[0])
    assert price.price.amount == Decimal("19.800000")  # 16.50 + 20%


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({"price": Decimal(1), "markup_percent": Decimal(1)}, "price", id="both"),
        pytest.param({}, "price", id="neither"),
        pytest.param({"price": Decimal(-1)}, "price", id="negative"),
        pytest.param({"price": Decimal("1.0000001")}, "price", id="seven-places"),
        pytest.param({"markup_percent": Decimal("1000.01")}, "markupPercent", id="markup-1000+"),
        pytest.param({"price": Decimal(1), "currency": "EURO"}, "currency", id="bad-currency"),
    ],
)
async def test_a_bad_override_is_refused(
    db: Database, world: World, shop: Shop, fields: dict[str, object], field: str
):
    scope = TenantScope.tenant(world.a.id)
    values = {"product_id": shop.products["m365"], "currency": "EUR", **fields}
    with pytest.raises(DomainError) as failure:
        await set_override(db, scope, **values)
    assert [p.field for p in failure.value.problems] == [field]
    async with db.read(scope) as session:
        assert await session.scalar(select(func.count()).select_from(PriceOverride)) == 0


async def test_an_unknown_product_or_price_is_not_found(db: Database, world: World, shop: Shop):
    scope = TenantScope.tenant(world.a.id)
    with pytest.raises(DomainError) as unknown_product:
        await set_override(db, scope, product_id=new_id(), currency="EUR", price=Decimal(1))
    with pytest.raises(DomainError) as no_override:
        await remove_override(db, scope, product_id=shop.products["m365"], currency="EUR")
    with pytest.raises(DomainError) as no_product:
        await price_for(db, world, new_id(), world.a.customers[0])
    for failure, field in ((unknown_product, "productId"), (no_override, "productId")):
        assert [(p.code, p.field) for p in failure.value.problems] == [("NOT_FOUND", field)]
    assert no_product.value.problems[0].code == "NOT_FOUND"


async def test_another_tenants_customer_is_not_found(db: Database, world: World, shop: Shop):
    # given A's scope and one of B's customers
    scope = TenantScope.tenant(world.a.id)
    theirs = world.b.customers[0]
    # when
    with pytest.raises(DomainError) as setting:
        await set_override(
            db,
            scope,
            product_id=shop.products["m365"],
            currency="EUR",
            customer_id=theirs,
            price=Decimal(1),
        )
    with pytest.raises(DomainError) as reading:
        await price_for(db, world, shop.products["m365"], theirs)
    # then, exactly as for a customer that does not exist
    for failure in (setting, reading):
        assert [(p.code, p.field) for p in failure.value.problems] == [("NOT_FOUND", "customerId")]
    async with db.read(TenantScope.system()) as session:
        assert await session.scalar(select(func.count()).select_from(PriceOverride)) == 0


async def test_a_tenant_sets_prices_only_for_itself(db: Database, world: World, shop: Shop):
    # given A names B as the reseller: refused as not found, not quietly turned into A's price
    scope = TenantScope.tenant(world.a.id)
    with pytest.raises(NotFound) as refused:
        await set_override(
            db,
            scope,
            product_id=shop.products["m365"],
            currency="EUR",
            reseller_id=world.b.id,
            price=Decimal(1),
        )
    assert refused.value.problems[0].field == "resellerId"
    # naming itself is fine
    row = await set_override(
        db,
        scope,
        product_id=shop.products["m365"],
        currency="EUR",
        reseller_id=world.a.id,
        price=Decimal(1),
    )
    assert row.reseller_id == world.a.id
    # and the platform must name the reseller
    with pytest.raises(DomainError) as failure:
        await set_override(
            db,
            TenantScope.system(),
            product_id=shop.products["m365"],
            currency="EUR",
            price=Decimal(1),
        )
    assert failure.value.problems[0].field == "resellerId"


async def test_the_invoice_line_records_where_its_price_came_from(
    db: Database, world: World, shop: Shop
):
    # given a reseller-wide M365 price, a customer price for the first customer, support at MSRP
    # and Teams converted from USD
    scope = TenantScope.tenant(world.a.id)
    first, second = world.a.customers[:2]
    m365 = shop.products["m365"]
    await set_override(db, scope, product_id=m365, currency="EUR", price=Decimal("19.00"))
    await set_override(
        db, scope, product_id=m365, currency="EUR", customer_id=first, markup_percent=Decimal(0)
    )
    async with db.write(scope) as session:
        for customer in (first, second):
            for product in ("m365", "teams", "support"):
                await create_subscription(
                    session,
                    scope,
                    NewSubscription(customer, shop.products[product], 2, date(2026, 1, 1)),  # type: ignore[arg-type]
                )
    # when
    async with db.write(scope) as session:
        await BillingRun(session, scope, Actor.system(), "Platform").run(
            RunRequest(date(2026, 11, 1), NOVEMBER_END)
        )
    # then
    async with db.read(scope) as session:
        rows = await session.execute(
            select(Invoice.customer_id, InvoiceLine.product_id, InvoiceLine.unit_price)
            .add_columns(InvoiceLine.price_source, InvoiceLine.amount)
            .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        )
        found = {
            (r.customer_id, r.product_id): (r.unit_price, r.price_source, r.amount) for r in rows
        }
    teams, support = shop.products["teams"], shop.products["support"]
    converted = (Decimal("3.703704"), PriceSource.CONVERTED_MSRP, Decimal("7.41"))
    msrp = (Decimal("95.00"), PriceSource.MSRP, Decimal("190.00"))
    assert found == {
        (first, m365): (Decimal("16.50"), PriceSource.CUSTOMER_OVERRIDE, Decimal("33.00")),
        (second, m365): (Decimal("19.00"), PriceSource.RESELLER_OVERRIDE, Decimal("38.00")),
        (first, teams): converted,
        (second, teams): converted,
        (first, support): msrp,
        (second, support): msrp,
    }
