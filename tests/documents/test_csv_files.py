"""CSV exports parsed back with the csv module: their rows, RFC 4180, plain decimals, and text that
a spreadsheet would take for a formula."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.models import InvoiceStatus
from billing.statements import Entry
from core.currency import minor_units
from documents import csv_files
from documents.content import InvoiceDocument, StatementLine
from documents.csv_files import DELIMITERS, FORMULA_STARTS, TRIGGERS, cell
from tests.documents import (
    BUYER,
    SELLER,
    make_charge,
    make_invoice,
    make_line,
    make_statement,
)

INVOICE_LEVEL = [
    "invoice_number",
    "document_id",
    "status",
    "issue_date",
    "due_date",
    "seller",
    "buyer",
    "vendor",
    "period_start",
    "period_end",
    "currency",
]
FIELD_COLUMNS = ["PO number", "Cost center"]  # make_invoice's custom fields, by their labels
INVOICE_HEADER = [
    *INVOICE_LEVEL,
    "line",
    "sku",
    "description",
    "kind",
    "service_start",
    "service_end",
    "quantity",
    "unit",
    "unit_price",
    "amount",
    *FIELD_COLUMNS,
]
INVOICE_DETAILED_HEADER = [
    *INVOICE_LEVEL,
    "line",
    "sku",
    "description",
    "charge_type",
    "reference",
    "start_date",
    "end_date",
    "quantity",
    "unit_price",
    "days",
    "period_days",
    "amount",
    "exact_amount",
    "line_amount",
    *FIELD_COLUMNS,
]
STATEMENT_HEADER = [
    "date",
    "kind",
    "reference",
    "description",
    "debit",
    "credit",
    "balance",
    "currency",
]
STATEMENT_DETAILED_HEADER = [
    "invoice_number",
    "status",
    "issue_date",
    "due_date",
    "line",
    "sku",
    "description",
    "kind",
    "service_start",
    "service_end",
    "quantity",
    "unit",
    "unit_price",
    "amount",
    "currency",
]
PLAIN_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
FORMULAS = ["=1+2", "+41", "-2+3", "@SUM(A1:A9)", "\tcmd", "\rcmd", '=HYPERLINK("http://x","y")']
TRICKY_TEXT = [
    "Seats, monthly",
    'The "Premium" plan',
    "two\nlines",
    "two\r\nlines, CRLF",
    'all of them: "a, b"\r\nc',
    " padded ",
    "",
]

Exporter = Callable[[InvoiceDocument], bytes]
INVOICE_EXPORTS: dict[str, Exporter] = {
    "csv": csv_files.invoice_csv,
    "detailed": csv_files.invoice_detailed_csv,
}


def parse(data: bytes) -> list[list[str]]:
    assert data.startswith(codecs.BOM_UTF8)  # before the header, once
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def records(data: bytes) -> list[dict[str, str]]:
    header, *rows = parse(data)
    assert all(len(row) == len(header) for row in rows)
    return [dict(zip(header, row, strict=True)) for row in rows]


def invoice_with_text(text: str) -> InvoiceDocument:
    """The text in every free-text cell of both invoice CSVs."""
    line = make_line(1, description=text, sku=text, unit=text)
    return make_invoice(
        seller=replace(SELLER, name=text),
        buyer=replace(BUYER, name=text),
        vendor=text,
        lines=[line],
        charges=[make_charge(line, reference=text)],
    )


TEXT_COLUMNS = {
    "csv": ["seller", "buyer", "vendor", "sku", "description", "unit"],
    "detailed": ["seller", "buyer", "vendor", "sku", "description", "reference"],
}


# --- rows -------------------------------------------------------------------------------------


def test_an_invoice_csv_has_a_header_and_one_row_per_line():
    # given
    doc = make_invoice()

    # when
    data = csv_files.invoice_csv(doc)

    # then
    header, *rows = parse(data)
    assert header == INVOICE_HEADER
    assert len(rows) == len(doc.lines) == 2
    assert records(data)[1] == {
        "invoice_number": "CB-2026-000042",
        "document_id": "D-7F3A9C",
        "status": "OPEN",
        "issue_date": "2026-12-01",
        "due_date": "2026-12-31",
        "seller": "Acme Cloud GmbH",
        "buyer": "Kunde Müller & Söhne GmbH",
        "vendor": "Microsoft",
        "period_start": "2026-11-01",
        "period_end": "2026-11-30",
        "currency": "EUR",
        "line": "2",
        "sku": "AZ-PLAN",
        "description": "Azure plan, usage",
        "kind": "USAGE",
        "service_start": "2026-11-01",
        "service_end": "2026-11-30",
        "quantity": "2",
        "unit": "unit",
        "unit_price": "31.25",
        "amount": "62.50",
        "PO number": "PO-4711",
        "Cost center": "CC-0815",
    }


def test_a_draft_has_no_number_in_its_csv():
    # given
    doc = make_invoice(status=InvoiceStatus.DRAFT, number=None)

    # when
    rows = records(csv_files.invoice_csv(doc))

    # then
    assert {(r["invoice_number"], r["document_id"], r["status"]) for r in rows} == {
        ("", "D-7F3A9C", "DRAFT")
    }


def test_an_invoice_without_lines_is_a_header_alone():
    assert parse(csv_files.invoice_csv(make_invoice(lines=[], charges=[]))) == [INVOICE_HEADER]


def test_a_detailed_invoice_csv_has_one_row_per_charge():
    # given line 1 behind two charges (a proration and a full period), line 2 one usage record
    first, second = make_invoice().lines
    charges = [
        make_charge(
            first,
            quantity=Decimal("1"),
            unit_price=Decimal("12.50"),
            days=15,
            amount=Decimal("6.25"),
            start_date=first.service_start.replace(day=16),
        ),
        make_charge(first, quantity=Decimal("2"), amount=Decimal("25.00")),
        make_charge(
            second,
            source="USAGE",
            reference="usage-2026-11-azure",
            days=None,
            period_days=None,
            unit_price=Decimal("0.0125"),
            quantity=Decimal("5000"),
            amount=Decimal("62.50"),
        ),
    ]
    doc = make_invoice(charges=charges)

    # when
    data = csv_files.invoice_detailed_csv(doc)

    # then
    header, *rows = parse(data)
    assert header == INVOICE_DETAILED_HEADER
    assert len(rows) == len(charges)
    found = records(data)
    assert [(r["line"], r["charge_type"], r["start_date"]) for r in found] == [
        ("1", "SUBSCRIPTION", "2026-11-16"),
        ("1", "SUBSCRIPTION", "2026-11-01"),
        ("2", "USAGE", "2026-11-01"),
    ]
    assert (found[0]["days"], found[0]["period_days"], found[0]["unit_price"]) == (
        "15",
        "30",
        "12.50",
    )
    usage = found[2]
    assert (usage["reference"], usage["days"], usage["period_days"]) == (
        "usage-2026-11-azure",
        "",
        "",
    )
    assert (usage["quantity"], usage["unit_price"]) == ("5000", "0.0125")


def test_a_statement_csv_has_opening_a_row_per_entry_and_closing():
    # given
    doc = make_statement()

    # when
    data = csv_files.statement_csv(doc)

    # then
    header, *rows = parse(data)
    assert header == STATEMENT_HEADER
    assert len(rows) == len(doc.statement.entries) + 2
    assert rows == [
        ["2026-11-01", "OPENING_BALANCE", "", "Opening balance", "", "", "250.00", "EUR"],
        [
            "2026-11-03",
            "INVOICE",
            "CB-2026-000041",
            "Invoice CB-2026-000041, 2026-10-01 to 2026-10-31",
            "119.00",
            "0.00",
            "369.00",
            "EUR",
        ],
        [
            "2026-11-20",
            "PAYMENT",
            "CB-2026-000041",
            "Payment for invoice CB-2026-000041",
            "0.00",
            "200.00",
            "169.00",
            "EUR",
        ],
        [
            "2026-12-01",
            "INVOICE",
            "CB-2026-000042",
            "Invoice CB-2026-000042, 2026-11-01 to 2026-11-30",
            "37.50",
            "0.00",
            "206.50",
            "EUR",
        ],
        ["2026-12-31", "CLOSING_BALANCE", "", "Closing balance", "", "", "206.50", "EUR"],
    ]


def test_an_empty_statement_still_opens_and_closes():
    # given
    doc = make_statement()
    doc = replace(doc, statement=replace(doc.statement, entries=[]))

    # when
    rows = records(csv_files.statement_csv(doc))

    # then
    assert [r["kind"] for r in rows] == ["OPENING_BALANCE", "CLOSING_BALANCE"]


def test_a_detailed_statement_csv_has_one_row_per_invoice_line():
    # given
    doc = make_statement()

    # when
    data = csv_files.statement_detailed_csv(doc)

    # then
    header, *rows = parse(data)
    assert header == STATEMENT_DETAILED_HEADER
    assert len(rows) == len(doc.lines) == 2
    assert [r["invoice_number"] for r in records(data)] == ["CB-2026-000041", "CB-2026-000042"]
    assert rows[0] == [
        "CB-2026-000041",
        "CLOSED",
        "2026-11-03",
        "2026-12-03",
        "1",
        "MS-365-BP-1",
        "Microsoft 365 Business Premium, seat pack 1",
        "RECURRING",
        "2026-11-01",
        "2026-11-30",
        "3",
        "seat",
        "12.50",
        "37.50",
        "EUR",
    ]


# --- RFC 4180 ---------------------------------------------------------------------------------

ALL_EXPORTS: dict[str, Callable[[], bytes]] = {
    "invoice": lambda: csv_files.invoice_csv(make_invoice()),
    "invoice-detailed": lambda: csv_files.invoice_detailed_csv(make_invoice()),
    "statement": lambda: csv_files.statement_csv(make_statement()),
    "statement-detailed": lambda: csv_files.statement_detailed_csv(make_statement()),
}


@pytest.mark.parametrize("name", list(ALL_EXPORTS))
def test_every_record_ends_with_crlf(name: str):
    # when
    data = ALL_EXPORTS[name]()

    # then
    assert data.endswith(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")  # no bare line feed
    assert b"\r" not in data.replace(b"\r\n", b"")  # no bare carriage return
    assert data.count(b"\r\n") == len(parse(data))
    assert data.count(codecs.BOM_UTF8) == 1 and data.startswith(codecs.BOM_UTF8)


@pytest.mark.parametrize("text", TRICKY_TEXT)
@pytest.mark.parametrize("export", list(INVOICE_EXPORTS))
def test_commas_quotes_and_newlines_round_trip_exactly(export: str, text: str):
    # given
    doc = invoice_with_text(text)

    # when
    (row,) = records(INVOICE_EXPORTS[export](doc))

    # then
    assert {column: row[column] for column in TEXT_COLUMNS[export]} == dict.fromkeys(
        TEXT_COLUMNS[export], text
    )


@pytest.mark.parametrize("text", TRICKY_TEXT)
def test_statement_text_round_trips_exactly(text: str):
    # given
    doc = make_statement()
    entry = replace(doc.statement.entries[0], description=text, reference=text)
    doc = replace(doc, statement=replace(doc.statement, entries=[entry]))
    doc = replace(doc, lines=[StatementLine(text, make_line(1, description=text))])

    # when
    _, found, _ = records(csv_files.statement_csv(doc))
    (line,) = records(csv_files.statement_detailed_csv(doc))

    # then
    assert (found["reference"], found["description"]) == (text, text)
    assert (line["invoice_number"], line["description"]) == (text, text)


def test_a_field_with_a_line_break_is_quoted_and_keeps_its_crlf():
    # given
    doc = invoice_with_text("first\r\nsecond")

    # when
    data = csv_files.invoice_csv(doc)

    # then
    assert b'"first\r\nsecond"' in data
    assert parse(data)[1][INVOICE_HEADER.index("description")] == "first\r\nsecond"


# --- numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "amount", "expected"),
    [
        ("EUR", Decimal("37.5"), "37.50"),
        ("EUR", Decimal("37.500000"), "37.50"),  # as the database hands it over: NUMERIC(20, 6)
        ("USD", Decimal("1E+3"), "1000.00"),
        ("USD", Decimal("1234.5"), "1234.50"),
        ("JPY", Decimal("1200"), "1200"),
        ("JPY", Decimal("1.2E+3"), "1200"),
        ("KWD", Decimal("1.25"), "1.250"),
        ("USD", Decimal("0"), "0.00"),
    ],
)
def test_amounts_are_plain_decimals_in_the_currency_minor_units(
    currency: str, amount: Decimal, expected: str
):
    # given
    line = make_line(1, amount=amount)
    doc = make_invoice(currency=currency, lines=[line])
    statement = make_statement()
    statement = replace(
        statement,
        statement=replace(statement.statement, currency=currency, opening_balance=amount),
        lines=[StatementLine("CB-1", line)],
    )

    # when
    (row,) = records(csv_files.invoice_csv(doc))
    (detailed,) = records(csv_files.statement_detailed_csv(statement))
    opening = records(csv_files.statement_csv(statement))[0]

    # then
    assert row["amount"] == detailed["amount"] == opening["balance"] == expected


@pytest.mark.parametrize(
    ("currency", "price", "expected"),
    [
        ("USD", Decimal("0.0125"), "0.0125"),  # finer than cents: kept
        ("USD", Decimal("0.012500"), "0.0125"),
        ("USD", Decimal("12.5"), "12.50"),  # coarser: padded to cents
        ("EUR", Decimal("1E+1"), "10.00"),
        ("JPY", Decimal("0.5"), "0.5"),
        ("JPY", Decimal("150"), "150"),
        ("KWD", Decimal("0.0005"), "0.0005"),
        ("KWD", Decimal("2"), "2.000"),
        ("USD", Decimal("1E-7"), "0.0000001"),
    ],
)
def test_unit_prices_keep_their_finer_digits(currency: str, price: Decimal, expected: str):
    # given
    line = make_line(1, unit_price=price)
    doc = make_invoice(currency=currency, lines=[line], charges=[make_charge(line)])

    # when
    (row,) = records(csv_files.invoice_csv(doc))
    (charge,) = records(csv_files.invoice_detailed_csv(doc))

    # then
    assert row["unit_price"] == charge["unit_price"] == expected


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        (Decimal("1E+1"), "10"),
        (Decimal("3"), "3"),
        (Decimal("2.500000"), "2.5"),
        (Decimal("1E+6"), "1000000"),
        (Decimal("0.000100"), "0.0001"),
    ],
)
def test_quantities_never_use_exponents(quantity: Decimal, expected: str):
    # given
    line = make_line(1, quantity=quantity)
    doc = make_invoice(lines=[line], charges=[make_charge(line)])

    # when
    (row,) = records(csv_files.invoice_csv(doc))
    (charge,) = records(csv_files.invoice_detailed_csv(doc))

    # then
    assert row["quantity"] == charge["quantity"] == expected


@pytest.mark.parametrize(
    ("amount", "expected"),
    [(Decimal("37.500000"), "37.50"), (Decimal("100.000000"), "100.00")],
)
def test_a_charge_amount_keeps_the_currency_minor_units(amount: Decimal, expected: str):
    # given a charge amount as the database hands it over (NUMERIC(20, 6))
    line = make_line(1, amount=amount)
    doc = make_invoice(lines=[line], charges=[make_charge(line, amount=amount)])

    # when
    (charge,) = records(csv_files.invoice_detailed_csv(doc))

    # then
    assert charge["amount"] == charge["exact_amount"] == charge["line_amount"] == expected


def test_an_exact_charge_amount_keeps_all_its_digits():
    # given a proration before the line's rounding
    line = make_line(1)
    doc = make_invoice(
        lines=[line], charges=[make_charge(line, amount=Decimal("12.096774"), days=31)]
    )

    # when
    (charge,) = records(csv_files.invoice_detailed_csv(doc))

    # then its exact amount is beside the amount the line's rows add up to
    assert charge["exact_amount"] == "12.096774"
    assert charge["amount"] == charge["line_amount"] == "37.50"


# What the database holds (NUMERIC(20, 6)), as it hands it over and normalized (1E+3, 2.5).
stored = st.decimals(min_value=-(10**14) + 1, max_value=10**14 - 1, places=6)
numbers = st.one_of(stored, stored.map(Decimal.normalize))


@given(
    quantity=numbers, price=numbers, amount=numbers, currency=st.sampled_from(["JPY", "EUR", "KWD"])
)
def test_numeric_cells_are_always_plain_decimals(
    quantity: Decimal, price: Decimal, amount: Decimal, currency: str
):
    # given
    line = make_line(1, quantity=quantity, unit_price=price, amount=amount)
    doc = make_invoice(currency=currency, lines=[line], charges=[make_charge(line)])

    # when
    (row,) = records(csv_files.invoice_csv(doc))
    (charge,) = records(csv_files.invoice_detailed_csv(doc))

    # then
    cells = [row[c] for c in ("quantity", "unit_price", "amount")]
    cells += [charge[c] for c in ("quantity", "unit_price", "amount", "exact_amount")]
    assert [c for c in cells if not PLAIN_DECIMAL.match(c)] == []
    assert Decimal(row["quantity"]) == Decimal(charge["quantity"]) == quantity
    assert Decimal(row["unit_price"]) == Decimal(charge["unit_price"]) == price
    assert abs(Decimal(row["amount"]) - amount) <= Decimal(1).scaleb(-minor_units(currency)) / 2
    assert Decimal(charge["exact_amount"]) == amount
    assert charge["amount"] == row["amount"]  # the one charge of the line is the line


# --- formulas ---------------------------------------------------------------------------------


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("export", list(INVOICE_EXPORTS))
def test_text_a_spreadsheet_would_run_gets_an_apostrophe(export: str, formula: str):
    # given
    doc = invoice_with_text(formula)

    # when
    (row,) = records(INVOICE_EXPORTS[export](doc))

    # then
    assert {column: row[column] for column in TEXT_COLUMNS[export]} == dict.fromkeys(
        TEXT_COLUMNS[export], "'" + formula
    )


@pytest.mark.parametrize("formula", FORMULAS)
def test_statement_text_a_spreadsheet_would_run_gets_an_apostrophe(formula: str):
    # given
    doc = make_statement()
    entry = replace(doc.statement.entries[0], description=formula, reference=formula)
    doc = replace(
        doc,
        statement=replace(doc.statement, entries=[entry]),
        lines=[StatementLine(formula, make_line(1, description=formula, sku=formula))],
    )

    # when
    _, found, _ = records(csv_files.statement_csv(doc))
    (line,) = records(csv_files.statement_detailed_csv(doc))

    # then
    assert (found["reference"], found["description"]) == ("'" + formula,) * 2
    assert (line["invoice_number"], line["sku"], line["description"]) == ("'" + formula,) * 3


def test_negative_amounts_stay_numbers():
    # given a credit line, and a statement in credit
    line = make_line(1, quantity=Decimal("-1"), unit_price=Decimal("5"), amount=Decimal("-5"))
    doc = make_invoice(lines=[line], charges=[make_charge(line, amount=Decimal("-5.00"))])
    statement = make_statement()
    entry = Entry(
        statement.statement.start,
        "PAYMENT",
        line.id,
        "CB-1",
        "Payment for invoice CB-1",
        Decimal(0),
        Decimal("300.00"),
        Decimal("-50.00"),
    )
    statement = replace(
        statement,
        statement=replace(statement.statement, entries=[entry], closing_balance=Decimal("-50.00")),
    )

    # when
    (row,) = records(csv_files.invoice_csv(doc))
    (charge,) = records(csv_files.invoice_detailed_csv(doc))
    _, paid, closing = records(csv_files.statement_csv(statement))

    # then
    assert (row["quantity"], row["amount"]) == ("-1", "-5.00")
    assert charge["quantity"] == "-1"
    assert PLAIN_DECIMAL.match(charge["amount"])
    assert Decimal(charge["amount"]) == Decimal("-5.00")
    assert (paid["balance"], closing["balance"]) == ("-50.00", "-50.00")
    assert cell(Decimal("-5.00")) == "-5.00"


@pytest.mark.parametrize("text", ["'=already text", "a=b", "Acme - Cloud", "", "100", "3 + 4"])
def test_harmless_text_is_left_alone(text: str):
    assert cell(text) == text


@given(st.text())
def test_any_text_is_itself_or_itself_with_apostrophes_before_its_formulas(text: str):
    # given
    doc = invoice_with_text(text)

    # when
    (row,) = records(csv_files.invoice_csv(doc))

    # then only apostrophes were added, and only where a formula would start
    for column in TEXT_COLUMNS["csv"]:
        value = row[column]
        assert value.replace("'", "") == text.replace("'", "")
        assert not value.startswith(FORMULA_STARTS)
        assert (value != text) == needs_guard(text)


def needs_guard(text: str) -> bool:
    return text.startswith(FORMULA_STARTS) or any(
        text[n:].lstrip(' \u00a0"').startswith(tuple(TRIGGERS))
        for n in range(len(text))
        if n == 0 or text[n - 1] in DELIMITERS
    )


def formula_cells(data: bytes, delimiter: str) -> list[str]:
    """The cells a spreadsheet splitting on ``delimiter`` would take for formulas, once it trimmed
    blanks, tabs and carriage returns (a plain decimal such as "-5.00" is a number)."""
    rows = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=delimiter)
    cells = [c for row in rows for c in row]
    return [
        c
        for c in cells
        if c.lstrip(" \u00a0\t\r").startswith(tuple(TRIGGERS)) and not PLAIN_DECIMAL.match(c)
    ]


hostile_text = st.text(
    alphabet=st.sampled_from([*DELIMITERS, *TRIGGERS, " ", "\u00a0", '"', "'", "a", "1", "("]),
    max_size=24,
)


@given(text=hostile_text, delimiter=st.sampled_from([",", ";", "\t", "|"]))
def test_no_cell_is_a_formula_whatever_the_delimiter_a_spreadsheet_guesses(
    text: str, delimiter: str
):
    # given hostile text in every text cell of every export
    doc = invoice_with_text(text)
    statement = make_statement(lines=[StatementLine(text, make_line(1, description=text))])
    exports = [
        csv_files.invoice_csv(doc),
        csv_files.invoice_detailed_csv(doc),
        csv_files.statement_detailed_csv(statement),
    ]

    # when each is read splitting on another delimiter, then no cell is a formula
    for data in exports:
        assert formula_cells(data, delimiter) == []


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_formulas_behind_a_semicolon_are_neutralised(delimiter: str):
    # given a name that is harmless to a comma reader but three cells to a semicolon reader
    doc = invoice_with_text("Acme;=1+1;@SUM(9)")

    # when
    data = csv_files.invoice_csv(doc)

    # then it is quoted, each formula behind an apostrophe
    assert b"\"Acme;'=1+1;'@SUM(9)\"" in data
    assert formula_cells(data, delimiter) == []
    (row,) = records(data)
    assert row["buyer"] == "Acme;'=1+1;'@SUM(9)"


# --- text -------------------------------------------------------------------------------------

NAMES = [
    "Ünïcode Kunde GmbH",
    "株式会社テスト",
    "Ελληνική Εταιρεία",
    "Łódź Sp. z o.o.",
    "🚀 Rocket Ltd",
]


@pytest.mark.parametrize("name", NAMES)
def test_names_in_any_script_survive_as_utf8(name: str):
    # given
    doc = make_invoice(buyer=replace(BUYER, name=name))
    statement = make_statement(lines=[StatementLine(name, make_line(1, description=name))])

    # when
    data = csv_files.invoice_csv(doc)
    detailed = csv_files.statement_detailed_csv(statement)

    # then
    assert name.encode("utf-8") in data
    assert {r["buyer"] for r in records(data)} == {name}
    (line,) = records(detailed)
    assert (line["invoice_number"], line["description"]) == (name, name)


# --- invoice-level columns --------------------------------------------------------------------


@pytest.mark.parametrize("export", list(INVOICE_EXPORTS))
def test_every_row_carries_the_invoice_and_its_custom_fields_by_label(export: str):
    # given custom fields labelled like a column, twice alike, and in Cyrillic
    fields = [("PO number", "PO-4711"), ("currency", "x"), ("PO number", "PO-2"), ("Заказ", "№7")]
    doc = make_invoice(custom_fields=fields)

    # when
    header, *rows = parse(INVOICE_EXPORTS[export](doc))

    # then each has a column of its own, after the fixed ones, on every row
    assert header[-4:] == ["PO number", "currency (2)", "PO number (2)", "Заказ"]
    assert len(set(header)) == len(header)
    assert len(rows) == 2
    for row in rows:
        found = dict(zip(header, row, strict=True))
        assert row[-4:] == ["PO-4711", "x", "PO-2", "№7"]
        assert (found["invoice_number"], found["issue_date"], found["due_date"]) == (
            "CB-2026-000042",
            "2026-12-01",
            "2026-12-31",
        )
        assert found["currency"] == "EUR"


def test_a_draft_has_no_issue_or_due_date_in_its_csv():
    # given
    doc = make_invoice(status=InvoiceStatus.DRAFT, number=None, issued_on=None, due_date=None)

    # when
    rows = records(csv_files.invoice_detailed_csv(doc))

    # then
    assert {(r["issue_date"], r["due_date"]) for r in rows} == {("", "")}
