"""The detailed CSV adds up: per line, its charge rows sum to the line's amount exactly as the
invoice rounds it (largest remainder), on an invoice a billing run made from prorated
subscriptions and usage, read back with the csv module."""

from __future__ import annotations

import codecs
import csv
import io
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.generation import BillingRun, RunRequest
from billing.subscriptions import NewSubscription, NewUsage, create_subscription, record_usage
from core.currency import minor_units, quantize
from db.database import Database
from db.scope import TenantScope
from documents import csv_files
from documents.content import invoice_document
from documents.csv_files import reconciled
from tenants import services
from tenants.audit import Actor
from tests.catalog import Shop, make_catalog
from tests.documents import make_charge, make_line
from tests.factories import World

NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))


def records(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(codecs.BOM_UTF8)
    header, *rows = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    return [dict(zip(header, row, strict=True)) for row in rows]


@pytest.fixture
async def shop(db: Database, world: World) -> Shop:
    return await make_catalog(db)


async def billed(db: Database, world: World, shop: Shop) -> uuid.UUID:
    """A USD customer's November invoice from Microsoft: M365 from the 8th (23 of 30 days),
    Teams twice (7 seats from the 20th, 1 from the 6th: thirds of a cent), and Azure usage in
    eighths of a unit; every line's charges are finer than cents."""
    scope = TenantScope.tenant(world.a.id)
    async with db.write(scope) as session:
        customer = await services.create_customer(
            session,
            scope,
            services.NewCustomer(
                name="Иванов & Søn", email="billing@ivanov.example", currency="USD"
            ),
        )
        for product, seats, start in (
            ("m365", 3, date(2026, 11, 8)),
            ("teams", 7, date(2026, 11, 20)),
            ("teams", 1, date(2026, 11, 6)),
        ):
            await create_subscription(
                session,
                scope,
                NewSubscription(customer.id, shop.products[product], seats, start),  # type: ignore[arg-type]
            )
        await record_usage(
            session,
            scope,
            [
                NewUsage(
                    customer.id,
                    shop.products["azure"],  # type: ignore[arg-type]
                    Decimal("0.125"),
                    datetime(2026, 11, day, 12, tzinfo=UTC),
                    f"azure-{day}",
                )
                for day in (3, 9, 27)
            ],
        )
    async with db.write(scope) as session:
        result = await BillingRun(session, scope, Actor.system(), "Platform").run(
            RunRequest(*NOVEMBER, customer_ids=[customer.id])
        )
    [invoice_id] = result.created
    return invoice_id


async def test_every_line_of_the_detailed_csv_adds_up_to_the_invoice_line(
    db: Database, world: World, shop: Shop
):
    # given
    invoice_id = await billed(db, world, shop)
    scope = TenantScope.tenant(world.a.id)
    async with db.read(scope) as session:
        doc = await invoice_document(session, scope, invoice_id)
    assert doc is not None
    assert {c.source for c in doc.charges} == {"SUBSCRIPTION", "USAGE"}
    naive: dict[int, Decimal] = defaultdict(Decimal)  # each charge rounded on its own
    for c in doc.charges:
        naive[c.line] += quantize(c.amount, "USD")
    assert any(naive[line.position] != line.amount for line in doc.lines)  # Azure: 3 x 0.13

    # when
    lines = records(csv_files.invoice_csv(doc))
    charges = records(csv_files.invoice_detailed_csv(doc))

    # then each line's rows sum to it, in cents, and each row is within a cent of its exact value
    summed: dict[str, Decimal] = defaultdict(Decimal)
    for row in charges:
        assert row["amount"] == f"{Decimal(row['amount']):.2f}"
        assert abs(Decimal(row["amount"]) - Decimal(row["exact_amount"])) < Decimal("0.01")
        summed[row["line"]] += Decimal(row["amount"])
    assert {line["line"]: Decimal(line["amount"]) for line in lines} == summed
    assert all(row["line_amount"] == lines[int(row["line"]) - 1]["amount"] for row in charges)
    assert sum(summed.values()) == doc.subtotal
    # and every row says which invoice it is of
    assert {(r["invoice_number"], r["document_id"], r["currency"]) for r in charges} == {
        ("", doc.document_id, "USD")
    }
    assert {r["buyer"] for r in charges} == {"Иванов & Søn"}


def test_the_rounding_difference_goes_to_the_largest_remainders():
    # given a line of 13.60 behind 10.2666… and 3.3333… (rounded down: 10.26 + 3.33 = 13.59)
    line = make_line(1, amount=Decimal("13.60"))
    behind = [
        make_charge(line, amount=Decimal("3.333333")),
        make_charge(line, amount=Decimal("10.266667")),
    ]

    # when
    found = reconciled(behind, line.amount, "USD")

    # then the missing cent goes to 10.2666…, whose remainder is the larger
    assert found == [Decimal("3.33"), Decimal("10.27")]


def test_equal_remainders_go_to_the_earlier_charge():
    # given three charges of 0.023 behind a line of 0.07
    line = make_line(1, amount=Decimal("0.07"))
    behind = [make_charge(line, amount=Decimal("0.023")) for _ in range(3)]

    # when
    found = reconciled(behind, line.amount, "USD")

    # then
    assert found == [Decimal("0.03"), Decimal("0.02"), Decimal("0.02")]


amounts = st.decimals(min_value=-(10**6), max_value=10**6, places=6)


@given(
    exact=st.lists(amounts, min_size=1, max_size=12),
    off_by=st.integers(min_value=-30, max_value=30),
    currency=st.sampled_from(["JPY", "USD", "KWD"]),
)
def test_the_rows_always_sum_to_the_line(exact: list[Decimal], off_by: int, currency: str):
    # given a line that rounds its charges' sum, or was set a few units away from it
    unit = Decimal(1).scaleb(-minor_units(currency))
    line_amount = sum(exact, Decimal(0)).quantize(unit) + off_by * unit
    line = make_line(1, amount=line_amount)
    behind = [make_charge(line, amount=a) for a in exact]

    # when
    found = reconciled(behind, line_amount, currency)

    # then they add up exactly, in minor units, and each is as near its exact value as that allows
    assert sum(found, Decimal(0)) == line_amount
    assert all(a == a.quantize(unit) for a in found)
    slack = (abs(off_by) // len(exact) + 2) * unit
    assert all(abs(a - e) < slack for a, e in zip(found, exact, strict=True))
    assert found == reconciled(behind, line_amount, currency)  # deterministic
