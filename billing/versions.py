"""The versions of a posted invoice: one snapshot per status change (ISSUED, PAID, VOID), taken
in the transaction of that change, so that each version is drawn from what was true then.

A later branding change, a customer's new address, a void a second after posting: none of them
alters a version already taken, and every email attaches the version of its own event.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import Invoice, InvoiceSnapshot, InvoiceStatus, InvoiceVersion
from core.ids import new_id
from db.scope import TenantScope
from notifications.branding import Branding
from tenants.repositories import CustomerRepository, ScopedRepository

VERSION_OF = {
    InvoiceStatus.OPEN: InvoiceVersion.ISSUED,
    InvoiceStatus.CLOSED: InvoiceVersion.PAID,
    InvoiceStatus.VOID: InvoiceVersion.VOID,
}
# The seller's settings a document prints; the rest of its branding is about email.
SELLER_FIELDS = (
    "address",
    "control_panel_url",
    "website_url",
    "tax_id",
    "payment_instructions",
)


def version_of(status: InvoiceStatus) -> InvoiceVersion | None:
    """The version a status is drawn as; None for a DRAFT, which has none."""
    return VERSION_OF.get(status)


class InvoiceSnapshotRepository(ScopedRepository[InvoiceSnapshot]):
    model = InvoiceSnapshot

    async def of_invoice(
        self, invoice_id: uuid.UUID, version: InvoiceVersion
    ) -> InvoiceSnapshot | None:
        statement = self.select().where(
            InvoiceSnapshot.invoice_id == invoice_id, InvoiceSnapshot.version == version
        )
        return (await self.session.scalars(statement)).first()


async def take_snapshot(
    session: AsyncSession, scope: TenantScope, invoice: Invoice, brand: Branding
) -> InvoiceSnapshot:
    """Keep the version of the invoice's new status (called once per status change)."""
    version = version_of(invoice.status)
    if version is None:
        raise ValueError("a DRAFT has no version to keep")
    buyer: dict[str, str | None] = {"name": invoice.buyer_name, "email": invoice.buyer_email}
    if invoice.customer_id is not None:
        customer = await CustomerRepository(session, scope).get(invoice.customer_id)
        if customer is not None:
            buyer |= {"tax_id": customer.tax_id, "address": customer.address}
    snapshot = InvoiceSnapshot(
        reseller_id=invoice.reseller_id,
        id=new_id(),
        invoice_id=invoice.id,
        version=version,
        status=invoice.status,
        amount_paid=invoice.amount_paid,
        seller={"name": brand.name} | {key: getattr(brand, key) for key in SELLER_FIELDS},
        buyer=buyer,
        logo=brand.logo,
        logo_content_type=brand.logo_content_type if brand.logo else None,
    )
    session.add(snapshot)
    await session.flush()
    return snapshot
