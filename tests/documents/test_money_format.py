"""One money format for people (core.currency, Babel, en_US): the invoice and statement views, the
emails and the API's Money.formatted write every amount alike, and a unit price keeps its finer
digits instead of being rounded to the currency's."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from core.currency import format_money, format_price
from documents.html import invoice_html, statement_html
from notifications.branding import Branding
from notifications.emails import Composer, InvoiceFacts, amount
from notifications.models import NotificationEvent
from schema.money import Money
from tests.documents import make_invoice, make_line, make_statement


@pytest.mark.parametrize(
    ("value", "currency", "money", "price"),
    [
        (Decimal("1234.5"), "EUR", "€1,234.50", "€1,234.50"),
        (Decimal("20.625"), "EUR", "€20.63", "€20.625"),  # half up, as the invoice rounds
        (Decimal("0.012500"), "USD", "$0.01", "$0.0125"),
        (Decimal("1E+3"), "USD", "$1,000.00", "$1,000.00"),
        (Decimal("1200"), "JPY", "¥1,200", "¥1,200"),
        (Decimal("0.5"), "JPY", "¥1", "¥0.5"),
        (Decimal("2"), "KWD", "KWD2.000", "KWD2.000"),
        (Decimal("-0.001"), "EUR", "€0.00", "-€0.001"),  # a rounded zero has no sign
        (Decimal("-12.5"), "CHF", "-CHF12.50", "-CHF12.50"),
    ],
)
def test_money_and_prices_are_written_one_way(
    value: Decimal, currency: str, money: str, price: str
):
    assert format_money(value, currency) == money
    assert format_price(value, currency) == price


def test_the_locale_decides_signs_and_separators():
    assert format_money(Decimal("1234.5"), "EUR", "de_DE") == "1.234,50\xa0€"
    assert format_price(Decimal("20.625"), "EUR", "de_DE") == "20,625\xa0€"


@pytest.mark.parametrize("pdf", [False, True], ids=["print", "pdf"])
def test_an_invoice_writes_unit_prices_and_amounts_alike(pdf: bool):
    # given 5 seats at 20.625 EUR: 103.125, rounded 103.13
    line = make_line(1, quantity=Decimal(5), unit_price=Decimal("20.625"), amount=Decimal("103.13"))
    doc = make_invoice(
        lines=[line],
        subtotal=Decimal("103.13"),
        tax_rate=Decimal(0),
        tax=Decimal(0),
        total=Decimal("103.13"),
    )

    # when
    html = invoice_html(doc, pdf=pdf)

    # then
    assert "€20.625" in html and "€103.13" in html
    assert "20.625 EUR" not in html and "€20.63" not in html


def test_a_statement_writes_amounts_as_the_invoice_does():
    # given
    doc = make_statement()

    # when
    html = statement_html(doc)

    # then
    for value in (Decimal("250"), Decimal("119"), Decimal("206.5"), Decimal("37.5")):
        assert format_money(value, "EUR") in html
    assert "206.50 EUR" not in html


def test_emails_state_sums_as_documents_and_the_api_do():
    # given
    facts = InvoiceFacts(
        seller="Acme Cloud GmbH",
        buyer="Kunde Müller",
        label="CB-2026-000042",
        period_start=date(2026, 11, 1),
        period_end=date(2026, 11, 30),
        currency="EUR",
        total=Decimal("1234.5"),
        amount_due=Decimal("1234.5"),
        due_date=date(2026, 12, 31),
    )
    formatted = Money.of(Decimal("1234.5"), "EUR").formatted()

    # when
    subjects = {event: facts.subject(event) for event in NotificationEvent if "INVOICE" in event}
    context = facts.context()

    # then
    assert formatted == amount(Decimal("1234.5"), "EUR") == "€1,234.50"
    assert context["total"] == context["amount_due"] == formatted
    assert subjects[NotificationEvent.INVOICE_POSTED].endswith(f"{formatted} due 2026-12-31")
    assert subjects[NotificationEvent.INVOICE_PAID].endswith(f"{formatted} paid")
    assert not any("EUR" in subject for subject in subjects.values())


def test_an_emails_body_has_the_same_sum_as_its_subject():
    # given
    composer = Composer("Billing <billing@platform.example>")
    brand = Branding(name="Acme Cloud GmbH")

    # when
    message = composer.sample(
        NotificationEvent.INVOICE_POSTED,
        "someone@example.com",
        brand,
        recipient_name="Someone",
        organisation="Acme Cloud GmbH",
        currency="USD",
        invoice_prefix="CB",
        today=date(2026, 12, 1),
    )

    # then
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "$1,234.50" in message["Subject"] and "$1,234.50" in text
    assert "1,234.50 USD" not in text


def test_an_exact_unit_price_is_formatted_with_its_digits_in_the_api():
    assert Money.of(Decimal("20.625000"), "EUR", exact=True).formatted() == "€20.625"
    assert Money.of(Decimal("20.625000"), "EUR").formatted() == "€20.63"
