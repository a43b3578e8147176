"""CSV exports (RFC 4180: header row, quoted where needed, CRLF, UTF-8 with a byte-order mark, so
that a spreadsheet reads "Müller" or "Иванов" as written rather than guessing a legacy code page):
an invoice one row per line, its detailed CSV one row per charge behind a line; a statement one row
per entry, its detailed CSV one row per line of each invoice on it.

Every row of an invoice's CSVs carries the invoice itself (number, status, issue and due dates,
parties, period, currency), and its custom fields last, one column each, headed by the field's
label: a row cut out of the file or filtered in a spreadsheet still says what it belongs to.

Amounts are plain decimals ("1234.50"), for machines; people read them in the PDF and print view,
formatted by core.currency. The detailed CSV reconciles: the charges behind a line are exact
(1/30 of a month's price), the line rounds their sum, and each charge's ``amount`` is rounded so
that the line's rows add up to the line's amount exactly (see :func:`reconciled`); the exact value
stays beside it in ``exact_amount``.

No text cell can become a formula, whichever delimiter a
spreadsheet guesses (a locale may split on ";", TAB or "|" rather than ","): a text starting with
= + - @, a tab or a carriage return gets a leading apostrophe, and so does every formula trigger
that follows a delimiter-like character, so "Acme;=1+1" is written "Acme;'=1+1"; a cell holding
any delimiter-like character or a quote is always quoted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import ROUND_FLOOR, Decimal

from core.currency import exact_price, minor_units, quantize
from documents.content import Charge, InvoiceDocument, Line, StatementDocument

BOM = "\ufeff"

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
    return exact_price(value, currency)


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """RFC 4180 with the quoting above: the csv module quotes only for its own delimiter."""
    lines = [BOM, _record(header), *(_record(cell(v) for v in row) for row in rows)]
    return "".join(lines).encode("utf-8")


def reconciled(charges: Sequence[Charge], line_amount: Decimal, currency: str) -> list[Decimal]:
    """The charges' amounts in the currency's minor units, summing to ``line_amount`` exactly.

    Largest remainder: each exact amount is rounded down to the minor unit, and the units still
    missing from the line's amount go one each to the charges with the largest remainders (ties:
    the earlier charge, in the CSV's order), so the same invoice always gives the same rows. When
    the line is less than the rounded-down sum (a line fixed by hand), the units are taken from
    the smallest remainders instead; when a line has more units to place than charges, every
    charge takes its share first.
    """
    if not charges:
        return []
    unit = Decimal(1).scaleb(-minor_units(currency))
    scaled = [c.amount / unit for c in charges]
    floors = [int(x.to_integral_value(rounding=ROUND_FLOOR)) for x in scaled]
    target = int((quantize(line_amount, currency) / unit).to_integral_value())
    share, extra = divmod(target - sum(floors), len(charges))
    by_remainder = sorted(range(len(charges)), key=lambda i: (floors[i] - scaled[i], i))
    units = [f + share for f in floors]
    for i in by_remainder[:extra]:
        units[i] += 1
    return [quantize(Decimal(n) * unit, currency) for n in units]


INVOICE_COLUMNS = (
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
)


def _invoice_cells(doc: InvoiceDocument) -> list[object]:
    return [
        doc.number,
        doc.document_id,
        str(doc.status),
        doc.issued_on,
        doc.due_date,
        doc.seller.name,
        doc.buyer.name,
        doc.vendor,
        doc.period_start,
        doc.period_end,
        doc.currency,
    ]


def _field_columns(doc: InvoiceDocument, taken: Sequence[str]) -> list[str]:
    """A column per custom field, headed by its label; a label that repeats a column's name (or
    another label) is told apart by a suffix, so that every header names one column."""
    seen = set(taken)
    columns = []
    for label, _ in doc.custom_fields:
        name, n = label, 1
        while name in seen:
            n += 1
            name = f"{label} ({n})"
        seen.add(name)
        columns.append(name)
    return columns


def _field_cells(doc: InvoiceDocument) -> list[object]:
    return [value for _, value in doc.custom_fields]


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
    columns = (*INVOICE_COLUMNS, *LINE_COLUMNS)
    head, fields = _invoice_cells(doc), _field_cells(doc)
    return _table(
        (*columns, *_field_columns(doc, columns)),
        ([*head, *_line_cells(line, doc.currency), *fields] for line in doc.lines),
    )


DETAILED_COLUMNS = (
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
)


def _charge_amounts(doc: InvoiceDocument) -> list[Decimal]:
    """Each charge's amount as the detailed CSV writes it, in the order of ``doc.charges``: the
    charges of each line reconciled to the line's amount."""
    line_amounts = {line.position: line.amount for line in doc.lines}
    by_line: dict[int, list[int]] = {}
    for i, c in enumerate(doc.charges):
        by_line.setdefault(c.line, []).append(i)
    amounts = [Decimal(0)] * len(doc.charges)
    for position, indexes in by_line.items():
        behind = [doc.charges[i] for i in indexes]
        total = line_amounts.get(position, sum((c.amount for c in behind), Decimal(0)))
        for i, amount in zip(indexes, reconciled(behind, total, doc.currency), strict=True):
            amounts[i] = amount
    return amounts


def invoice_detailed_csv(doc: InvoiceDocument) -> bytes:
    columns = (*INVOICE_COLUMNS, *DETAILED_COLUMNS)
    head, fields = _invoice_cells(doc), _field_cells(doc)
    line_amounts = {line.position: _money(line.amount, doc.currency) for line in doc.lines}
    amounts = _charge_amounts(doc)
    return _table(
        (*columns, *_field_columns(doc, columns)),
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
                amount,
                _price(c.amount, doc.currency),
                line_amounts.get(c.line),
                *fields,
            ]
            for c, amount in zip(doc.charges, amounts, strict=True)
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
        ("invoice_number", "status", "issue_date", "due_date", *LINE_COLUMNS, "currency"),
        (
            [row.invoice, row.status, row.issued_on, row.due_date, *_line_cells(row.line, c), c]
            for row in doc.lines
        ),
    )
