"""Documents on demand: an invoice or a statement, in one format, within the caller's scope.

A posted invoice is drawn from its versions (ISSUED, PAID, VOID: ``billing.versions``), each
from what was true when it was taken; a download shows the latest, an email the version of its
own event. Each version's PDF is rendered once and kept (``rendered_documents``, one row per
version), with the SHA-256 of the HTML given to the renderer: the same version reads the stored
bytes, so a later branding change alters nothing, and only a change to the drawing itself
(the templates) draws it again. Drafts change until they are posted and are rendered every
time; CSV and HTML cost next to nothing and are never kept.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from billing.models import InvoiceStatus, InvoiceVersion
from db.database import Database
from db.scope import TenantScope
from documents import csv_files
from documents.content import (
    InvoiceDocument,
    StatementDocument,
    invoice_document,
    statement_document,
)
from documents.formats import DocumentFormat
from documents.html import invoice_html, statement_html
from documents.links import InvoiceTarget, StatementTarget, Target
from documents.renderer import PdfRenderer
from documents.repositories import RenderedDocumentRepository


@dataclass(frozen=True, slots=True)
class File:
    filename: str
    content_type: str
    body: bytes


class Documents:
    def __init__(
        self, db: Database, platform_name: str, renderer: PdfRenderer | None = None
    ) -> None:
        self.db = db
        self.platform_name = platform_name
        self.renderer = PdfRenderer(0) if renderer is None else renderer  # default: a thread
        self.pdf_renders = 0  # how many PDFs were drawn (not read back): the cache's witness

    async def file(
        self, scope: TenantScope, target: Target, tenant: uuid.UUID, fmt: DocumentFormat
    ) -> File | None:
        """The document in ``fmt``; None unless ``scope`` sees it and it belongs to ``tenant``."""
        if isinstance(target, InvoiceTarget):
            return await self.invoice(scope, target.invoice_id, tenant, fmt)
        return await self.statement(scope, target, tenant, fmt)

    async def invoice(
        self,
        scope: TenantScope,
        invoice_id: uuid.UUID,
        tenant: uuid.UUID,
        fmt: DocumentFormat,
        version: InvoiceVersion | None = None,
    ) -> File | None:
        """The invoice in ``fmt``: a posted one in ``version``, by default its latest."""
        async with self.db.read(scope) as session:
            doc = await invoice_document(session, scope, invoice_id, version)
        if doc is None or doc.reseller_id != tenant:
            return None
        if fmt is DocumentFormat.PDF:
            body = await self._invoice_pdf(scope, doc)
        elif fmt is DocumentFormat.HTML:
            body = invoice_html(doc).encode()
        elif fmt is DocumentFormat.CSV:
            body = csv_files.invoice_csv(doc)
        else:
            body = csv_files.invoice_detailed_csv(doc)
        return File(fmt.filename(doc.filename_stem), fmt.content_type, body)

    async def statement(
        self, scope: TenantScope, target: StatementTarget, tenant: uuid.UUID, fmt: DocumentFormat
    ) -> File | None:
        async with self.db.read(scope) as session:
            doc = await statement_document(
                session,
                scope,
                target.owner_type,
                target.owner_id,
                target.start,
                target.end,
                self.platform_name,
            )
        if doc is None or doc.statement.reseller_id != tenant:
            return None
        body = await self._statement(doc, fmt)
        return File(fmt.filename(doc.filename_stem), fmt.content_type, body)

    async def _statement(self, doc: StatementDocument, fmt: DocumentFormat) -> bytes:
        if fmt is DocumentFormat.PDF:
            html = statement_html(doc, pdf=True)
            return await self._render(html, doc.statement.reseller_id)
        if fmt is DocumentFormat.HTML:
            return statement_html(doc).encode()
        if fmt is DocumentFormat.CSV:
            return csv_files.statement_csv(doc)
        return csv_files.statement_detailed_csv(doc)

    async def _render(self, html: str, tenant: uuid.UUID) -> bytes:
        self.pdf_renders += 1
        return await self.renderer.render(html, tenant)

    async def _invoice_pdf(self, scope: TenantScope, doc: InvoiceDocument) -> bytes:
        html = invoice_html(doc, pdf=True)
        if doc.status is InvoiceStatus.DRAFT:
            return await self._render(html, doc.reseller_id)
        digest = hashlib.sha256(html.encode()).hexdigest()
        pdf = DocumentFormat.PDF.value
        if doc.version is not None:
            pdf = f"{pdf}:{doc.version}"  # each version kept beside the others
        async with self.db.read(scope) as session:
            kept = await RenderedDocumentRepository(session, scope).kept(doc.id, pdf, digest)
        if kept is not None:
            return kept
        body = await self._render(html, doc.reseller_id)
        async with self.db.write(scope) as session:
            await RenderedDocumentRepository(session, scope).keep(
                doc.reseller_id, doc.id, pdf, digest, body
            )
        return body
