"""The emails of dunning as they are sent: payment failed (the gateway's reason, the retry in
the account's local time, a link to update the card), deactivated (what is unpaid, the link),
reactivated; drawn by headless chromium into test-artifacts/notifications/."""

from __future__ import annotations

import email
from datetime import datetime
from email import policy
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest

from db.database import Database
from tests.catalog import Shop
from tests.factories import World
from tests.notifications.test_invoice_emails import CHROMIUM, screenshot
from tests.payments.harness import OWNER, build

CARD_PAGE = "http://127.0.0.1:8000/billing/card"


def _parsed(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def _parts(message: EmailMessage) -> tuple[str, str]:
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    assert html is not None and text is not None
    return html.get_content(), text.get_content()


async def test_dunning_emails_say_why_when_and_where_to_fix_it(
    db: Database, world: World, shop: Shop
):
    payments = build(db, retries=1)
    a = world.a.id
    await payments.set_timezone(a, "Asia/Kolkata")
    await payments.cards.update(a, "pm_card_chargeCustomerFailInsufficientFunds", OWNER)
    invoice_id = await payments.wholesale_invoice(shop, a, world.a.customers[0])
    payments.clock.at(datetime(2027, 3, 2, 14, 0, tzinfo=ZoneInfo("Asia/Kolkata")))
    await payments.post(invoice_id)
    await payments.run_due()
    [retry] = await payments.retries(a)
    payments.clock.now = retry.run_at
    await payments.run_due()  # the only retry fails: deactivated
    await payments.cards.reactivate(a, "pm_card_visa", OWNER)
    owner = world.a.emails["owner"]
    mail = {}
    for event in ("PAYMENT_FAILED", "ACCOUNT_DEACTIVATED", "ACCOUNT_REACTIVATED"):
        [row] = [m for m in await payments.mail(a, event) if m.recipient == owner]
        mail[event] = _parsed(row.message)

    failed_html, failed_text = _parts(mail["PAYMENT_FAILED"])
    assert "Your card has insufficient funds." in failed_text and ".." not in failed_text
    assert "Tuesday 02 March 2027, 20:00 (Asia/Kolkata)" in failed_text  # local, not UTC
    assert "Visa ending in 9995" in failed_text
    assert f'href="{CARD_PAGE}"' in failed_html and CARD_PAGE in failed_text
    assert mail["PAYMENT_FAILED"]["Subject"].startswith("Payment of ")

    gone_html, gone_text = _parts(mail["ACCOUNT_DEACTIVATED"])
    assert "Add a new card to reactivate it at once" in gone_text
    assert "deactivated" in mail["ACCOUNT_DEACTIVATED"]["Subject"]
    assert " unpaid" in mail["ACCOUNT_DEACTIVATED"]["Subject"]
    assert f'href="{CARD_PAGE}"' in gone_html
    back_html, back_text = _parts(mail["ACCOUNT_REACTIVATED"])
    assert "Globex" not in back_text
    assert "active again" in back_text

    if not CHROMIUM:
        pytest.skip("no chromium to draw the emails with")
    for event, html in (
        ("PAYMENT_FAILED", failed_html),
        ("ACCOUNT_DEACTIVATED", gone_html),
        ("ACCOUNT_REACTIVATED", back_html),
    ):
        await screenshot(html, f"dunning-{event.lower().replace('_', '-')}.png")
