"""The kept renderings of invoices, within a tenant scope."""

from __future__ import annotations

import uuid

from core.clock import utcnow
from core.ids import new_id
from db.database import upsert
from documents.models import RenderedDocument
from tenants.repositories import ScopedRepository


class RenderedDocumentRepository(ScopedRepository[RenderedDocument]):
    model = RenderedDocument

    async def kept(self, invoice_id: uuid.UUID, fmt: str, digest: str) -> bytes | None:
        """The stored rendering of this version (``digest``), if there is one."""
        statement = self.select().where(
            RenderedDocument.invoice_id == invoice_id,
            RenderedDocument.format == fmt,
            RenderedDocument.digest == digest,
        )
        row = (await self.session.scalars(statement)).first()
        return row.content if row is not None else None

    async def keep(
        self, reseller_id: uuid.UUID, invoice_id: uuid.UUID, fmt: str, digest: str, body: bytes
    ) -> None:
        """Store a rendering in place of the invoice's previous one in that format; two
        downloads of a new version at once both write, the last wins (they are equal)."""
        if not self.scope.allows(reseller_id):
            raise PermissionError("row outside the session's tenant scope")
        statement = (await upsert(self.session, RenderedDocument)).values(
            reseller_id=reseller_id,
            id=new_id(),
            invoice_id=invoice_id,
            format=fmt,
            digest=digest,
            content=body,
            created_at=utcnow(),
        )
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["reseller_id", "invoice_id", "format"],
                set_={
                    "digest": statement.excluded.digest,
                    "content": statement.excluded.content,
                    "created_at": statement.excluded.created_at,
                },
            )
        )
