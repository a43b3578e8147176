"""Posted invoices stay as issued: each version (ISSUED, PAID, VOID) is drawn from what was true
when it was taken, every email attaches the version of its own event, and a later branding or
customer change alters no posted PDF. And what the face of an invoice says about seller, buyer
and payment. Real parts throughout: the app's services, the outbox dispatcher writing .eml
files, the sandbox card gateway, PDFs parsed back with pypdf."""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pypdf
import pytest
from PIL import Image
from sqlalchemy import select
from starlette.applications import Starlette

from billing.models import InvoiceKind, InvoiceSnapshot, InvoiceStatus, InvoiceVersion
from db.database import Database
from db.scope import TenantScope
from documents.formats import DocumentFormat
from documents.service import Documents
from notifications.models import OutboxMessage
from notifications.settings import SettingsChange, update_settings
from schema.relay import to_global_id
from server.mail import build_dispatcher
from server.settings import Settings
from tenants.services import CustomerChanges, update_customer
from tests.billing.drafts import SYSTEM, retail_drafts, run_billing, subscribe
from tests.catalog import Shop, make_catalog
from tests.factories import World
from tests.payments.harness import OWNER

PAY = """mutation($id: ID!) { payInvoice(input: {invoiceId: $id}) {
  invoice { status } errors { code message } } }"""
DECEMBER = (date(2026, 12, 1), date(2026, 12, 31))


def pdf_text(body: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(body)).pages)


def logo(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 20), colour).save(out, "PNG")
    return out.getvalue()


def pdf_images(body: bytes) -> list[bytes]:
    return [image.data for page in pypdf.PdfReader(io.BytesIO(body)).pages for image in page.images]


@pytest.fixture
async def shop(db: Database, world: World) -> Shop:
    return await make_catalog(db)


@pytest.fixture
async def draft(db: Database, world: World, shop: Shop) -> uuid.UUID:
    """A draft of reseller A's first customer."""
    [made] = await retail_drafts(db, world.a.id, [world.a.customers[0]], [shop.products["m365"]])
    return made


async def set_status(
    app: Starlette, db: Database, invoice_id: uuid.UUID, status: InvoiceStatus
) -> None:
    """A status change as updateInvoiceStatus makes it, the buyer notified."""
    async with db.write(TenantScope.system()) as session:
        await app.state.services.lifecycle.update_status(
            session, TenantScope.system(), SYSTEM, invoice_id, status, True
        )


async def brand(db: Database, reseller_id: uuid.UUID | None, **change: Any) -> None:
    async with db.write(TenantScope.system()) as session:
        await update_settings(session, reseller_id, SettingsChange(**change))


async def pdf(app: Starlette, reseller_id: uuid.UUID, invoice_id: uuid.UUID) -> bytes:
    """The PDF a download gives, as the seller's users see it."""
    found = await app.state.services.documents.invoice(
        TenantScope.tenant(reseller_id), invoice_id, reseller_id, DocumentFormat.PDF
    )
    assert found is not None
    body: bytes = found.body
    return body


async def deliver(settings: Settings, db: Database) -> list[EmailMessage]:
    """Run the outbox dispatcher the server builds (its file transport) until nothing is due;
    the messages it wrote."""
    dispatcher = build_dispatcher(settings, db, Documents(db, settings.platform_name))
    while await dispatcher.run_once():
        pass
    return await asyncio.to_thread(read_mail, Path(settings.outbox_dir))


def read_mail(directory: Path) -> list[EmailMessage]:
    return [
        message_from_bytes(path.read_bytes(), policy=policy.default)  # type: ignore[misc]
        for path in sorted(directory.glob("*.eml"))
    ]


def has_pdf(message: EmailMessage) -> bool:
    return any(p.get_content_type() == "application/pdf" for p in message.iter_attachments())


def attached_pdf(message: EmailMessage) -> bytes:
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
    body: bytes = part.get_content()
    return body


async def test_an_invoice_voided_right_after_posting_was_mailed_as_issued(
    app: Starlette, db: Database, settings: Settings, world: World, draft: uuid.UUID
):
    # given an invoice posted, its "issued" email (with the PDF) queued, and voided at once,
    # before any email went out
    await set_status(app, db, draft, InvoiceStatus.OPEN)
    await set_status(app, db, draft, InvoiceStatus.VOID)
    async with db.read(TenantScope.system()) as session:
        attachments = {
            row.event: row.attachment
            for row in await session.scalars(
                select(OutboxMessage).where(OutboxMessage.about_id == draft)
            )
        }
    assert attachments["INVOICE_POSTED"] == "invoice_pdf:ISSUED"

    # when the dispatcher sends the mail, drawing each attachment as it sends
    messages = await deliver(settings, db)

    # then the "issued" email's PDF is the issued version: open, its amount due, no VOID stamp
    assert len(messages) == 2  # "issued" with its PDF, then "voided" without one
    [posted] = [m for m in messages if has_pdf(m)]
    issued = pdf_text(attached_pdf(posted))
    assert "OPEN" in issued
    assert "VOID" not in issued
    assert "Please pay" in issued
    # while a download now gives the void version
    now = pdf_text(await pdf(app, world.a.id, draft))
    assert "VOID" in now and "Please pay" not in now


async def test_a_logo_change_after_posting_leaves_the_posted_pdf_as_it_was(
    app: Starlette, db: Database, world: World, draft: uuid.UUID
):
    # given reseller A's red logo, an invoice posted then, and its PDF downloaded
    red, blue = logo((200, 20, 20)), logo((20, 20, 200))
    await brand(db, world.a.id, logo=red, address="1 Old Street")
    await set_status(app, db, draft, InvoiceStatus.OPEN)
    before = await pdf(app, world.a.id, draft)
    documents = app.state.services.documents
    renders = documents.pdf_renders

    # when A changes its logo and address, and the PDF is downloaded again
    await brand(db, world.a.id, logo=blue, address="2 New Street")
    after = await pdf(app, world.a.id, draft)

    # then it is the same file, drawn from the branding as it was at posting
    assert after == before
    assert documents.pdf_renders == renders
    assert "1 Old Street" in pdf_text(after)

    # and an invoice posted after the change shows the new branding
    [later] = await run_billing(db, TenantScope.tenant(world.a.id), DECEMBER)
    await set_status(app, db, later, InvoiceStatus.OPEN)
    fresh = await pdf(app, world.a.id, later)
    assert "2 New Street" in pdf_text(fresh) and "1 Old Street" not in pdf_text(fresh)
    assert pdf_images(fresh) != pdf_images(before)


async def test_the_kept_versions_are_drawn_again_the_same_without_the_cache(
    app: Starlette, db: Database, world: World, draft: uuid.UUID
):
    # given an invoice posted, and its seller's branding changed since
    await brand(db, world.a.id, address="1 Old Street", tax_id="GB123456789")
    await set_status(app, db, draft, InvoiceStatus.OPEN)
    await brand(db, world.a.id, address="2 New Street", tax_id="GB999999999")
    async with db.write(TenantScope.tenant(world.a.id)) as session:
        await update_customer(
            session,
            TenantScope.tenant(world.a.id),
            world.a.customers[0],
            CustomerChanges(address="Moved Away 9", tax_id="NEW-TAX"),
        )

    # when it is drawn for the first time (nothing kept yet)
    text = pdf_text(await pdf(app, world.a.id, draft))

    # then it says what was true at posting
    assert "1 Old Street" in text and "GB123456789" in text
    assert "2 New Street" not in text and "GB999999999" not in text
    assert "Moved Away 9" not in text and "NEW-TAX" not in text


async def test_a_paid_invoice_shows_the_paid_version_and_its_card(
    app: Starlette, db: Database, world: World, shop: Shop, api: Any
):
    # given the platform's invoice to A, posted, and A's card on file
    services = app.state.services
    await services.payments.cards.set_autopay(world.a.id, False, OWNER)
    await brand(db, None, tax_id="PLATFORM-VAT-1", payment_instructions="IBAN XX00 1111")
    await subscribe(db, world.a.id, [world.a.customers[0]], [shop.products["m365"]], 2)
    [wholesale] = await run_billing(db, TenantScope.system(), kind=InvoiceKind.WHOLESALE)
    await set_status(app, db, wholesale, InvoiceStatus.OPEN)
    issued = pdf_text(await pdf(app, world.a.id, wholesale))
    await services.payments.cards.update(world.a.id, "pm_card_visa", OWNER)

    # when A pays it by card
    body = await api(PAY, {"id": to_global_id("Invoice", wholesale)}, world.token("owner", world.a))
    assert body["data"]["payInvoice"]["errors"] == [], body

    # then the download is the PAID version: closed, paid by the card, nothing due
    paid = pdf_text(await pdf(app, world.a.id, wholesale))
    assert "CLOSED" in paid
    assert "Paid by card ending 4242" in paid
    assert "IBAN XX00 1111" not in paid  # nothing is left to pay
    assert "PLATFORM-VAT-1" in paid
    # and the issued version said how to pay, and nothing of a card
    assert "IBAN XX00 1111" in issued and "Paid by card" not in issued
    # both versions are kept, one row each
    async with db.read(TenantScope.system()) as session:
        versions = await session.scalars(
            select(InvoiceSnapshot.version).where(InvoiceSnapshot.invoice_id == wholesale)
        )
        assert sorted(versions) == [InvoiceVersion.ISSUED, InvoiceVersion.PAID]


async def test_the_face_shows_tax_ids_payment_instructions_and_the_buyer_address(
    app: Starlette, db: Database, world: World, draft: uuid.UUID
):
    # given A's tax id and bank details, and its customer's address and tax id
    await brand(
        db,
        world.a.id,
        tax_id="DE811907980",
        payment_instructions="Alpha Bank\nIBAN DE89 3704 0044 0532 0130 00",
    )
    async with db.write(TenantScope.tenant(world.a.id)) as session:
        await update_customer(
            session,
            TenantScope.tenant(world.a.id),
            world.a.customers[0],
            CustomerChanges(address="Hauptstr. 5\n10115 Berlin", tax_id="DE999888777"),
        )

    # when the invoice is posted and its PDF read back
    await set_status(app, db, draft, InvoiceStatus.OPEN)
    text = pdf_text(await pdf(app, world.a.id, draft))

    # then the face names them all
    for expected in (
        "Tax ID: DE811907980",
        "Alpha Bank",
        "IBAN DE89 3704 0044 0532 0130 00",
        "Hauptstr. 5",
        "10115 Berlin",
        "Tax ID: DE999888777",
        "PAYMENT",  # the heading, upper-case as every heading
    ):
        assert expected in text, expected
    assert "Paid by card" not in text
