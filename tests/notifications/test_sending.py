"""Mail sent on request, end to end over HTTP and SMTP: sendInvoice mails a copy with the PDF;
Invoice.notifications lists every message about the invoice with its delivery status;
sendTestNotification previews each event's email, branded, to the caller; invitations come from
the platform, with its branding."""

from __future__ import annotations

import io
import re
from email.message import EmailMessage

import pypdf

from db.database import Database
from schema.relay import to_global_id
from tests.api.test_notification_settings import png, upload
from tests.catalog import Shop
from tests.conftest import Api
from tests.factories import World
from tests.notifications import SmtpServer, eventually
from tests.notifications.test_invoice_emails import (
    CHROMIUM,
    POST,
    _data_uri,
    delivered,
    draft_of,
    html_of,
    screenshot,
    settings,
)

SEND = """mutation($input: SendInvoiceInput!) {
  sendInvoice(input: $input) { recipients invoice { number } errors { code field message } }
}"""
NOTIFICATIONS = """query($id: ID!) { node(id: $id) { ... on Invoice { notifications {
  event origin recipient subject status attempts error invoicePdfAttached queuedAt sentAt
  nextAttemptAt } } } }"""
TEST = """mutation($input: SendTestNotificationInput!) {
  sendTestNotification(input: $input) { recipient subject notificationId
    errors { code field message } }
}"""
INVITE = """mutation($input: InviteUserInput!) {
  inviteUser(input: $input) { user { status } errors { code } }
}"""
EVENTS = [
    "INVOICE_POSTED",
    "INVOICE_PAID",
    "INVOICE_VOIDED",
    "PAYMENT_FAILED",
    "ACCOUNT_DEACTIVATED",
    "ACCOUNT_REACTIVATED",
    "INVITATION",
    "WEBHOOK_DISABLED",
]


def pdfs(message: EmailMessage) -> list[EmailMessage]:
    return [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


async def notifications(api: Api, token: str, invoice: str) -> list[dict]:
    body = await api(NOTIFICATIONS, {"id": invoice}, token)
    assert "errors" not in body, body
    found: list[dict] = body["data"]["node"]["notifications"]
    return found


async def test_send_invoice_mails_a_copy_with_its_pdf_and_lists_every_message(
    mailing_api: Api, smtp: SmtpServer, db: Database, world: World, shop: Shop
):
    api = mailing_api
    owner = world.token("owner", world.a)
    # given A attaches no PDF to its own emails, a posted invoice, and one mailbox that bounces
    await settings(api, owner, attachInvoicePdf=False)
    invoice = await draft_of(db, world, shop, "a")
    posted = (await api(POST, {"id": invoice, "status": "OPEN"}, owner))["data"]
    number = posted["updateInvoiceStatus"]["invoice"]["number"]
    [notice] = await delivered(smtp, 1)
    assert pdfs(notice) == []
    smtp.inbox.reject["gone@example.org"] = "550 5.1.1 mailbox unavailable"

    # when the owner sends a copy to the accountant (named twice) and to the bouncing mailbox
    to = ["Accounts@Example.org", "accounts@example.org", "gone@example.org"]
    body = await api(SEND, {"input": {"invoiceId": invoice, "to": to}}, owner)

    # then each address gets one copy, the PDF attached whatever A's setting
    sent = body["data"]["sendInvoice"]
    assert sent == {
        "recipients": ["accounts@example.org", "gone@example.org"],
        "invoice": {"number": number},
        "errors": [],
    }
    messages = await delivered(smtp, 2)
    [copy] = [m for m in messages if m["To"] == "accounts@example.org"]
    assert copy["Subject"].startswith(f"Invoice {number} from Alpha Reseller \u2014 ")
    [pdf] = pdfs(copy)
    page = pypdf.PdfReader(io.BytesIO(pdf.get_content())).pages[0].extract_text()
    assert number in page

    # and the invoice lists all three messages: delivered, delivered, and failed with the reason
    async def settled() -> bool:
        rows = await notifications(api, owner, invoice)
        return len(rows) == 3 and all(r["status"] != "QUEUED" for r in rows)

    await eventually(settled, what="three settled notifications")
    rows = {r["recipient"]: r for r in await notifications(api, owner, invoice)}
    first = rows["c1@alpha-customers.example"]
    assert (first["event"], first["origin"], first["status"]) == ("INVOICE_POSTED", "EVENT", "SENT")
    assert first["invoicePdfAttached"] is False and first["sentAt"] is not None
    accountant = rows["accounts@example.org"]
    assert (accountant["origin"], accountant["status"]) == ("COPY", "SENT")
    assert accountant["invoicePdfAttached"] is True and accountant["error"] is None
    assert accountant["subject"] == copy["Subject"]
    bounced = rows["gone@example.org"]
    assert (bounced["origin"], bounced["status"], bounced["sentAt"]) == ("COPY", "FAILED", None)
    assert "550" in bounced["error"] and "mailbox unavailable" in bounced["error"]
    assert bounced["nextAttemptAt"] is None and bounced["attempts"] == 1

    # and another reseller's owner sees none of it
    other = await api(NOTIFICATIONS, {"id": invoice}, world.token("owner", world.b))
    assert other["data"]["node"] is None


async def test_send_invoice_goes_to_the_buyer_by_default_and_as_the_receipt_once_paid(
    mailing_api: Api, smtp: SmtpServer, db: Database, world: World, shop: Shop
):
    api = mailing_api
    owner = world.token("owner", world.a)
    invoice = await draft_of(db, world, shop, "a")
    for status in ("OPEN", "CLOSED"):
        body = await api(
            POST.replace("status: $status}", "status: $status, notifyCustomer: false}"),
            {"id": invoice, "status": status},
            owner,
        )
        assert body["data"]["updateInvoiceStatus"]["errors"] == []

    # when a copy is sent with no address
    body = await api(SEND, {"input": {"invoiceId": invoice}}, owner)

    # then it goes to the buyer's billing email, as the receipt of a paid invoice
    assert body["data"]["sendInvoice"]["recipients"] == ["c1@alpha-customers.example"]
    [message] = await delivered(smtp, 1)
    assert message["Subject"].startswith("Receipt for invoice ")
    assert len(pdfs(message)) == 1


async def test_send_invoice_refuses_bad_input_and_queues_nothing(
    mailing_api: Api, smtp: SmtpServer, db: Database, world: World, shop: Shop
):
    api = mailing_api
    owner = world.token("owner", world.a)
    invoice = await draft_of(db, world, shop, "a")

    # a draft is not sent
    body = await api(SEND, {"input": {"invoiceId": invoice, "to": ["x@example.org"]}}, owner)
    [error] = body["data"]["sendInvoice"]["errors"]
    assert (error["code"], error["field"]) == ("INVOICE_NOT_POSTED", "invoiceId")

    await api(
        POST.replace("status: $status}", "status: $status, notifyCustomer: false}"),
        {"id": invoice, "status": "OPEN"},
        owner,
    )
    # a bad address is named, and the good one beside it is not mailed either
    body = await api(
        SEND, {"input": {"invoiceId": invoice, "to": ["ok@example.org", "not an address"]}}, owner
    )
    assert [(e["code"], e["field"]) for e in body["data"]["sendInvoice"]["errors"]] == [
        ("BAD_USER_INPUT", "to.1")
    ]
    assert body["data"]["sendInvoice"]["recipients"] == []
    # too many addresses
    many = [f"r{n}@example.org" for n in range(11)]
    body = await api(SEND, {"input": {"invoiceId": invoice, "to": many}}, owner)
    assert [e["field"] for e in body["data"]["sendInvoice"]["errors"]] == ["to"]

    # nothing was queued, nothing arrives
    assert await notifications(api, owner, invoice) == []
    assert smtp.inbox.messages() == []


async def test_a_test_notification_of_every_event_reaches_the_caller_branded(
    mailing_api: Api, smtp: SmtpServer, world: World
):
    api = mailing_api
    owner = world.token("owner", world.a)
    logo = png(160, 48)
    # given A's branding, with every event turned off
    assert (await upload(api, owner, logo))["data"]["updateNotificationSettings"]["errors"] == []
    await settings(
        api,
        owner,
        senderName="Alpha Cloud",
        replyTo="accounts@alpha.example",
        controlPanelUrl="https://panel.alpha.example",
        enabledEvents=[],
    )

    # when the owner asks for a preview of each event
    subjects = {}
    for event in EVENTS:
        body = await api(TEST, {"input": {"event": event}}, owner)
        sent = body["data"]["sendTestNotification"]
        assert sent["errors"] == [] and sent["recipient"] == world.a.emails["owner"], body
        subjects[event] = sent["subject"]

    # then each arrives at the owner's address, marked as a test, as A sends it; an
    # invitation as the platform sends it
    messages = {m["Subject"]: m for m in await delivered(smtp, len(EVENTS))}
    assert set(messages) == set(subjects.values())
    for event, subject in subjects.items():
        message = messages[subject]
        assert subject.startswith("[Test] "), subject
        assert message["To"] == world.a.emails["owner"]
        html, text = html_of(message), text_of(message)
        assert "Alpha Reseller" in text and pdfs(message) == []
        if event == "INVITATION":
            assert message["From"].addresses[0].display_name == "channelbill"
            assert "cid:" not in html and "Reply-To" not in message
            assert subject == "[Test] You are invited to Alpha Reseller on channelbill"
            continue
        assert message["From"].addresses[0].display_name == "Alpha Cloud"
        assert message["Reply-To"] == "accounts@alpha.example"
        [cid] = re.findall(r'src="cid:([^"]+)"', html)
        [image] = [p for p in message.walk() if p.get("Content-ID") == f"<{cid}>"]
        assert image.get_content() == logo
        assert 'href="https://panel.alpha.example"' in html
        if CHROMIUM:
            page = html.replace(f"cid:{cid}", _data_uri(logo))
            await screenshot(page, f"test-{event.lower().replace('_', '-')}.png")
    assert "— €1,234.50 due " in subjects["INVOICE_POSTED"]
    assert "Payment of €1,234.50 for" in subjects["PAYMENT_FAILED"]
    assert subjects["ACCOUNT_DEACTIVATED"].startswith("[Test] Your Alpha Reseller account is")
    retry = text_of(messages[subjects["PAYMENT_FAILED"]])
    assert "We will try again on " in retry and "Visa ending in 4242" in retry


async def test_a_platform_admin_previews_the_platforms_mail_or_a_resellers(
    mailing_api: Api, smtp: SmtpServer, world: World
):
    api = mailing_api
    admin = world.token("platform")
    await settings(api, admin, senderName="Channelbill Billing")
    await settings(api, world.token("owner", world.a), senderName="Alpha Cloud")

    # when the admin previews the platform's own mail, then reseller A's
    for fields in ({}, {"resellerId": to_global_id("Reseller", world.a.id)}):
        body = await api(TEST, {"input": {"event": "INVOICE_POSTED", **fields}}, admin)
        sent = body["data"]["sendTestNotification"]
        assert sent["errors"] == [] and sent["recipient"] == "admin@platform.example"

    # then both reach the admin, each with its seller's branding and invoice numbers
    messages = {m["From"].addresses[0].display_name: m for m in await delivered(smtp, 2)}
    assert set(messages) == {"Channelbill Billing", "Alpha Cloud"}
    assert "Alpha Reseller" in messages["Alpha Cloud"]["Subject"]
    assert all(m["To"] == "admin@platform.example" for m in messages.values())


async def test_an_invitation_comes_from_the_platform_with_its_branding(
    mailing_api: Api, smtp: SmtpServer, world: World
):
    api = mailing_api
    admin = world.token("platform")
    logo = png(90, 30)
    # given the platform's logo and sender, even with INVITATION turned off, and A's own sender
    assert (await upload(api, admin, logo))["data"]["updateNotificationSettings"]["errors"] == []
    await settings(api, admin, senderName="Channelbill Onboarding", enabledEvents=[])
    await settings(api, world.token("owner", world.a), senderName="Alpha Cloud")

    # when A's owner invites a colleague
    body = await api(
        INVITE,
        {"input": {"email": "new@alpha.example", "name": "New Person", "role": "MEMBER"}},
        world.token("owner", world.a),
    )
    assert body["data"]["inviteUser"]["errors"] == []

    # then the invitation arrives from the platform, with the platform's logo
    [message] = await delivered(smtp, 1)
    assert message["From"].addresses[0].display_name == "Channelbill Onboarding"
    assert "Alpha Reseller" in message["Subject"]
    html = html_of(message)
    [cid] = re.findall(r'src="cid:([^"]+)"', html)
    [image] = [p for p in message.walk() if p.get("Content-ID") == f"<{cid}>"]
    assert image.get_content() == logo
    assert re.search(r"/activate#token=\S+", text_of(message))


async def test_during_an_smtp_outage_a_copy_waits_queued_and_is_sent_once_it_ends(
    mailing_api: Api, smtp: SmtpServer, db: Database, world: World, shop: Shop
):
    api = mailing_api
    owner, admin = world.token("owner", world.a), world.token("platform")
    invoice = await draft_of(db, world, shop, "a")
    await api(
        POST.replace("status: $status}", "status: $status, notifyCustomer: false}"),
        {"id": invoice, "status": "OPEN"},
        owner,
    )
    # given the mail server is down
    smtp.stop()
    body = await api(SEND, {"input": {"invoiceId": invoice}}, owner)
    assert body["data"]["sendInvoice"]["errors"] == []

    # then the copy waits, QUEUED, with why: in general words to the reseller, in full to the
    # platform's operators
    async def tried() -> bool:
        [row] = await notifications(api, owner, invoice)
        return row["error"] is not None

    await eventually(tried, what="a first failed attempt")
    [seen] = await notifications(api, owner, invoice)
    assert seen["status"] == "QUEUED" and seen["nextAttemptAt"] is not None
    assert "127.0.0.1" not in seen["error"] and "operators" in seen["error"]
    [operator] = await notifications(api, admin, invoice)
    assert str(smtp.port) in operator["error"]

    # when the server is back, the copy is delivered and recorded SENT
    smtp.start()
    [message] = await delivered(smtp, 1)
    assert message["To"] == "c1@alpha-customers.example"

    async def sent() -> bool:
        [row] = await notifications(api, owner, invoice)
        return row["status"] == "SENT"

    await eventually(sent, what="SENT recorded")
