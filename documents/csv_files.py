"""CSV exports (RFC 4180: header row, quoted where needed, CRLF, UTF-8): an invoice one row per
line, its detailed CSV one row per charge behind a line; a statement one row per entry, its
detailed CSV one row per line of each invoice on it.

Amounts are plain decimals ("1234.50"). No text cell can become a formula, whichever delimiter a
spreadsheet guesses (a locale may split on ";", TAB or "|" rather than ","): a text starting with
= + - @, a tab or a carriage return gets a leading apostrophe, and so does every formula trigger
that follows a delimiter-like character, so "Acme;=1+1" is written "Acme;'=1+1"; a cell holding
any delimiter-like character or a quote is always quoted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal

from core.currency import minor_units, quantize
from documents.content import InvoiceDocument, Line, StatementDocument

TRIGGERS = (
    "=+-@\uff1d\uff0b\uff0d\uff20"  # and their full-width forms, which some spreadsheets fold
)
FORMULA_STARTS = (*TRIGGERS, "\t", "\r")
# What a spreadsheet may split cells or rows on, in some locale or by guessing.
DELIMITERS = ",;|\t\r\n"
# A trigger at the start or after a delimiter, past the blanks a spreadsheet may trim and the
# quotes it may take for the start of a quoted cell, starts a formula.
_SEGMENT_FORMULA = re.compile(
    f'((?:^|[{re.escape(DELIMITERS)}])[ \u00a0"]*)(?=[{re.escape(TRIGGERS)}])'
)
_NEEDS_QUOTES = re.compile(f'["{re.escape(DELIMITERS)}]')


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return _plain(value)
    if isinstance(value, date):
        return value.isoformat()
    text = _SEGMENT_FORMULA.sub(r"\1'", str(value))
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if _NEEDS_QUOTES.search(text) else text


def _record(cells: Iterable[str]) -> str:
    return ",".join(_field(c) for c in cells) + "\r\n"


def _plain(value: Decimal) -> str:
    """No exponent, no trailing zeros beyond the value's own precision ("0.000100", not 1E-4)."""
    return format(value, "f")


def _money(value: Decimal, currency: str) -> Decimal:
    return quantize(value, currency)


def _price(value: Decimal, currency: str) -> Decimal:
    """A unit price with the currency's minor units at least, and any finer digits it has."""
    exact = value.normalize()
    exponent = exact.as_tuple().exponent
    assert isinstance(exponent, int)
    return exact if exponent < -minor_units(currency) else quantize(value, currency)


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """RFC 4180 with the quoting above: the csv module quotes only for its own delimiter."""
    lines = [_record(header), *(_record(cell(v) for v in row) for row in rows)]
    return "".join(lines).encode("utf-8")


INVOICE_COLUMNS = (
    "invoice_number",
    "document_id",
    "status",
    "seller",
    "buyer",
    "vendor",
    "period_start",
    "period_end",
    "currency",
)


def _invoice_cells(doc: InvoiceDocument) -> list[object]:
    return [
        doc.number,
        doc.document_id,
        str(doc.status),
        doc.seller.name,
        doc.buyer.name,
        doc.vendor,
        doc.period_start,
        doc.period_end,
        doc.currency,
    ]


LINE_COLUMNS = (
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
)


def _line_cells(line: Line, currency: str) -> list[object]:
    return [
        line.position,
        line.sku,
        line.description,
        line.kind,
        line.service_start,
        line.service_end,
        line.quantity.normalize(),
        line.unit,
        _price(line.unit_price, currency),
        _money(line.amount, currency),
    ]


def invoice_csv(doc: InvoiceDocument) -> bytes:
    head = _invoice_cells(doc)
    return _table(
        (*INVOICE_COLUMNS, *LINE_COLUMNS),
        ([*head, *_line_cells(line, doc.currency)] for line in doc.lines),
    )


def invoice_detailed_csv(doc: InvoiceDocument) -> bytes:
    header = (
        *INVOICE_COLUMNS,
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
    )
    head = _invoice_cells(doc)
    return _table(
        header,
        (
            [
                *head,
                c.line,
                c.sku,
                c.description,
                c.source,
                c.reference,
                c.start_date,
                c.end_date,
                c.quantity.normalize(),
                _price(c.unit_price, doc.currency),
                c.days,
                c.period_days,
                _price(c.amount, doc.currency),
            ]
            for c in doc.charges
        ),
    )


def statement_csv(doc: StatementDocument) -> bytes:
    s = doc.statement
    c = s.currency
    header = ("date", "kind", "reference", "description", "debit", "credit", "balance", "currency")
    rows: list[list[object]] = [
        [s.start, "OPENING_BALANCE", "", "Opening balance", "", "", _money(s.opening_balance, c), c]
    ]
    rows += [
        [
            e.on,
            e.kind,
            e.reference,
            e.description,
            _money(e.debit, c),
            _money(e.credit, c),
            _money(e.balance, c),
            c,
        ]
        for e in s.entries
    ]
    rows.append(
        [s.end, "CLOSING_BALANCE", "", "Closing balance", "", "", _money(s.closing_balance, c), c]
    )
    return _table(header, rows)


def statement_detailed_csv(doc: StatementDocument) -> bytes:
    c = doc.currency
    return _table(
        ("invoice_number", *LINE_COLUMNS, "currency"),
        ([row.invoice, *_line_cells(row.line, c), c] for row in doc.lines),
    )
