"""Keyset pages at scale (issue: the fast API, "also measured"): a page of invoices costs the same
at 1,000 invoices as at 100,000, and totalCount is what grows.

One reseller's invoices, time-ordered ids (UUIDv7, as the application makes them), in two sizes:
SMALL, then LARGE (copies of a billed invoice, VOID so that the one-live-invoice-per-period
index lets them be). At each size, after fresh statistics: the first, a middle and the last page of
50 through the repository the API uses (the invoices connection's own statement), the count that
totalCount runs, and on PostgreSQL the plan of the middle page, which must use an index and sort
nothing. Medians of --repeat x 10 reads.
"""

from __future__ import annotations

import argparse
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select, text

from billing.generation import BillingRun, RunRequest
from billing.invoices import InvoiceQuery, InvoiceRepository
from billing.models import Invoice, InvoiceKind, InvoiceStatus
from core.clock import utcnow
from core.ids import new_id
from db.database import Database
from db.pagination import PageRequest, count, keyset_page
from db.scope import TenantScope
from tenants.audit import Actor

from .billing_run import PERIOD, seed
from .harness import Report, Target, median, timed

NAME = "keyset"
TITLE = "Keyset pages at scale"
SMALL, LARGE = 1_000, 100_000
PAGE = 50
READS = 10
BATCH = 5_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--invoices",
        type=int,
        default=LARGE,
        help=f"keyset: invoices of the large size (default {LARGE:,}; the small one is {SMALL:,})",
    )


def _copies(template: dict[str, Any], start: int, stop: int) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {
            **template,
            "id": new_id(),
            "document_id": f"BENCH-{n:07d}",
            "number": f"BENCH-{n:07d}",
            "status": InvoiceStatus.VOID,
            "issued_at": now,
            "voided_at": now,
            "created_at": now + timedelta(microseconds=n),
        }
        for n in range(start, stop)
    ]


async def _grow(db: Database, scope: TenantScope, template: dict[str, Any], have: int, want: int):
    for start in range(have, want, BATCH):
        async with db.write(scope) as session:
            await session.execute(
                insert(Invoice), _copies(template, start, min(want, start + BATCH))
            )


async def _pages(
    db: Database, scope: TenantScope, query: InvoiceQuery, repeat: int
) -> dict[str, float]:
    """Median seconds of the first, a middle and the last page, and of the count."""
    async with db.read(scope) as session:
        repo = InvoiceRepository(session, scope)
        listed = repo.filtered(query).with_only_columns(Invoice.id).order_by(Invoice.id)
        ids = list(await session.scalars(listed))
    middle, last = ids[len(ids) // 2], ids[-PAGE - 1]
    requests = {
        "first page": PageRequest(first=PAGE),
        "middle page": PageRequest(first=PAGE, after=middle),
        "last page": PageRequest(first=PAGE, after=last),
    }
    times: dict[str, list[float]] = {name: [] for name in [*requests, "count"]}
    for _ in range(repeat * READS):
        for name, request in requests.items():

            async def page(request: PageRequest = request) -> Any:
                async with db.read(scope) as session:
                    repo = InvoiceRepository(session, scope)
                    return await keyset_page(session, repo.filtered(query), Invoice.id, request)

            seconds, found = await timed(page)
            assert len(found.items) == PAGE
            times[name].append(seconds)

        async def total() -> int:
            async with db.read(scope) as session:
                return await count(session, InvoiceRepository(session, scope).filtered(query))

        seconds, counted = await timed(total)
        assert counted == len(ids)
        times["count"].append(seconds)
    return {name: median(values) for name, values in times.items()}


async def _plan(db: Database, scope: TenantScope, query: InvoiceQuery, after: uuid.UUID) -> str:
    """The database's plan of a middle page, in one line: its scans, searches and sorts."""
    async with db.read(scope) as session:
        repo = InvoiceRepository(session, scope)
        statement = repo.filtered(query).where(Invoice.id > after).order_by(Invoice.id).limit(51)
        compiled = statement.compile(
            dialect=session.bind.dialect, compile_kwargs={"literal_binds": True}
        )
        if db.is_postgresql:
            lines = list((await session.execute(text(f"EXPLAIN {compiled}"))).scalars())
            steps = [line.strip().removeprefix("-> ").split("  (")[0] for line in lines]
        else:
            rows = await session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
            steps = [row[-1] for row in rows]
    wanted = [s for s in steps if any(w in s for w in ("Scan", "Sort", "SCAN", "SEARCH", "TEMP"))]
    return "; ".join(wanted or steps)


async def measure(target: Target, options: argparse.Namespace) -> Report:
    db = Database(target.url, pool_size=2)
    row: dict[str, str] = {}
    plans: dict[str, str] = {}
    try:
        seeded = await seed(db, 10)
        scope = TenantScope.tenant(seeded.reseller_id)
        async with db.write(scope) as session:
            created = (
                await BillingRun(session, scope, Actor.system(), "Platform").run(
                    RunRequest(*PERIOD)
                )
            ).created
            template_row = (
                (await session.execute(select(Invoice.__table__).where(Invoice.id == created[0])))
                .mappings()
                .one()
            )
        template = dict(template_row)
        query = InvoiceQuery(kind=InvoiceKind.RETAIL)
        have = len(created)
        for size in (SMALL, options.invoices):
            await _grow(db, scope, template, have, size)
            have = size
            await target.maintain("invoices")
            found = await _pages(db, scope, query, options.repeat)
            label = f"{size:,}"
            for name, seconds in found.items():
                row[f"{name} ms at {label}"] = f"{seconds * 1000:.2f}"
            async with db.read(scope) as session:
                ids = list(await session.scalars(select(Invoice.id).order_by(Invoice.id)))
            plans[label] = await _plan(db, scope, query, ids[len(ids) // 2])
    finally:
        await db.dispose()
    row["plan of a middle page (small; large)"] = " | ".join(plans.values())
    return Report(
        row=row, facts={"page": f"{PAGE} retail invoices of one reseller, by time-ordered id"}
    )
