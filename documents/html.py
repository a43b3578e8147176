"""Documents as HTML, from autoescaped Jinja2 templates: the print view (print CSS, for a
browser) and the input of the PDF renderer (xhtml2pdf's page frames), with the same content."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
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
# CJK (Chinese, Japanese kana, Korean Hangul): WenQuanYi Zen Hei (Debian fonts-wqy-zenhei). It must
# have TrueType outlines: ReportLab embeds no CFF font, which rules out Noto Sans CJK's .ttc files.
CJK_FONTS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc"),
)
# Written into the style sheet between quotes: a family name is a constant of ours, never data.
_FAMILY = re.compile(r"[A-Za-z][A-Za-z ]*")


@dataclass(frozen=True, slots=True)
class FontFace:
    family: str
    path: str
    bold: bool

    def __post_init__(self) -> None:
        if not _FAMILY.fullmatch(self.family):
            raise ValueError(f"not a plain font family name: {self.family!r}")


@cache
def font_faces() -> tuple[FontFace, ...]:
    """The faces the PDF embeds, in the order of its font-family list: the renderer draws each
    character in the first of them that has it, so a CJK name inside a Latin line still prints."""
    faces: tuple[FontFace, ...] = ()
    for directory in FONT_DIRS:
        regular, bold = directory / "DejaVuSans.ttf", directory / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            faces = (
                FontFace("DejaVu Sans", str(regular), False),
                FontFace("DejaVu Sans", str(bold), True),
            )
            break
    cjk = next((path for path in CJK_FONTS if path.is_file()), None)
    if cjk is not None:
        faces += (FontFace("WenQuanYi Zen Hei", str(cjk), False),)  # its own bold: none
    return faces


def font_families(faces: tuple[FontFace, ...]) -> list[str]:
    return list(dict.fromkeys(face.family for face in faces))


@cache
def _coverage(path: str) -> frozenset[int]:
    from reportlab.pdfbase.ttfonts import TTFontFile

    return frozenset(TTFontFile(path).charToGlyph)


def unprintable(html: str, faces: tuple[FontFace, ...]) -> list[str]:
    """The characters of a document that none of the embedded faces can draw: the PDF names
    them in a note instead of printing boxes without a word (no CJK font installed, say)."""
    covered: set[int] = set()
    for face in faces:
        covered |= _coverage(face.path)
    if not faces:  # Helvetica, WinAnsi: Latin-1 and a few more
        covered = set(range(0x20, 0x100)) | {0x20AC, 0x2013, 0x2014, 0x2019, 0x201C, 0x201D}
    return sorted({c for c in html if not c.isspace() and ord(c) not in covered})


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


def _without_period(description: str, start: date, end: date) -> str:
    """A line's description ends with its service period ("…, 2026-11-01 to 2026-11-30"), which
    the invoice prints in a column of its own: said once is enough."""
    suffix = f", {start.isoformat()} to {end.isoformat()}"
    return description.removesuffix(suffix) or description


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
_templates.filters.update(without_period=_without_period)


def _mark(status: InvoiceStatus) -> str | None:
    return {InvoiceStatus.VOID: "VOID", InvoiceStatus.DRAFT: "DRAFT"}.get(status)


def _render(template: str, *, pdf: bool, **context: Any) -> str:
    faces = font_faces() if pdf else ()
    page = _templates.get_template(template)
    html = page.render(pdf=pdf, fonts=faces, families=font_families(faces), missing=[], **context)
    if not pdf:
        return html  # the browser finds a font for every character itself
    missing = unprintable(html, faces)
    if not missing:
        return html
    codes = [f"U+{ord(c):04X}" for c in missing]
    return page.render(
        pdf=pdf, fonts=faces, families=font_families(faces), missing=codes, **context
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
        nothing=Decimal(0),  # what a void invoice says is due
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
