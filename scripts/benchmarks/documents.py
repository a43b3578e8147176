"""Documents (quality.md, Performance, item 4): milliseconds per PDF page, cold (drawn) and cached
(a posted invoice's PDF read back from rendered_documents), and CSV rows per second.

Two posted invoices of a seeded reseller: a usual one (five lines, one page) and a long one
(LONG_LINES lines, many pages). Each repeat forgets the kept PDFs, downloads each invoice's PDF
twice through ``Documents`` (the first draws it, the second reads it back), and times the detailed
CSV of the long invoice. Medians are quoted.
"""

from __future__ import annotations

import argparse
import re
import uuid

from sqlalchemy import delete, insert, select

from billing.generation import BillingRun, RunRequest
from billing.lifecycle import BillingPolicy, InvoiceLifecycle
from billing.models import InvoiceCharge, InvoiceLine, InvoiceStatus
from core.ids import new_id
from db.database import Database
from db.scope import TenantScope
from documents.formats import DocumentFormat
from documents.models import RenderedDocument
from documents.service import Documents
from notifications.emails import Composer
from tenants.audit import Actor

from .billing_run import PERIOD, seed
from .harness import Report, Target, median, number, timed

NAME = "documents"
TITLE = "Documents"
LONG_LINES = 300
PAGE = re.compile(rb"/Type /Page[^s]")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--long-lines",
        type=int,
        default=LONG_LINES,
        help=f"documents: lines of the long invoice (default {LONG_LINES})",
    )


async def _posted_invoices(db: Database, long_lines: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A reseller's invoices for PERIOD, the first made long, all posted: (reseller, ids)."""
    seeded = await seed(db, 2)
    scope = TenantScope.tenant(seeded.reseller_id)
    actor = Actor.system()
    async with db.write(scope) as session:
        result = await BillingRun(session, scope, actor, "Platform").run(RunRequest(*PERIOD))
    short, long_ = result.created[:2]
    async with db.write(scope) as session:
        line = (
            await session.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == long_))
        ).first()
        charge = (
            await session.scalars(select(InvoiceCharge).where(InvoiceCharge.line_id == line.id))
        ).first()
        assert line is not None and charge is not None
        lines, charges = [], []
        for position in range(100, 100 + long_lines):
            line_id = new_id()
            lines.append(
                {
                    **_columns(line),
                    "id": line_id,
                    "position": position,
                    "description": f"{line.description} #{position}",
                }
            )
            charges.append({**_columns(charge), "id": new_id(), "line_id": line_id})
        await session.execute(insert(InvoiceLine), lines)
        await session.execute(insert(InvoiceCharge), charges)
    lifecycle = InvoiceLifecycle(Composer("Bench <bench@localhost>"), BillingPolicy("P", "CB", 30))
    async with db.write(scope) as session:
        for invoice_id in (short, long_):
            await lifecycle.update_status(
                session, scope, actor, invoice_id, InvoiceStatus.OPEN, notify=False
            )
    return seeded.reseller_id, [short, long_]


def _columns(row: object) -> dict[str, object]:
    table = type(row).__table__  # type: ignore[attr-defined]
    return {c.key: getattr(row, c.key) for c in table.columns}


async def measure(target: Target, options: argparse.Namespace) -> Report:
    db = Database(target.url, pool_size=2)
    documents = Documents(db, "Platform")
    try:
        reseller_id, invoices = await _posted_invoices(db, options.long_lines)
        scope = TenantScope.tenant(reseller_id)
        cold: dict[uuid.UUID, list[float]] = {i: [] for i in invoices}
        cached: dict[uuid.UUID, list[float]] = {i: [] for i in invoices}
        pages: dict[uuid.UUID, int] = {}
        csv_times: list[float] = []
        rows = 0
        for _ in range(options.repeat):
            async with db.write(scope) as session:
                await session.execute(delete(RenderedDocument))
            for invoice_id in invoices:
                for times in (cold[invoice_id], cached[invoice_id]):
                    seconds, found = await timed(
                        lambda i=invoice_id: documents.invoice(
                            scope, i, reseller_id, DocumentFormat.PDF
                        )
                    )
                    times.append(seconds)
                    pages[invoice_id] = len(PAGE.findall(found.body))
            seconds, found = await timed(
                lambda: documents.invoice(
                    scope, invoices[1], reseller_id, DocumentFormat.DETAILED_CSV
                )
            )
            csv_times.append(seconds)
            rows = found.body.count(b"\r\n") - 1
    finally:
        await db.dispose()

    short, long_ = invoices
    row: dict[str, str] = {}
    for label, invoice_id in (("1-page", short), (f"{pages[long_]}-page", long_)):
        per_page = 1000 / pages[invoice_id]
        row[f"{label} cold ms/page"] = f"{median(cold[invoice_id]) * per_page:.1f}"
        row[f"{label} cached ms/page"] = f"{median(cached[invoice_id]) * per_page:.2f}"
    row["detailed CSV rows/s"] = number(rows / median(csv_times))
    return Report(
        row=row,
        facts={
            "long invoice": f"{options.long_lines + 5} lines, {pages[long_]} pages",
            "CSV": f"{rows} rows, read from the database and written",
        },
    )
