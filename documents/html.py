"""Documents as HTML, from autoescaped Jinja2 templates: the print view (print CSS, for a
browser) and the input of the PDF renderer (xhtml2pdf's page frames), with the same content."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from billing.models import InvoiceStatus
from core.currency import format_money, format_price
from documents.content import InvoiceDocument, StatementDocument

# DejaVu Sans covers Latin, Greek and Cyrillic; without it the PDF falls back to Helvetica.
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))


@dataclass(frozen=True, slots=True)
class FontFace:
    family: str
    path: str
    bold: bool


@cache
def font_faces() -> tuple[FontFace, ...]:
    for directory in FONT_DIRS:
        regular, bold = directory / "DejaVuSans.ttf", directory / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return (
                FontFace("DejaVu Sans", str(regular), False),
                FontFace("DejaVu Sans", str(bold), True),
            )
    return ()


def _breakable(text: str, pdf: bool, width: int = 36) -> str:
    """For the PDF, whose table cells never break a word: a word wider than a column (an Azure
    resource id) gets spaces after its separators, or every ``width`` characters, so it wraps
    instead of overprinting the next column. The print view wraps it with CSS instead."""
    if not pdf:
        return text
    return " ".join(_split(word, width) for word in text.split(" "))


def _split(word: str, width: int) -> str:
    if len(word) <= width:
        return word
    pieces, current = [], ""
    for part in re.split(r"(?<=[/\\.,:;_-])", word):
        if current and len(current) + len(part) > width:
            pieces.append(current)
            current = ""
        current += part
        while len(current) > width:
            pieces.append(current[:width])
            current = current[width:]
    return " ".join([*pieces, current] if current else pieces)


def _quantity(value: Decimal) -> str:
    return f"{value.normalize():,f}"


_templates = Environment(
    loader=PackageLoader("documents", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# One formatter for every amount (core.currency); a unit price keeps its finer digits.
_templates.filters.update(
    money=format_money, price=format_price, quantity=_quantity, breakable=_breakable
)


def _mark(status: InvoiceStatus) -> str | None:
    return {InvoiceStatus.VOID: "VOID", InvoiceStatus.DRAFT: "DRAFT"}.get(status)


def _render(template: str, *, pdf: bool, **context: Any) -> str:
    faces = font_faces() if pdf else ()
    return _templates.get_template(template).render(
        pdf=pdf,
        fonts=faces,
        font_family='"DejaVu Sans"' if faces else "Helvetica",
        **context,
    )


def invoice_html(doc: InvoiceDocument, *, pdf: bool = False) -> str:
    title = f"Invoice {doc.reference}" if doc.number else f"Draft invoice {doc.reference}"
    return _render(
        "invoice.html",
        pdf=pdf,
        doc=doc,
        seller=doc.seller,
        title=title,
        heading="Invoice",
        mark=_mark(doc.status),
    )


def statement_html(doc: StatementDocument, *, pdf: bool = False) -> str:
    s = doc.statement
    return _render(
        "statement.html",
        pdf=pdf,
        doc=doc,
        s=s,
        seller=doc.seller,
        title=f"Statement {s.start} to {s.end}",
        heading="Statement",
        mark=None,
    )
