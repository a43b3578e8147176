"""The face of every PDF, read back with poppler as a reader's eye would: no text printed over
other text, stamps clear of what they mark, every character of every name printed in an
embedded font. Each page is also drawn to test-artifacts/documents/ for a person to look at."""

from __future__ import annotations

import io
import os
import re
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from itertools import combinations
from pathlib import Path
from typing import Any

import pypdf
import pytest

from billing.models import InvoiceStatus
from billing.statements import Entry
from documents import html as html_module
from documents.content import Buyer, InvoiceDocument, StatementDocument
from documents.html import font_faces, invoice_html
from documents.pdf import html_to_pdf
from tests.documents import BUYER, SELLER, long_invoice, make_invoice, make_line, make_statement
from tests.documents.test_pdf import ARTIFACTS, poppler, render

# Letters that look Latin are the point here: they print only in a font that has them.
CYRILLIC = "ООО «Ромашка» Ярослав Щукин"  # noqa: RUF001
GREEK = "Ελληνική Εταιρεία Λογισμικού Α.Ε."  # noqa: RUF001
CJK = "株式会社テスト 서울클라우드 北京云计算有限公司"
LONG_ID = "D-01JDXK3M8Q4RZ7N2V5T9W6Y0HA"  # 27 characters, as the platform mints them
UNBROKEN = "vm-" + "0123456789abcdef" * 5  # an 83-character resource name, no separator inside
LONG_NAME = (
    "Internationale Gesellschaft für Cloud-Dienstleistungen, Rechenzentrumsbetrieb und "
    "Softwarevertrieb mit beschränkter Haftung & Co. Kommanditgesellschaft auf Aktien"
)
MARKS = {InvoiceStatus.VOID: "VOID", InvoiceStatus.DRAFT: "DRAFT"}
WRAPPED = 36  # characters: a longer word is broken over lines by the PDF's templates
TOUCH = 0.5  # points: boxes that share an edge, or nearly, touch; they do not overlap


def scripts_invoice(**overrides: Any) -> InvoiceDocument:
    """Names in every script the product accepts, in every field a user writes."""
    lines = [
        make_line(1, description=f"Лицензия Microsoft 365, {CYRILLIC}"),
        make_line(2, description=f"Άδεια χρήσης, {GREEK}"),
        make_line(3, description=f"クラウド利用料 {CJK}"),
    ]
    doc = make_invoice(
        buyer=Buyer(f"{CYRILLIC} / {GREEK} / {CJK}", "billing@kunde.example", "RU7701234567"),
        lines=lines,
        custom_fields=[
            ("PO number", "ЗАКАЗ-4711"),  # noqa: RUF001
            ("Kostenstelle", "Κέντρο-12"),
            ("担当", "山田"),
        ],
    )
    return replace(doc, **overrides)


def long_names_invoice(**overrides: Any) -> InvoiceDocument:
    doc = make_invoice(
        document_id=LONG_ID,
        seller=replace(SELLER, name=LONG_NAME[:60]),
        buyer=Buyer(f"{LONG_NAME} {UNBROKEN[:50]}", f"{'x' * 50}@kunde.example", "DE123456789"),
        lines=[
            make_line(1, description=f"Azure usage {UNBROKEN}"),
            make_line(2, description=LONG_NAME, sku="SKU-" + "X" * 40),
        ],
        custom_fields=[("PO number", "PO-" + "9" * 45)],
    )
    return replace(doc, **overrides)


def long_statement(entries: int) -> StatementDocument:
    doc = make_statement(buyer=replace(BUYER, name=GREEK))
    start = doc.statement.start
    rows = [
        Entry(
            start + timedelta(days=i % 60),
            "INVOICE",
            uuid.UUID(int=500 + i),
            f"CB-2026-{i:06d}",
            f"Invoice CB-2026-{i:06d}, {CYRILLIC}",
            Decimal("10.00"),
            Decimal(0),
            Decimal("250.00") + 10 * (i + 1),
        )
        for i in range(entries)
    ]
    return replace(doc, statement=replace(doc.statement, entries=rows))


CASES: dict[str, Callable[[], InvoiceDocument | StatementDocument]] = {
    "open-one-page": lambda: make_invoice(document_id=LONG_ID),
    "paid": lambda: make_invoice(status=InvoiceStatus.CLOSED, amount_paid=Decimal("119.00")),
    "void-one-page": lambda: make_invoice(status=InvoiceStatus.VOID, document_id=LONG_ID),
    "void-many-pages": lambda: long_invoice(60, status=InvoiceStatus.VOID, document_id=LONG_ID),
    "draft-one-page": lambda: make_invoice(
        status=InvoiceStatus.DRAFT, number=None, issued_on=None, document_id=LONG_ID
    ),
    "draft-two-pages": lambda: long_invoice(
        14, status=InvoiceStatus.DRAFT, number=None, issued_on=None
    ),
    "open-many-pages": lambda: long_invoice(60),
    "long-names": long_names_invoice,
    "scripts": scripts_invoice,
    "scripts-void": lambda: scripts_invoice(status=InvoiceStatus.VOID),
    "statement": lambda: make_statement(buyer=replace(BUYER, name=CYRILLIC)),
    "statement-many-pages": lambda: long_statement(70),
    "statement-long-names": lambda: make_statement(
        buyer=Buyer(f"{LONG_NAME} {UNBROKEN}", f"{'x' * 50}@kunde.example"),
        seller=replace(SELLER, name=LONG_NAME[:60]),
    ),
}


@dataclass(frozen=True, slots=True)
class Box:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box, margin: float = 0.0) -> bool:
        """Whether the two share more than an edge; ``margin`` widens this box first."""
        dx = min(self.x1 + margin, other.x1) - max(self.x0 - margin, other.x0)
        dy = min(self.y1 + margin, other.y1) - max(self.y0 - margin, other.y0)
        return dx > TOUCH and dy > TOUCH

    @property
    def height(self) -> float:
        return self.y1 - self.y0


class WordBoxes(HTMLParser):
    """The XHTML of ``pdftotext -bbox``: a <page> per page, a <word> per word."""

    def __init__(self) -> None:
        super().__init__()
        self.pages: list[list[Box]] = []
        self.sizes: list[tuple[float, float]] = []
        self._word: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "page":
            self.pages.append([])
            size = dict(attrs)
            self.sizes.append((float(size["width"] or 0), float(size["height"] or 0)))
        elif tag == "word":
            self._word = dict(attrs)

    def handle_data(self, data: str) -> None:
        if self._word is not None:
            w = self._word
            box = [float(w[k] or 0) for k in ("xmin", "ymin", "xmax", "ymax")]
            self.pages[-1].append(Box(data, *box))
            self._word = None


def pdf_file(pdf: bytes, tmp_path: Path, name: str = "doc") -> Path:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    return path


def word_boxes(path: Path) -> list[list[Box]]:
    return read_boxes(path).pages


def read_boxes(path: Path) -> WordBoxes:
    out = subprocess.run(
        [poppler("pdftotext"), "-bbox", str(path), "-"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    parser = WordBoxes()
    parser.feed(out)
    parser.close()
    return parser


def plain_text(path: Path) -> str:
    return subprocess.run(
        [poppler("pdftotext"), "-enc", "UTF-8", str(path), "-"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def embedded_fonts(path: Path) -> dict[str, bool]:
    """pdffonts' table: each font's name, and whether the file carries it."""
    out = subprocess.run(
        [poppler("pdffonts"), str(path)], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    fonts = {}
    for row in out.splitlines()[2:]:
        # name, type (one or two words), encoding, emb, sub, uni, object, generation
        cells = row.split()
        fonts[cells[0]] = cells[-5] == "yes"
    return fonts


def fonts_that_draw_text(pdf: bytes) -> set[str]:
    """The base font of every run of visible text. ReportLab selects Helvetica at the start of
    each table cell and then draws in the cell's own font: selected, listed, never drawn with."""
    used: set[str] = set()

    def visit(text: str, _cm: object, _tm: object, font: object, _size: object) -> None:
        if text.strip() and isinstance(font, dict):
            used.add(str(font.get("/BaseFont", "?")).lstrip("/"))

    for page in pypdf.PdfReader(io.BytesIO(pdf)).pages:
        page.extract_text(visitor_text=visit)
    return used


def overprinted(page: list[Box]) -> list[tuple[str, str]]:
    return [(a.text, b.text) for a, b in combinations(page, 2) if a.overlaps(b)]


def names_of(doc: InvoiceDocument | StatementDocument) -> list[str]:
    """Everything a user wrote that the document prints."""
    names = [doc.buyer.name, doc.seller.name]
    if isinstance(doc, InvoiceDocument):
        names += [line.description for line in doc.lines]
        names += [value for _, value in doc.custom_fields]
        names.append(doc.document_id)
    else:
        names += [e.description for e in doc.statement.entries]
    return names


def in_order(word: str, text: str) -> bool:
    """Whether the characters of ``word`` come in ``text`` in that order."""
    rest = iter(text)
    return all(char in rest for char in word)


def mark_of(doc: InvoiceDocument | StatementDocument) -> str | None:
    return MARKS.get(doc.status) if isinstance(doc, InvoiceDocument) else None


def needs_cjk(case: str) -> None:
    if not case.startswith("scripts"):
        return
    if not any(face.family == "WenQuanYi Zen Hei" for face in font_faces()):
        if os.environ.get("CI") == "true":
            pytest.fail("no CJK font on CI: fonts-wqy-zenhei is missing")
        pytest.skip("no CJK font installed (fonts-wqy-zenhei)")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, Path]]:
    """Each case drawn once; its pages also as pictures in test-artifacts/documents/."""
    folder = tmp_path_factory.mktemp("layout")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    out = {}
    for case, make in CASES.items():
        pdf = render(make())
        path = pdf_file(pdf, folder, case)
        for old in ARTIFACTS.glob(f"layout-{case}-*.png"):
            old.unlink()
        subprocess.run(
            [poppler("pdftoppm"), "-r", "60", "-png", str(path), str(ARTIFACTS / f"layout-{case}")],
            check=True,
            capture_output=True,
            timeout=120,
        )
        out[case] = (pdf, path)
    return out


# --- every case -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_no_text_is_printed_over_other_text(case: str, rendered: dict[str, tuple[bytes, Path]]):
    # given
    needs_cjk(case)
    _, path = rendered[case]

    # when
    pages = word_boxes(path)

    # then
    assert pages and all(pages)
    assert {n: overprinted(p) for n, p in enumerate(pages, 1) if overprinted(p)} == {}


@pytest.mark.parametrize("case", list(CASES))
def test_every_word_lies_within_the_page_margins(
    case: str, rendered: dict[str, tuple[bytes, Path]]
):
    # given
    needs_cjk(case)
    _, path = rendered[case]

    # when
    boxes = read_boxes(path)

    # then (1.5 cm = 42.5 pt of margin left and right; a little of it may be used)
    for number, (page, (width, _)) in enumerate(zip(boxes.pages, boxes.sizes, strict=True), 1):
        outside = [b.text for b in page if b.x0 < 36 or b.x1 > width - 36]
        assert outside == [], f"page {number}"


@pytest.mark.parametrize("case", list(CASES))
def test_the_stamp_lies_clear_of_all_text(case: str, rendered: dict[str, tuple[bytes, Path]]):
    # given
    needs_cjk(case)
    doc = CASES[case]()
    mark = mark_of(doc)
    _, path = rendered[case]

    # when
    pages = word_boxes(path)

    # then every page carries it, tallest of its words, with room around it
    for number, page in enumerate(pages, 1):
        stamps = [b for b in page if b.text == mark]
        if mark is None:
            assert not [b for b in page if b.text in MARKS.values() and b.height > 15]
            continue
        assert stamps, f"page {number} has no {mark} stamp"
        stamp = max(stamps, key=lambda b: b.height)
        assert stamp.height > max(b.height for b in page if b is not stamp)
        near = [b.text for b in page if b is not stamp and stamp.overlaps(b, margin=6)]
        assert near == [], f"page {number}: the stamp touches {near}"


@pytest.mark.parametrize("case", list(CASES))
def test_every_character_of_every_name_is_printed(
    case: str, rendered: dict[str, tuple[bytes, Path]]
):
    # given
    needs_cjk(case)
    _, path = rendered[case]

    # when
    text = plain_text(path)

    # then
    squeezed = "".join(text.split())
    for name in names_of(CASES[case]()):
        assert set(name) - set(text) - {" "} == set(), name
        for word in name.split():
            # a word wider than its column is wrapped, and the next cells are read in between
            assert word in squeezed if len(word) <= WRAPPED else in_order(word, squeezed), word


@pytest.mark.parametrize("case", list(CASES))
def test_every_font_that_draws_text_is_embedded(case: str, rendered: dict[str, tuple[bytes, Path]]):
    # given
    needs_cjk(case)
    pdf, path = rendered[case]

    # when
    listed = embedded_fonts(path)
    used = fonts_that_draw_text(pdf)

    # then
    assert used, "the document draws text"
    assert {name: listed.get(name) for name in used} == dict.fromkeys(used, True)
    assert any("DejaVuSans" in name for name in used)
    if case.startswith("scripts"):
        assert any("WenQuanYiZenHei" in name for name in used)


# --- the page count the cases claim ---------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "pages"),
    [("open-one-page", range(1, 2)), ("draft-two-pages", range(2, 3))]
    + [(c, range(3, 99)) for c in ("void-many-pages", "open-many-pages", "statement-many-pages")],
)
def test_the_cases_have_the_pages_they_say(
    case: str, pages: range, rendered: dict[str, tuple[bytes, Path]]
):
    assert len(word_boxes(rendered[case][1])) in pages


# --- the checks can fail ------------------------------------------------------------------------


def test_the_overprint_check_sees_a_stamp_over_text(tmp_path: Path):
    """The stamp as it was: a frame at 11 cm, over whatever the page has there."""
    # given
    rows = "".join(f"<p>Line {i} of the charges table</p>" for i in range(60))
    html = (
        "<html><head><meta charset='utf-8'><style>@page { @frame mark {"
        " -pdf-frame-content: m; top: 11cm; margin-left: 2cm; margin-right: 2cm; height: 3cm; } }"
        " #m { font-size: 60pt; }</style></head>"
        f"<body><div id='m'>VOID</div>{rows}</body></html>"
    )

    # when
    pages = word_boxes(pdf_file(html_to_pdf(html), tmp_path))

    # then
    assert any(pair for pair in overprinted(pages[0]) if "VOID" in pair)


def test_the_font_check_sees_helvetica(tmp_path: Path):
    # given a document that names no embedded font
    pdf = html_to_pdf("<html><body><p>Ярослав</p></body></html>")

    # when
    listed = embedded_fonts(pdf_file(pdf, tmp_path))

    # then
    assert {listed[name] for name in fonts_that_draw_text(pdf)} == {False}


# --- fonts ----------------------------------------------------------------------------------------


def test_the_body_font_is_the_embedded_one_not_an_escaped_name():
    # given
    html = invoice_html(make_invoice(), pdf=True)

    # then the style sheet names it as CSS, not as HTML-escaped text
    assert "&#34;" not in html.split("</style>", 1)[0]
    assert re.search(r'body \{ font-family: "DejaVu Sans"', html)


def test_without_a_cjk_font_the_pdf_says_what_it_cannot_print(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    # given a server with DejaVu only
    latin = tuple(face for face in font_faces() if face.family == "DejaVu Sans")
    if not latin:
        pytest.skip("DejaVu fonts are not installed")
    monkeypatch.setattr(html_module, "font_faces", lambda: latin)
    doc = make_invoice(buyer=replace(BUYER, name=f"{CYRILLIC} 株式会社"))

    # when
    pdf = render(doc)
    print_view = invoice_html(doc)

    # then the PDF prints the rest, and names the characters it has no font for
    text = " ".join(plain_text(pdf_file(pdf, tmp_path)).split())
    assert CYRILLIC in text
    assert "cannot be printed in the PDF" in text
    assert all(code in text for code in ("U+682A", "U+5F0F", "U+4F1A", "U+793E"))
    assert not [name for name in embedded_fonts(pdf_file(pdf, tmp_path)) if "WenQuanYi" in name]
    # and the print view, which the browser draws, needs no such note
    assert "cannot be printed" not in print_view


def test_with_every_font_there_is_no_note():
    # given
    needs_cjk("scripts")
    doc = make_invoice(buyer=replace(BUYER, name=f"{CYRILLIC} {GREEK} {CJK}"))

    # when
    html = invoice_html(doc, pdf=True)

    # then
    assert "cannot be printed" not in html


# --- what the face says -------------------------------------------------------------------------


@pytest.mark.parametrize("pdf", [True, False], ids=["pdf", "print-view"])
def test_a_void_invoice_owes_nothing(pdf: bool, tmp_path: Path):
    # given an invoice of 119.00, voided
    doc = make_invoice(status=InvoiceStatus.VOID)

    # when
    if pdf:
        text = plain_text(pdf_file(render(doc), tmp_path))
    else:
        text = re.sub(r"<[^>]+>", " ", invoice_html(doc))

    # then
    flat = " ".join(text.split())
    assert "Amount due €0.00" in flat
    assert "This invoice is void: nothing is due." in flat
    assert "Amount due €119.00" not in flat
    assert "Please pay" not in flat


def test_an_open_invoice_still_says_what_is_due(tmp_path: Path):
    # when
    text = " ".join(plain_text(pdf_file(render(make_invoice()), tmp_path)).split())

    # then
    assert "Amount due €119.00" in text
    assert "nothing is due" not in text


def test_the_service_period_is_printed_once_on_a_line(tmp_path: Path):
    # given a line described as billing describes it: the period at the end
    line = make_line(1, description="Microsoft 365 E3 (seat), 2026-11-01 to 2026-11-30")
    other = make_line(2, description="Support, 2026-10-01 to 2026-10-31")  # not its period

    # when
    text = " ".join(
        plain_text(pdf_file(render(make_invoice(lines=[line, other])), tmp_path)).split()
    )

    # then
    assert "Microsoft 365 E3 (seat)" in text
    assert "2026-11-01 to 2026-11-30" not in text
    assert "Support, 2026-10-01 to 2026-10-31" in text
    assert date(2026, 11, 1).isoformat() in text  # in the service period column
