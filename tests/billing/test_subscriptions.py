"""Subscriptions and usage records (billing.subscriptions): what may be subscribed or recorded,
quantities and dates, duplicates by reference, all-or-nothing batches, and tenants kept apart."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing.models import Subscription, UsageRecord
from billing.subscriptions import (
    MAX_BATCH,
    NewSubscription,
    NewUsage,
    RecordedUsage,
    create_subscription,
    end_subscription,
    record_usage,
    update_subscription,
)
from core.errors import DomainError
from core.ids import new_id
from db.database import Database
from db.scope import TenantScope
from tests.billing.conftest import Shop
from tests.factories import World

JANUARY = date(2026, 1, 1)
NOON = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def problems(failure: pytest.ExceptionInfo[DomainError]) -> list[tuple[str, str | None]]:
    return [(p.code, p.field) for p in failure.value.problems]


async def create(db: Database, world: World, **fields: object) -> Subscription:
    scope = TenantScope.tenant(world.a.id)
    values: dict[str, object] = {
        "customer_id": world.a.customers[0],
        "quantity": 1,
        "start_date": JANUARY,
        **fields,
    }
    async with db.write(scope) as session:
        return await create_subscription(session, scope, NewSubscription(**values))  # type: ignore[arg-type]


async def count(db: Database, model: type) -> int:
    async with db.read(TenantScope.system()) as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def record(
    db: Database, reseller_id: uuid.UUID, batch: list[NewUsage]
) -> list[RecordedUsage]:
    scope = TenantScope.tenant(reseller_id)
    async with db.write(scope) as session:
        return await record_usage(session, scope, batch)


# Subscriptions -------------------------------------------------------------------------------------


async def test_a_subscription_belongs_to_the_customers_reseller(
    db: Database, world: World, shop: Shop
):
    # when
    row = await create(
        db,
        world,
        product_id=shop.products["m365"],
        quantity=25,
        start_date=date(2026, 11, 16),
        end_date=date(2027, 11, 15),
    )
    # then
    async with db.read(TenantScope.tenant(world.a.id)) as session:
        stored = await session.get(Subscription, (world.a.id, row.id))
    assert stored is not None
    assert (stored.customer_id, stored.product_id, stored.quantity) == (
        world.a.customers[0],
        shop.products["m365"],
        25,
    )
    assert (stored.start_date, stored.end_date) == (date(2026, 11, 16), date(2027, 11, 15))


@pytest.mark.parametrize("quantity", [1, 1_000_000])
async def test_quantities_at_the_limits_are_accepted(
    db: Database, world: World, shop: Shop, quantity: int
):
    row = await create(db, world, product_id=shop.products["m365"], quantity=quantity)
    assert row.quantity == quantity


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"quantity": 0}, [("BAD_USER_INPUT", "quantity")], id="quantity-0"),
        pytest.param({"quantity": -3}, [("BAD_USER_INPUT", "quantity")], id="negative"),
        pytest.param({"quantity": 1_000_001}, [("BAD_USER_INPUT", "quantity")], id="too-many"),
        pytest.param(
            {"end_date": date(2025, 12, 31)}, [("BAD_USER_INPUT", "endDate")], id="ends-first"
        ),
        pytest.param({"product": "azure"}, [("BAD_USER_INPUT", "productId")], id="usage-product"),
        pytest.param({"product": None}, [("NOT_FOUND", "productId")], id="unknown-product"),
        pytest.param({"customer": "other"}, [("NOT_FOUND", "customerId")], id="other-tenant"),
        pytest.param({"customer": None}, [("NOT_FOUND", "customerId")], id="unknown-customer"),
    ],
)
async def test_a_bad_subscription_is_refused_and_nothing_is_stored(
    db: Database, world: World, shop: Shop, fields: dict[str, object], expected
):
    # given
    values = dict(fields)
    product = values.pop("product", "m365")
    values["product_id"] = new_id() if product is None else shop.products[str(product)]
    if "customer" in values:
        who = values.pop("customer")
        values["customer_id"] = world.b.customers[0] if who == "other" else new_id()
    # when
    with pytest.raises(DomainError) as failure:
        await create(db, world, **values)
    # then
    assert problems(failure) == expected
    assert await count(db, Subscription) == 0


async def test_a_subscription_may_end_on_its_first_day(db: Database, world: World, shop: Shop):
    row = await create(db, world, product_id=shop.products["m365"], end_date=JANUARY)
    assert row.end_date == row.start_date == JANUARY


async def test_update_changes_quantity_and_end_within_the_limits(
    db: Database, world: World, shop: Shop
):
    # given
    row = await create(db, world, product_id=shop.products["m365"], quantity=5)
    scope = TenantScope.tenant(world.a.id)
    # when
    async with db.write(scope) as session:
        changed = await update_subscription(
            session, scope, row.id, quantity=7, end_date=date(2026, 12, 31)
        )
    # then
    assert (changed.quantity, changed.end_date) == (7, date(2026, 12, 31))
    for kwargs, field in (
        ({"quantity": 0}, "quantity"),
        ({"quantity": 1_000_001}, "quantity"),
        ({"end_date": date(2025, 12, 31)}, "endDate"),
    ):
        with pytest.raises(DomainError) as failure:
            async with db.write(scope) as session:
                await update_subscription(session, scope, row.id, **kwargs)  # type: ignore[arg-type]
        assert problems(failure) == [("BAD_USER_INPUT", field)]
    async with db.read(scope) as session:
        stored = await session.get(Subscription, (world.a.id, row.id))
    assert stored is not None
    assert (stored.quantity, stored.end_date) == (7, date(2026, 12, 31))


async def test_ending_a_subscription_only_brings_its_end_forward(
    db: Database, world: World, shop: Shop
):
    # given
    row = await create(db, world, product_id=shop.products["m365"], start_date=date(2026, 3, 1))
    scope = TenantScope.tenant(world.a.id)
    # when
    async with db.write(scope) as session:
        ended = await end_subscription(session, scope, row.id, date(2026, 11, 15))
    async with db.write(scope) as session:
        sooner = await end_subscription(session, scope, row.id, date(2026, 11, 10))
    # then
    assert (ended.end_date, sooner.end_date) == (date(2026, 11, 15), date(2026, 11, 10))
    for end, message in ((date(2026, 11, 11), "already ended"), (date(2026, 2, 28), "before")):
        with pytest.raises(DomainError, match=message) as failure:
            async with db.write(scope) as session:
                await end_subscription(session, scope, row.id, end)
        assert problems(failure) == [("BAD_USER_INPUT", "endDate")]


async def test_another_tenants_subscription_is_not_found(db: Database, world: World, shop: Shop):
    # given a subscription of A
    row = await create(db, world, product_id=shop.products["m365"], quantity=5)
    scope_b = TenantScope.tenant(world.b.id)
    # when B tries to change it, or end it
    for change in (
        lambda session: update_subscription(session, scope_b, row.id, quantity=9),
        lambda session: end_subscription(session, scope_b, row.id, date(2026, 2, 1)),
    ):
        with pytest.raises(DomainError) as failure:
            async with db.write(scope_b) as session:
                await change(session)
        # then
        assert problems(failure) == [("NOT_FOUND", "subscriptionId")]
    async with db.read(TenantScope.system()) as session:
        stored = await session.get(Subscription, (world.a.id, row.id))
    assert stored is not None
    assert (stored.quantity, stored.end_date) == (5, None)


# Usage records -------------------------------------------------------------------------------------


def usage(world: World, shop: Shop, quantity: str = "1", **fields: object) -> NewUsage:
    values: dict[str, object] = {
        "customer_id": world.a.customers[0],
        "product_id": shop.products["azure"],
        "quantity": Decimal(quantity),
        "occurred_at": NOON,
        **fields,
    }
    return NewUsage(**values)  # type: ignore[arg-type]


async def test_usage_is_recorded(db: Database, world: World, shop: Shop):
    # when
    [result] = await record(db, world.a.id, [usage(world, shop, "12.5", reference="evt-1")])
    # then
    assert result.duplicate is False
    async with db.read(TenantScope.tenant(world.a.id)) as session:
        [stored] = list(await session.scalars(select(UsageRecord)))
    assert stored.id == result.record.id
    assert (stored.reseller_id, stored.quantity, stored.reference) == (
        world.a.id,
        Decimal("12.5"),
        "evt-1",
    )
    assert stored.occurred_at == NOON


async def test_a_reference_seen_before_returns_the_first_record(
    db: Database, world: World, shop: Shop
):
    # given a record with a reference
    [first] = await record(db, world.a.id, [usage(world, shop, "1", reference="evt-1")])
    # when it is sent again in another batch, and twice in one batch
    again = await record(
        db,
        world.a.id,
        [
            usage(world, shop, "2", reference="evt-1"),
            usage(world, shop, "3", reference="evt-2"),
            usage(world, shop, "4", reference="evt-2"),
        ],
    )
    # then only the first of each reference is stored
    assert [r.duplicate for r in again] == [True, False, True]
    assert again[0].record.id == first.record.id
    assert again[2].record.id == again[1].record.id
    async with db.read(TenantScope.tenant(world.a.id)) as session:
        stored = {r.reference: r.quantity for r in await session.scalars(select(UsageRecord))}
    assert stored == {"evt-1": Decimal(1), "evt-2": Decimal(3)}


async def test_the_same_reference_of_another_customer_is_another_record(
    db: Database, world: World, shop: Shop
):
    results = await record(
        db,
        world.a.id,
        [
            usage(world, shop, reference="evt-1"),
            usage(world, shop, reference="evt-1", customer_id=world.a.customers[1]),
        ],
    )
    assert [r.duplicate for r in results] == [False, False]
    assert await count(db, UsageRecord) == 2


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        pytest.param({"quantity": Decimal(-1)}, ("BAD_USER_INPUT", "records.1.quantity"), id="qty"),
        pytest.param(
            {"quantity": Decimal("0.0000001")},
            ("BAD_USER_INPUT", "records.1.quantity"),
            id="places",
        ),
        pytest.param(
            {"occurred_at": datetime(2026, 11, 10, 12, 0)},  # naive
            ("BAD_USER_INPUT", "records.1.occurredAt"),
            id="naive-time",
        ),
        pytest.param(
            {"product": "m365"}, ("BAD_USER_INPUT", "records.1.productId"), id="recurring"
        ),
        pytest.param({"product": None}, ("NOT_FOUND", "records.1.productId"), id="unknown-product"),
        pytest.param(
            {"customer": "other"}, ("NOT_FOUND", "records.1.customerId"), id="other-tenant"
        ),
        pytest.param({"reference": "x" * 201}, ("BAD_USER_INPUT", "records.1.reference"), id="ref"),
    ],
)
async def test_a_batch_with_one_bad_record_records_nothing(
    db: Database, world: World, shop: Shop, bad: dict[str, object], expected
):
    # given a good record, then a bad one, then another good one
    fields = dict(bad)
    if "product" in fields:
        product = fields.pop("product")
        fields["product_id"] = new_id() if product is None else shop.products[str(product)]
    if "customer" in fields:
        fields.pop("customer")
        fields["customer_id"] = world.b.customers[0]
    batch = [
        usage(world, shop, reference="good-1"),
        usage(world, shop, **fields),
        usage(world, shop, reference="good-2"),
    ]
    # when
    with pytest.raises(DomainError) as failure:
        await record(db, world.a.id, batch)
    # then
    assert problems(failure) == [expected]
    assert await count(db, UsageRecord) == 0


async def test_a_single_record_names_its_fields_without_a_prefix(
    db: Database, world: World, shop: Shop
):
    with pytest.raises(DomainError) as failure:
        await record(db, world.a.id, [usage(world, shop, product_id=shop.products["support"])])
    assert problems(failure) == [("BAD_USER_INPUT", "productId")]
    assert "cannot be recorded as usage" in str(failure.value)


@pytest.mark.parametrize("size", [0, MAX_BATCH + 1])
async def test_a_batch_holds_1_to_1000_records(db: Database, world: World, shop: Shop, size: int):
    with pytest.raises(DomainError) as failure:
        await record(db, world.a.id, [usage(world, shop)] * size)
    assert problems(failure) == [("BAD_USER_INPUT", "records")]
