"""Invoice emails end to end: a reseller brands its mail, posts an invoice with notifyCustomer, and
the server's own dispatcher delivers it to a real SMTP server on loopback, branded, with the logo
inline and the PDF attached. A reseller without settings mails with the platform's branding; a
disabled event mails nothing; a refused change mails nothing."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import re
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

import pypdf
import pytest
from playwright.async_api import async_playwright

from billing.lifecycle import BillingPolicy, InvoiceLifecycle
from billing.models import InvoiceStatus
from db.database import Database
from db.scope import TenantScope
from notifications.emails import Composer
from schema.relay import decode_id, to_global_id
from tenants.audit import Actor
from tests.api.test_notification_settings import UPDATE, png, upload
from tests.billing.drafts import retail_drafts
from tests.catalog import Shop
from tests.conftest import Api
from tests.factories import World
from tests.notifications import SmtpServer, eventually

POST = """mutation($id: ID!, $status: InvoiceStatus!) {
  updateInvoiceStatus(input: {invoiceId: $id, status: $status}) {
    invoice { number dueDate amountDue { amount formatted } } errors { code message }
  }
}"""
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "notifications"
CHROMIUM = os.environ.get("CHANNELBILL_CHROMIUM") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)


async def draft_of(db: Database, world: World, shop: Shop, tenant: str) -> str:
    t = getattr(world, tenant)
    [made] = await retail_drafts(db, t.id, [t.customers[0]], [shop.products["m365"]])
    return to_global_id("Invoice", made)


async def settings(api: Api, token: str, **fields: object) -> None:
    body = await api(UPDATE, {"input": fields}, token)
    assert body["data"]["updateNotificationSettings"]["errors"] == [], body


async def delivered(smtp: SmtpServer, count: int) -> list[EmailMessage]:
    async def arrived() -> bool:
        return len(smtp.inbox.messages()) >= count

    await eventually(arrived, what=f"{count} message(s)")
    return [r.message for r in smtp.inbox.messages()]


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


async def test_a_posted_invoice_is_mailed_branded_with_its_pdf(
    mailing_api: Api, smtp: SmtpServer, db: Database, world: World, shop: Shop
):
    api = mailing_api
    owner = world.token("owner", world.a)
    logo = png(120, 40)

    # given reseller A's logo, links, sender and reply-to
    assert (await upload(api, owner, logo))["data"]["updateNotificationSettings"]["errors"] == []
    await settings(
        api,
        owner,
        senderName="Alpha Cloud",
        replyTo="accounts@alpha.example",
        controlPanelUrl="https://panel.alpha.example/billing",
        websiteUrl="https://alpha.example",
        address="1 Cloud Street\n10115 Berlin",
    )
    invoice = await draft_of(db, world, shop, "a")

    # when it posts the invoice, notifying the customer
    body = await api(POST, {"id": invoice, "status": "OPEN"}, owner)
    posted = body["data"]["updateInvoiceStatus"]["invoice"]
    [message] = await delivered(smtp, 1)

    # then the customer's email reads as the customer expects, from Alpha
    assert message["To"] == "c1@alpha-customers.example"
    assert message["From"].addresses[0].display_name == "Alpha Cloud"
    assert message["Reply-To"] == "accounts@alpha.example"
    due = f"€{Decimal(posted['amountDue']['amount']):,}"  # as the API and the PDF write it
    assert due == posted["amountDue"]["formatted"]
    assert message["Subject"] == (
        f"Invoice {posted['number']} from Alpha Reseller \u2014 {due} due {posted['dueDate']}"
    )
    html = html_of(message)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    for link in ("https://panel.alpha.example/billing", "https://alpha.example"):
        assert f'href="{link}"' in html and link in text
    assert "10115 Berlin" in html and due in text

    # the logo is an inline image the HTML shows by its Content-ID
    [cid] = re.findall(r'src="cid:([^"]+)"', html)
    [image] = [p for p in message.walk() if p.get("Content-ID") == f"<{cid}>"]
    assert image.get_content_type() == "image/png" and image.get_content() == logo

    # the invoice PDF is attached, and is that invoice
    [pdf] = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert pdf.get_filename() == f"invoice-{posted['number']}.pdf"
    first_page = pypdf.PdfReader(io.BytesIO(pdf.get_content())).pages[0].extract_text()
    assert posted["number"] in first_page and "Alpha Reseller" in first_page

    if CHROMIUM:
        await screenshot(html.replace(f"cid:{cid}", _data_uri(logo)), "invoice-posted.png")


async def test_each_reseller_mails_with_its_own_branding_or_the_platforms(
    mailing_api: Api, smtp: SmtpServer, db: Database, world: World, shop: Shop
):
    api = mailing_api
    # given the platform's branding, and A's own sender; B has set nothing
    await settings(
        api, world.token("platform"), senderName="Channelbill", websiteUrl="https://cb.example"
    )
    await settings(api, world.token("owner", world.a), senderName="Alpha Cloud")
    a, b = await draft_of(db, world, shop, "a"), await draft_of(db, world, shop, "b")

    # when both post an invoice
    for token, invoice in ((world.token("owner", world.a), a), (world.token("owner", world.b), b)):
        body = await api(POST, {"id": invoice, "status": "OPEN"}, token)
        assert body["data"]["updateInvoiceStatus"]["errors"] == []
    messages = {m["To"]: m for m in await delivered(smtp, 2)}

    # then each mail carries its seller's branding, and B's falls back to the platform's
    to_a, to_b = messages["c1@alpha-customers.example"], messages["c1@bravo-customers.example"]
    assert to_a["From"].addresses[0].display_name == "Alpha Cloud"
    assert to_b["From"].addresses[0].display_name == "Channelbill"
    assert "Bravo Reseller" in to_b["Subject"]
    # A set no website: both fall back to the platform's
    assert all('href="https://cb.example"' in html_of(m) for m in (to_a, to_b))
    assert "cid:" not in html_of(to_b)  # no logo anywhere: none inlined


async def test_a_disabled_event_or_a_refused_change_mails_nothing(
    mailing_api: Api, smtp: SmtpServer, db: Database, world: World, shop: Shop
):
    api = mailing_api
    owner = world.token("owner", world.a)
    # given A mails receipts only, and a draft that cannot be closed
    await settings(api, owner, enabledEvents=["INVOICE_PAID"], attachInvoicePdf=False)
    invoice = await draft_of(db, world, shop, "a")
    refused = await api(POST, {"id": invoice, "status": "CLOSED"}, owner)
    assert refused["data"]["updateInvoiceStatus"]["errors"][0]["code"] == "INVALID_TRANSITION"

    # when it posts (disabled) and closes (enabled) the invoice
    await api(POST, {"id": invoice, "status": "OPEN"}, owner)
    await api(POST, {"id": invoice, "status": "CLOSED"}, owner)

    # then the receipt alone arrives
    [message] = await delivered(smtp, 1)
    assert message["Subject"].startswith("Receipt for invoice")
    assert not list(message.iter_attachments())


async def test_a_status_change_that_rolls_back_mails_nothing(
    mailing_api: Api, smtp: SmtpServer, db: Database, world: World, shop: Shop
):
    api = mailing_api
    scope = TenantScope.tenant(world.a.id)
    lifecycle = InvoiceLifecycle(Composer("Billing <billing@platform.example>"), BillingPolicy())
    rolled_back = await draft_of(db, world, shop, "a")
    rolled_back_id = decode_id(rolled_back, "Invoice", field="id")

    # when a posting queues its email, then fails later in the same transaction
    with pytest.raises(RuntimeError, match="after the posting"):
        async with db.write(scope) as session:
            await lifecycle.update_status(
                session, scope, Actor.system(), rolled_back_id, InvoiceStatus.OPEN
            )
            raise RuntimeError("after the posting")
    # and another invoice is posted afterwards, through the API
    marker = await draft_of(db, world, shop, "b")
    body = await api(POST, {"id": marker, "status": "OPEN"}, world.token("owner", world.b))
    assert body["data"]["updateInvoiceStatus"]["errors"] == []

    # then the dispatcher delivers the later one, and never the rolled-back one
    [message] = await delivered(smtp, 1)
    assert message["To"] == "c1@bravo-customers.example"
    await asyncio.sleep(0.3)  # several polls of the dispatcher
    assert [r.message["To"] for r in smtp.inbox.messages()] == ["c1@bravo-customers.example"]


def _data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


async def screenshot(html: str, name: str) -> None:
    """The mail as a person sees it, drawn by headless chromium, for test-artifacts/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            page = await browser.new_page(viewport={"width": 700, "height": 600})
            await page.route("**/*", lambda route: route.abort())  # nothing leaves the page
            await page.set_content(html)
            await page.screenshot(path=str(ARTIFACTS / name), full_page=True)
        finally:
            await browser.close()
    assert (ARTIFACTS / name).read_bytes().startswith(b"\x89PNG")
