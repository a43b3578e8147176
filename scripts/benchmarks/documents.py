"""Documents (quality.md, Performance, item 4): milliseconds per PDF page, cold (drawn) and cached
(a posted invoice's PDF read back from rendered_documents), PDFs per second in a burst, and CSV
rows per second.

Posted invoices of a seeded reseller: a long one (LONG_LINES lines, many pages) and BURST usual
ones (a few lines, one page). Each repeat forgets the kept PDFs, then

- downloads the long one and the first usual one twice through ``Documents`` with a one-worker
  pool (the first draws it, the second reads it back): the time one request waits;
- asks for all BURST usual PDFs at once, as a burst of postings does, drawn in a thread of the
  process (as before the pool), by a pool of 1 worker and by a pool of 2; then all at once
  again, read back: PDFs per second, cold and cached;
- times the detailed CSV of the long invoice. Medians are quoted.
"""

from __future__ import annotations

import argparse
import asyncio
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
from documents.renderer import PdfRenderer
from documents.service import Documents
from notifications.emails import Composer
from tenants.audit import Actor

from .billing_run import PERIOD, seed
from .harness import Report, Target, median, number, timed

NAME = "documents"
TITLE = "Documents"
LONG_LINES = 300
BURST = 24
POOLS = {"thread": 0, "1 worker": 1, "2 workers": 2}
PAGE = re.compile(rb"/Type /Page[^s]")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--long-lines",
        type=int,
        default=LONG_LINES,
        help=f"documents: lines of the long invoice (default {LONG_LINES})",
    )
    parser.add_argument(
        "--burst",
        type=int,
        default=BURST,
        help=f"documents: one-page PDFs asked for at once (default {BURST})",
    )


async def _posted_invoices(
    db: Database, long_lines: int, burst: int
) -> tuple[uuid.UUID, uuid.UUID, list[uuid.UUID]]:
    """A reseller's invoices for PERIOD, one made long, all posted: (reseller, long, the rest)."""
    seeded = await seed(db, burst // 2 + 1)  # a customer has an invoice per vendor: two or more
    scope = TenantScope.tenant(seeded.reseller_id)
    actor = Actor.system()
    async with db.write(scope) as session:
        result = await BillingRun(session, scope, actor, "Platform").run(RunRequest(*PERIOD))
    long_, shorts = result.created[0], result.created[1 : burst + 1]
    if len(shorts) < burst:
        raise RuntimeError(f"the seed made {len(result.created)} invoices, not {burst + 1}")
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
        for invoice_id in (long_, *shorts):
            await lifecycle.update_status(
                session, scope, actor, invoice_id, InvoiceStatus.OPEN, notify=False
            )
    return seeded.reseller_id, long_, shorts


def _columns(row: object) -> dict[str, object]:
    table = type(row).__table__  # type: ignore[attr-defined]
    return {c.key: getattr(row, c.key) for c in table.columns}


async def _forget(db: Database, scope: TenantScope) -> None:
    async with db.write(scope) as session:
        await session.execute(delete(RenderedDocument))


async def measure(target: Target, options: argparse.Namespace) -> Report:
    db = Database(target.url, pool_size=4)
    renderers = {label: PdfRenderer(workers) for label, workers in POOLS.items()}
    try:
        reseller_id, long_, shorts = await _posted_invoices(db, options.long_lines, options.burst)
        scope = TenantScope.tenant(reseller_id)
        invoices = [shorts[0], long_]
        for renderer in renderers.values():
            # Started and warm, every worker (a burst makes each draw): start-up is not measured.
            renderer.start()
            await asyncio.gather(
                *(renderer.render(f"<p>warm {n}</p>") for n in range(2 * renderer.workers + 1))
            )
        single = Documents(db, "Platform", renderers["1 worker"])
        cold: dict[uuid.UUID, list[float]] = {i: [] for i in invoices}
        cached: dict[uuid.UUID, list[float]] = {i: [] for i in invoices}
        burst_cold: dict[str, list[float]] = {label: [] for label in POOLS}
        burst_cached: dict[str, list[float]] = {label: [] for label in POOLS}
        pages: dict[uuid.UUID, int] = {}
        csv_times: list[float] = []
        rows = 0
        for _ in range(options.repeat):
            await _forget(db, scope)
            for invoice_id in invoices:
                for times in (cold[invoice_id], cached[invoice_id]):
                    seconds, found = await timed(
                        lambda i=invoice_id: single.invoice(
                            scope, i, reseller_id, DocumentFormat.PDF
                        )
                    )
                    times.append(seconds)
                    pages[invoice_id] = len(PAGE.findall(found.body))
            for label, renderer in renderers.items():
                await _forget(db, scope)
                documents = Documents(db, "Platform", renderer)

                async def burst(documents: Documents = documents) -> list[object]:
                    return await asyncio.gather(
                        *(
                            documents.invoice(scope, i, reseller_id, DocumentFormat.PDF)
                            for i in shorts
                        )
                    )

                for times in (burst_cold[label], burst_cached[label]):
                    seconds, files = await timed(burst)
                    times.append(seconds)
                    if len({len(PAGE.findall(f.body)) for f in files}) != 1:
                        raise RuntimeError("the burst's invoices are not all one page")
                if documents.pdf_renders != len(shorts):
                    raise RuntimeError("the cached burst drew again")
            seconds, found = await timed(
                lambda: single.invoice(scope, long_, reseller_id, DocumentFormat.DETAILED_CSV)
            )
            csv_times.append(seconds)
            rows = found.body.count(b"\r\n") - 1
    finally:
        for renderer in renderers.values():
            await asyncio.to_thread(renderer.close)
        await db.dispose()

    row: dict[str, str] = {}
    for label, invoice_id in (("1-page", shorts[0]), (f"{pages[long_]}-page", long_)):
        per_page = 1000 / pages[invoice_id]
        row[f"{label} cold ms/page"] = f"{median(cold[invoice_id]) * per_page:.1f}"
        row[f"{label} cached ms/page"] = f"{median(cached[invoice_id]) * per_page:.2f}"
    count = len(shorts)
    for label in POOLS:
        row[f"PDFs/s {label}"] = f"{count / median(burst_cold[label]):.1f}"
    for label in POOLS:
        row[f"cached PDFs/s {label}"] = number(count / median(burst_cached[label]))
    ratios = [t / w for t, w in zip(burst_cold["thread"], burst_cold["2 workers"], strict=True)]
    row["2 workers / thread"] = f"{median(ratios):.2f}x"  # within each repeat, side by side
    row["detailed CSV rows/s"] = number(rows / median(csv_times))
    return Report(
        row=row,
        facts={
            "long invoice": f"{options.long_lines + 5} lines, {pages[long_]} pages",
            "burst": f"{count} one-page invoices at once, one tenant",
            "CSV": f"{rows} rows, read from the database and written",
        },
    )
