"""Rendered documents kept for reuse: a posted invoice's PDF is drawn once per version."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKeyConstraint, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, TenantOwned


class RenderedDocument(TenantOwned, Base):
    """The last rendering of one invoice in one format. ``digest`` is the SHA-256 of everything
    that went into it (the HTML given to the renderer): a different digest means a new version
    (a payment, a status change, new branding), and the row is replaced."""

    __tablename__ = "rendered_documents"
    __table_args__ = (
        ForeignKeyConstraint(
            ["reseller_id", "invoice_id"],
            ["invoices.reseller_id", "invoices.id"],
            ondelete="CASCADE",
            name="fk_rendered_documents_reseller_id_invoices",
        ),
        UniqueConstraint(
            "reseller_id", "invoice_id", "format", name="uq_rendered_documents_invoice"
        ),
    )

    invoice_id: Mapped[uuid.UUID]
    format: Mapped[str] = mapped_column(String(20))
    digest: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
