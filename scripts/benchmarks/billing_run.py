"""Billing run (quality.md, Performance, item 3): one reseller with N customers x 5 subscriptions;
``BillingRun.run`` for one month in one transaction, against the ceiling: a bare Core executemany
insert of the same number of invoice, line and charge rows, in the same run, on the same database.

On PostgreSQL the run writes with one ``INSERT ... SELECT FROM unnest(arrays)`` per batch (an
executemany costs the server a statement per row), so there the same bare insert done that way is
measured too: the run's own ceiling.

Each repeat measures the inserts and then the run, each in a transaction rolled back afterwards,
so every repeat starts from the same data (PostgreSQL is vacuumed in between). Medians are quoted.
"""

from __future__ import annotations

import argparse
import random
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ARRAY, Table, bindparam, cast, event, func, insert, select

from billing.generation import BillingRun, RunRequest, document_id
from billing.models import (
    ExchangeRate,
    Invoice,
    InvoiceCharge,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    PriceOverride,
    PriceSource,
    Product,
    ProductKind,
    ProductPrice,
    Subscription,
    Vendor,
)
from core.clock import utcnow
from core.ids import new_id
from db.database import Database
from db.scope import TenantScope
from tenants.audit import Actor
from tenants.models import AccountStatus, Customer, Reseller

from .harness import Report, Target, median, number, rolled_back, spread, timed

NAME = "billing"
TITLE = "Billing run"
PERIOD = (date(2026, 11, 1), date(2026, 11, 30))
HISTORY = (date(2026, 10, 1), date(2026, 10, 31))  # the month billed before: already on file
SUBSCRIPTIONS_PER_CUSTOMER = 5
SEED_BATCH = 5000
WRITTEN = ("invoices", "invoice_lines", "invoice_charges")

# name: vendor, kind, base currency, {currency: (msrp, cost)}; one subscription to each per
# customer. Teams and backup are priced in USD only: EUR customers pay a converted MSRP.
CATALOG: dict[str, tuple[str, str, dict[str, tuple[str, str]]]] = {
    "m365": ("Microsoft", "USD", {"USD": ("22.00", "17.60"), "EUR": ("20.60", "16.50")}),
    "teams": ("Microsoft", "USD", {"USD": ("4.00", "3.20")}),
    "visio": ("Microsoft", "EUR", {"EUR": ("12.00", "9.60")}),
    "support": ("AWS", "USD", {"USD": ("100.00", "80.00"), "EUR": ("95.00", "75.00")}),
    "backup": ("AWS", "USD", {"USD": ("8.00", "6.40")}),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--customers",
        type=int,
        default=10_000,
        help="billing run: customers of the reseller, 5 subscriptions each (default 10000)",
    )


@dataclass
class Seeded:
    reseller_id: uuid.UUID
    vendors: dict[str, uuid.UUID]  # vendor name -> id
    products: dict[str, tuple[uuid.UUID, uuid.UUID]]  # name -> (product id, vendor id)
    customers: list[dict[str, Any]]
    subscriptions: list[dict[str, Any]]


async def seed(db: Database, customers: int) -> Seeded:
    """One reseller, the catalog, N EUR customers and 5 subscriptions each: bulk Core inserts.
    Every 7th subscription starts inside the month and some others end in it (prorated), every
    100th customer has a price of its own for M365, and the reseller marks Visio up 15%."""
    rng = random.Random(20261130)  # noqa: S311 (test data, not secrets)
    now = utcnow()
    reseller_id = new_id()
    vendors = {name: new_id() for name in sorted({v for v, _, _ in CATALOG.values()})}
    products = {name: (new_id(), vendors[vendor]) for name, (vendor, _, _) in CATALOG.items()}
    customer_rows = [
        {
            "reseller_id": reseller_id,
            "id": new_id(),
            "created_at": now,
            "name": f"Customer {n + 1:06d}",
            "email": f"billing@customer-{n + 1:06d}.example",
            "currency": "EUR",
            "timezone": "UTC",
            "tax_rate": Decimal(19) if n % 10 else Decimal(0),
            "tax_id": None,
            "status": AccountStatus.ACTIVE,
        }
        for n in range(customers)
    ]
    subscription_rows: list[dict[str, Any]] = []
    for customer in customer_rows:
        for name, (product_id, _) in products.items():
            n = len(subscription_rows)
            starts, ends = n % 7 == 0, n % 11 == 0 and n % 7 != 0
            subscription_rows.append(
                {
                    "reseller_id": reseller_id,
                    "id": new_id(),
                    "created_at": now,
                    "customer_id": customer["id"],
                    "product_id": product_id,
                    "quantity": rng.randint(1, 50) if name != "support" else 1,
                    "start_date": date(2026, 11, 1 + n % 28) if starts else date(2025, 1, 1),
                    "end_date": date(2026, 11, 1 + n % 30) if ends else None,
                }
            )
    overrides = [
        {
            "reseller_id": reseller_id,
            "id": new_id(),
            "created_at": now,
            "product_id": products["visio"][0],
            "customer_id": None,
            "currency": "EUR",
            "price": None,
            "markup_percent": Decimal(15),
        }
    ] + [
        {
            "reseller_id": reseller_id,
            "id": new_id(),
            "created_at": now,
            "product_id": products["m365"][0],
            "customer_id": customer["id"],
            "currency": "EUR",
            "price": Decimal("19.50"),
            "markup_percent": None,
        }
        for customer in customer_rows[::100]
    ]
    async with db.write(TenantScope.system()) as session:
        session.add(
            Reseller(
                id=reseller_id,
                name="Bench Reseller",
                slug="bench",
                currency="EUR",
                timezone="UTC",
                status=AccountStatus.ACTIVE,
                invoice_prefix="BENCH",
            )
        )
        session.add_all(Vendor(id=id_, name=name) for name, id_ in vendors.items())
        await session.flush()
        for name, (vendor, base, prices) in CATALOG.items():
            product_id = products[name][0]
            session.add(
                Product(
                    id=product_id,
                    vendor_id=vendors[vendor],
                    sku=f"BENCH-{name.upper()}",
                    name=f"Bench {name.title()}",
                    unit="seat",
                    kind=ProductKind.RECURRING,
                    base_currency=base,
                )
            )
            await session.flush()
            session.add_all(
                ProductPrice(product_id=product_id, currency=c, msrp=Decimal(m), cost=Decimal(k))
                for c, (m, k) in prices.items()
            )
        session.add(
            ExchangeRate(base="USD", quote="EUR", rate=Decimal("0.9"), rate_date=date(2026, 1, 1))
        )
        await session.flush()
        for model, rows in (
            (Customer, customer_rows),
            (Subscription, subscription_rows),
            (PriceOverride, overrides),
        ):
            for start in range(0, len(rows), SEED_BATCH):
                await session.execute(insert(model.__table__), rows[start : start + SEED_BATCH])
    return Seeded(reseller_id, vendors, products, customer_rows, subscription_rows)


def ceiling_rows(
    seeded: Seeded, period: tuple[date, date] = PERIOD
) -> dict[Any, list[dict[str, Any]]]:
    """What the run writes, made up front: per customer one invoice per vendor, per subscription
    one line and one charge, with the same columns and kinds of values."""
    now = utcnow()
    vendor_of = {product_id: vendor_id for product_id, vendor_id in seeded.products.values()}
    invoices: dict[tuple[uuid.UUID, uuid.UUID], dict[str, Any]] = {}
    lines: list[dict[str, Any]] = []
    charges: list[dict[str, Any]] = []
    customers = {c["id"]: c for c in seeded.customers}
    amount = Decimal("123.450000")
    for sub in seeded.subscriptions:
        customer = customers[sub["customer_id"]]
        key = (customer["id"], vendor_of[sub["product_id"]])
        invoice = invoices.get(key)
        if invoice is None:
            invoice_id = new_id()
            invoice = invoices[key] = {
                "reseller_id": seeded.reseller_id,
                "id": invoice_id,
                "created_at": now,
                "kind": InvoiceKind.RETAIL,
                "customer_id": customer["id"],
                "vendor_id": key[1],
                "document_id": document_id(invoice_id),
                "number": None,
                "status": InvoiceStatus.DRAFT,
                "period_start": period[0],
                "period_end": period[1],
                "currency": "EUR",
                "seller_name": "Bench Reseller",
                "buyer_name": customer["name"],
                "buyer_email": customer["email"],
                "tax_rate": customer["tax_rate"],
                "subtotal": amount,
                "tax": Decimal("23.46"),
                "total": Decimal("146.91"),
                "amount_paid": Decimal(0),
                "custom_fields": {},
                "issued_at": None,
                "due_date": None,
                "closed_at": None,
                "voided_at": None,
            }
        line_id = new_id()
        lines.append(
            {
                "reseller_id": seeded.reseller_id,
                "id": line_id,
                "created_at": now,
                "invoice_id": invoice["id"],
                "position": 1,
                "product_id": sub["product_id"],
                "kind": ProductKind.RECURRING,
                "description": f"Bench Product (seat), {period[0]} to {period[1]}",
                "quantity": Decimal(sub["quantity"]),
                "unit_price": Decimal("20.600000"),
                "amount": amount,
                "price_source": PriceSource.MSRP,
                "service_start": period[0],
                "service_end": period[1],
            }
        )
        charges.append(
            {
                "reseller_id": seeded.reseller_id,
                "id": new_id(),
                "created_at": now,
                "invoice_id": invoice["id"],
                "line_id": line_id,
                "subscription_id": sub["id"],
                "usage_record_id": None,
                "start_date": period[0],
                "end_date": period[1],
                "quantity": Decimal(sub["quantity"]),
                "unit_price": Decimal("20.600000"),
                "days": 30,
                "period_days": 30,
                "amount": amount,
            }
        )
    return {
        Invoice.__table__: list(invoices.values()),
        InvoiceLine.__table__: lines,
        InvoiceCharge.__table__: charges,
    }


class StatementCounter:
    """SQL statements sent while ``counting`` (an executemany counts once)."""

    def __init__(self, db: Database) -> None:
        self.counting = False
        self.count = 0
        for engine in db.engines:
            event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        if self.counting:
            self.count += 1


async def written(session: Any) -> tuple[int, int, int]:
    counts = [
        await session.scalar(select(func.count()).select_from(model))
        for model in (Invoice, InvoiceLine, InvoiceCharge)
    ]
    return counts[0], counts[1], counts[2]


def minus(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[int, int, int]:
    return a[0] - b[0], a[1] - b[1], a[2] - b[2]


async def seed_history(db: Database, target: Target, seeded: Seeded) -> None:
    """Last month's invoices, committed table by table with fresh statistics after each: the
    state of a reseller that has billed before. (With statistics that say the invoice tables are
    empty, PostgreSQL's foreign-key checks may pick an index on reseller_id alone and read all
    the reseller's invoices for every row inserted: a bare executemany, this seeding included,
    then slows down quadratically; the run's unnest inserts were not seen to.)"""
    scope = TenantScope.tenant(seeded.reseller_id)
    for table, rows in ceiling_rows(seeded, HISTORY).items():
        async with db.write(scope) as session:
            for start in range(0, len(rows), SEED_BATCH):
                await session.execute(insert(table), rows[start : start + SEED_BATCH])
        await target.maintain(table.name)


async def executemany(session: Any, tables: dict[Table, list[dict[str, Any]]]) -> None:
    """The ceiling: one Core executemany per table."""
    for table, rows in tables.items():
        await session.execute(insert(table), rows)


async def unnest(session: Any, tables: dict[Table, list[dict[str, Any]]]) -> None:
    """PostgreSQL: one INSERT ... SELECT FROM unnest(one array per column) per 2,000 rows."""
    dialect = (await session.connection()).dialect
    for table, rows in tables.items():
        names = list(rows[0])
        types = [table.c[n].type for n in names]
        arrays = func.unnest(
            *(cast(bindparam(n), ARRAY(t)) for n, t in zip(names, types, strict=True))
        )
        source = arrays.table_valued(*names).render_derived()
        statement = insert(table).from_select(names, select(*(source.c[n] for n in names)))
        processors = dict(
            zip(
                names, [t.dialect_impl(dialect).bind_processor(dialect) for t in types], strict=True
            )
        )
        for start in range(0, len(rows), 2000):
            batch = rows[start : start + 2000]
            params = {}
            for name, process in processors.items():
                values = [row[name] for row in batch]
                params[name] = values if process is None else [process(v) for v in values]
            await session.execute(statement, params)


async def measure(target: Target, options: argparse.Namespace) -> Report:
    db = Database(target.url, pool_size=2)
    inserts = {"executemany": executemany}
    if target.is_postgresql:
        inserts["unnest"] = unnest
    try:
        seeded = await seed(db, options.customers)
        await target.maintain("customers", "subscriptions", "price_overrides")
        await seed_history(db, target, seeded)
        scope = TenantScope.tenant(seeded.reseller_id)
        async with db.read(scope) as session:
            before = await written(session)
        statements = StatementCounter(db)
        run_times: list[float] = []
        insert_times: dict[str, list[float]] = {name: [] for name in inserts}
        run_rows = (0, 0, 0)
        sql = 0
        for _ in range(options.repeat):
            for name, how in inserts.items():
                tables = ceiling_rows(seeded)
                async with rolled_back(db, scope) as session:
                    seconds, _ = await timed(lambda how=how, s=session, t=tables: how(s, t))
                    counts = minus(await written(session), before)
                insert_times[name].append(seconds)
                del tables  # what is measured next starts with the same heap
                await target.maintain(*WRITTEN)

            async with rolled_back(db, scope) as session:
                billing = BillingRun(session, scope, Actor.system(), "Platform")
                statements.counting, statements.count = True, 0
                seconds, result = await timed(lambda b=billing: b.run(RunRequest(*PERIOD)))
                statements.counting, sql = False, statements.count
                run_rows = minus(await written(session), before)
                assert len(result.created) == run_rows[0] and not result.skipped
            run_times.append(seconds)
            await target.maintain(*WRITTEN)
            if run_rows != counts:
                raise AssertionError(f"the bare inserts wrote {counts}, the run {run_rows}")
    finally:
        await db.dispose()

    invoices, lines, charges = run_rows
    rows = sum(run_rows)
    run_s = median(run_times)
    ceiling = {name: median(times) for name, times in insert_times.items()}
    unnest_s = ceiling.get("unnest")
    return Report(
        row={
            "run s": f"{run_s:.2f}",
            "invoices/s": number(invoices / run_s),
            "rows/s": number(rows / run_s),
            "executemany s": f"{ceiling['executemany']:.2f}",
            "run / executemany": f"{run_s / ceiling['executemany']:.2f}x",
            "unnest s": "-" if unnest_s is None else f"{unnest_s:.2f}",
            "run / unnest": "-" if unnest_s is None else f"{run_s / unnest_s:.2f}x",
            "run s min-max": spread(run_times),
        },
        facts={
            "customers x subscriptions": (
                f"{len(seeded.customers):,} x {SUBSCRIPTIONS_PER_CUSTOMER}"
                f" = {len(seeded.subscriptions):,}"
            ),
            "period": f"{PERIOD[0].isoformat()} to {PERIOD[1].isoformat()} (October on file)",
            "rows written per run": (
                f"{invoices:,} invoices + {lines:,} lines + {charges:,} charges = {rows:,}"
            ),
            "SQL statements per run": f"{sql:,}",
        },
    )
