"""PDFs rendered for real and parsed back with pypdf: what they say, their marks, their page
frames, the seller's logo, and that rendering fetches nothing, whatever the content says."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pypdf
import pytest
from PIL import Image
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import PERMISSIVE_POLICY

from billing.models import InvoiceStatus
from documents import pdf as pdf_module
from documents.content import InvoiceDocument, Seller, StatementDocument
from documents.html import font_faces, invoice_html, statement_html
from documents.pdf import BLOCKED, html_to_pdf, only_embedded
from notifications.branding import Branding
from tests.documents import (
    BUYER,
    SELLER,
    Canary,
    long_invoice,
    make_invoice,
    make_line,
    make_statement,
    png,
)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "documents"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LONG = 60  # lines: enough for at least three A4 pages
MARKS = ("VOID", "DRAFT")

# What a document's content may try to make the renderer fetch. {base} is the canary's URL,
# {secret} a real PNG file the document has no business reading.
NETWORK_PROBES = {
    "img-http": '<img src="{base}/img.png">',
    "css-import": "<style>@import url({base}/import.css);</style>",
    "css-background-http": '<div style="background-image:url({base}/background.png)">b</div>',
    "link-stylesheet": '<link rel="stylesheet" href="{base}/link.css">',
}
FILE_PROBES = {
    "img-file-uri": '<img src="file://{secret}">',
    "img-bare-path": '<img src="{secret}">',
    "css-background-file": '<div style="background-image:url(file://{secret})">f</div>',
}
# No canary can show these succeed (not an image, or not fetched by xhtml2pdf itself): they
# are only checked to fetch and embed nothing.
OTHER_PROBES = {
    "img-etc-passwd": '<img src="file:///etc/passwd">',
    "font-face-http": (
        '<style>@font-face { font-family: "Probe"; src: url({base}/font.ttf); }'
        ' p { font-family: "Probe"; }</style>'
    ),
    "svg-data-uri-linking-out": '<img src="data:image/svg+xml;base64,{svg}">',
}
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
    ' width="40" height="40"><rect width="40" height="40" fill="#123456"/>'
    '<image xlink:href="{base}/svg.png" width="40" height="40"/>'
    '<image href="file://{secret}" width="10" height="10"/></svg>'
)


# --- helpers ----------------------------------------------------------------------------------


def render(doc: InvoiceDocument | StatementDocument) -> bytes:
    if isinstance(doc, StatementDocument):
        return html_to_pdf(statement_html(doc, pdf=True))
    return html_to_pdf(invoice_html(doc, pdf=True))


def reader(pdf: bytes) -> pypdf.PdfReader:
    assert pdf.startswith(b"%PDF-")
    return pypdf.PdfReader(io.BytesIO(pdf))


def page_texts(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in reader(pdf).pages]


def flat(text: str) -> str:
    """Words separated by single spaces: the renderer wraps long cells where it likes."""
    return " ".join(text.split())


def image_count(pdf: bytes) -> int:
    return sum(len(page.images) for page in reader(pdf).pages)


def link_targets(pdf: bytes) -> set[str]:
    targets = set()
    for page in reader(pdf).pages:
        for annotation in page.get("/Annots") or []:
            action = annotation.get_object().get("/A")
            if action is not None and "/URI" in action:
                targets.add(str(action["/URI"]))
    return targets


def poppler(tool: str) -> str:
    """A poppler-utils program: skipped where it is not installed, except on CI."""
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} (poppler-utils) is missing on CI")
        pytest.skip(f"{tool} (poppler-utils) is not installed")
    return path


def secret_png(tmp_path: Path) -> Path:
    path = tmp_path / "secret.png"
    path.write_bytes(png(7, 5, (0, 200, 0)))
    return path


def probe(template: str, canary: Canary, secret: Path) -> str:
    svg = base64.b64encode(
        SVG.replace("{base}", canary.base_url).replace("{secret}", str(secret)).encode()
    ).decode("ascii")
    return (
        template.replace("{base}", canary.base_url)
        .replace("{secret}", str(secret))
        .replace("{svg}", svg)
    )


def raw_document(body: str) -> str:
    return f"<html><head><meta charset='utf-8'></head><body><p>Planted</p>{body}</body></html>"


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    parser.close()
    return parser.found


@pytest.fixture(scope="module")
def long_open_pdf() -> bytes:
    return render(long_invoice(LONG))


@pytest.fixture(scope="module")
def long_void_pdf() -> bytes:
    return render(long_invoice(LONG, status=InvoiceStatus.VOID))


# --- what an invoice says ---------------------------------------------------------------------


def test_an_open_invoice_says_everything_the_buyer_needs():
    # given
    doc = make_invoice()

    # when
    pages = page_texts(render(doc))

    # then
    assert len(pages) == 1
    text = flat(pages[0])
    expected = [
        "CB-2026-000042",
        "D-7F3A9C",
        "Kunde Müller & Söhne GmbH",
        "billing@kunde.example",
        "Tax ID: DE123456789",
        "Microsoft",
        "Microsoft 365 Business Premium, seat pack 1",
        "Azure plan, usage",
        "€37.50",
        "€62.50",
        "Subtotal €100.00",
        "Tax (19%) €19.00",
        "Total €119.00",
        "Amount due €119.00",
        "Due 2026-12-31",
        "Please pay €119.00 by 2026-12-31, quoting CB-2026-000042.",
        "PO number: PO-4711",
        "Cost center: CC-0815",
        "Acme Cloud GmbH",
        "1 Main Street",
        "10115 Berlin",
        "Germany",
        "https://panel.acme.example/account",
        "https://acme.example",
    ]
    assert [s for s in expected if s not in text] == []


def test_the_seller_links_are_clickable():
    # given
    doc = make_invoice()

    # when
    targets = link_targets(render(doc))

    # then
    assert {"https://panel.acme.example/account", "https://acme.example"} <= targets


def test_without_links_the_footer_says_nothing_about_an_account():
    # given
    seller = replace(SELLER, control_panel_url=None, website_url=None)

    # when
    pdf = render(make_invoice(seller=seller))

    # then
    assert "Your account" not in page_texts(pdf)[0]
    assert link_targets(pdf) == set()


def test_a_statement_shows_its_balances_entries_and_aging():
    # given
    doc = make_statement()

    # when
    pages = page_texts(render(doc))

    # then
    text = flat(" ".join(pages))
    assert "Opening balance €250.00" in text
    assert "Invoice CB-2026-000041, 2026-10-01 to 2026-10-31 €119.00 €369.00" in text
    assert "Payment for invoice CB-2026-000041 €200.00 €169.00" in text
    assert "Invoice CB-2026-000042, 2026-11-01 to 2026-11-30 €37.50 €206.50" in text
    assert "Closing balance €206.50" in text
    aging = text.split("AGING OF WHAT IS OWED ON 2026-12-31", 1)[1]
    assert "Over 90 days Total €37.50 €100.00 €50.00 €12.00 €7.00 €206.50" in aging
    assert BUYER.name in text
    assert "VOID" not in text and "DRAFT" not in text


# --- marks ------------------------------------------------------------------------------------


def test_a_void_invoice_says_void_on_every_page(long_void_pdf: bytes):
    # given a voided invoice of many pages
    pages = page_texts(long_void_pdf)

    # then
    assert len(pages) >= 3
    # page 1 says it twice: the status and the mark; the others only carry the mark
    assert pages[0].count("VOID") == 2
    assert [i for i, text in enumerate(pages, 1) if "VOID" not in text] == []
    assert "DRAFT" not in "".join(pages)


def test_a_draft_is_marked_draft():
    # given a draft: no number yet
    doc = make_invoice(status=InvoiceStatus.DRAFT, number=None, issued_on=None)

    # when
    pages = page_texts(render(doc))

    # then
    assert pages[0].count("DRAFT") == 2  # the status and the mark
    assert "Draft invoice D-7F3A9C" in flat(pages[0])  # titled by its document id
    assert "VOID" not in "".join(pages)


@pytest.mark.parametrize("status", [InvoiceStatus.OPEN, InvoiceStatus.CLOSED])
def test_posted_invoices_carry_no_mark(status: InvoiceStatus):
    # given
    doc = long_invoice(40, status=status)

    # when
    pages = page_texts(render(doc))

    # then
    assert len(pages) >= 2
    assert pages[0].count(str(status)) == 1  # the status, and nothing over the page
    for text in pages:
        assert not [mark for mark in MARKS if mark in text]


# --- page frames ------------------------------------------------------------------------------


def test_long_invoices_repeat_the_table_header_on_every_page(long_open_pdf: bytes):
    # given
    pages = page_texts(long_open_pdf)

    # then
    assert len(pages) >= 3
    for number, text in enumerate(pages, 1):
        lines = [line.strip() for line in text.splitlines()]
        assert "Description" in lines, f"page {number} has no table header"
        assert "Unit price" in lines, f"page {number} has no table header"


def test_every_line_of_a_long_invoice_is_printed_once(long_open_pdf: bytes):
    # given
    text = flat(" ".join(page_texts(long_open_pdf)))

    # then
    for position in range(1, LONG + 1):
        assert text.count(f"seat pack {position} MS-365-BP-{position} ") == 1
    assert "Amount due €2,250.00" in text  # 60 x 37.50


def test_pages_are_numbered_page_n_of_total(long_open_pdf: bytes):
    # given
    pages = page_texts(long_open_pdf)
    total = len(pages)

    # then
    assert total >= 3
    assert f"Page 2 of {total}" in pages[1]
    for number, text in enumerate(pages, 1):
        assert f"Page {number} of {total}" in text


WORD = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
)
RESOURCE_ID = (
    "/subscriptions/6f1c2a3b-4d5e-4f60-8a9b-0c1d2e3f4a5b/resourceGroups/prod-weu"
    "/providers/Microsoft.Compute"
)


def word_boxes(pdf: bytes, tmp_path: Path) -> list[tuple[str, float, float]]:
    """Each word of page 1 with its left and right edges, as poppler lays it out."""
    source = tmp_path / "boxes.pdf"
    source.write_bytes(pdf)
    result = subprocess.run(
        [poppler("pdftotext"), "-bbox", "-f", "1", "-l", "1", str(source), "-"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return [(m[4], float(m[0]), float(m[2])) for m in WORD.findall(result.stdout)]


@pytest.mark.parametrize(
    "description",
    [
        pytest.param("Azure usage, virtual machines in West Europe", id="words"),
        pytest.param(f"Azure usage {RESOURCE_ID}", id="resource-id"),
    ],
)
def test_a_description_stays_in_its_column(description: str, tmp_path: Path):
    # given
    doc = make_invoice(lines=[make_line(1, description=description)])

    # when
    words = word_boxes(render(doc), tmp_path)

    # then no word of the description reaches the next column
    column_end = min(left for text, left, _ in words if text == "Service")
    # (a word of it, or a piece of a word the PDF wrapped, that the page has for no other reason)
    elsewhere = {t for t, _, _ in word_boxes(render(make_invoice()), tmp_path)}
    pieces = [t for t, _, _ in words if t in description and t not in elsewhere]
    assert pieces, "the description is on the page"
    assert [t for t, _, right in words if t in pieces and right > column_end] == []


# --- the seller's logo ------------------------------------------------------------------------


def logo_bytes(kind: str) -> bytes:
    if kind == "image/png":
        return png(60, 20, (30, 90, 200))
    out = io.BytesIO()
    Image.new("RGB", (60, 20), (200, 90, 30)).save(out, "JPEG")
    return out.getvalue()


@pytest.mark.parametrize("content_type", ["image/png", "image/jpeg"])
def test_the_seller_logo_is_embedded(content_type: str):
    # given a seller whose branding has a logo
    seller = Seller.of(
        Branding(
            name="Acme Cloud GmbH",
            logo=logo_bytes(content_type),
            logo_content_type=content_type,
            address="1 Main Street\n10115 Berlin",
        )
    )
    assert seller.logo_data_uri is not None
    assert seller.logo_data_uri.startswith(f"data:{content_type};base64,")

    # when
    pdf = render(make_invoice(seller=seller))

    # then
    images = reader(pdf).pages[0].images
    assert len(images) >= 1
    assert (images[0].image.width, images[0].image.height) == (60, 20)


def test_without_a_logo_there_is_no_image():
    # when
    pdf = render(make_invoice(seller=replace(SELLER, logo_data_uri=None)))

    # then
    assert image_count(pdf) == 0


def test_a_logo_of_another_type_is_left_out():
    # given an SVG logo: a format that can point elsewhere
    seller = Seller.of(
        Branding(
            name="Acme",
            logo=b"<svg xmlns='http://www.w3.org/2000/svg'/>",
            logo_content_type="image/svg+xml",
        )
    )

    # then
    assert seller.logo_data_uri is None
    assert image_count(render(make_invoice(seller=seller))) == 0


# --- nothing is fetched -----------------------------------------------------------------------


def test_user_content_is_escaped_and_fetches_nothing(canary: Canary, tmp_path: Path):
    # given markup planted in every field a buyer or a reseller's user writes
    secret = secret_png(tmp_path)
    planted_name = '<img src="file:///etc/passwd">Evil & Co'
    planted_description = (
        f'<img src="file://{secret}"><img src="{secret}"><img src="{canary.url("line.png")}">Seats'
    )
    planted_field = (
        f"<style>@import url({canary.url('field.css')});</style>"
        f'<div style="background-image:url({canary.url("field.png")})">PO</div>'
        f'<link rel="stylesheet" href="{canary.url("field-link.css")}">'
    )
    doc = make_invoice(
        buyer=replace(BUYER, name=planted_name),
        lines=[make_line(1, description=planted_description)],
        custom_fields=[("PO number", planted_field)],
        seller=replace(SELLER, website_url=canary.url("site")),
    )

    # when
    html = invoice_html(doc, pdf=True)
    pdf = html_to_pdf(html)

    # then none of it became markup: the only tags are the template's own
    tags = tags_of(html)
    assert [t for t, _ in tags if t in ("img", "link")] == []
    assert [t for t, _ in tags if t == "style"] == ["style"]
    assert [a for _, a in tags if "url(" in (a.get("style") or "")] == []
    # and the PDF shows it as the text it is
    text = "".join("".join(page_texts(pdf)).split())
    for planted in (planted_name, planted_description, planted_field):
        assert "".join(planted.split()) in text
    assert canary.requests == []
    assert image_count(pdf) == 0


@pytest.mark.parametrize(
    "template",
    [*NETWORK_PROBES.values(), *FILE_PROBES.values(), *OTHER_PROBES.values()],
    ids=[*NETWORK_PROBES, *FILE_PROBES, *OTHER_PROBES],
)
def test_raw_markup_cannot_make_the_renderer_fetch(template: str, canary: Canary, tmp_path: Path):
    # given markup that got past the templates
    html = raw_document(probe(template, canary, secret_png(tmp_path)))

    # when
    pdf = html_to_pdf(html)

    # then
    assert canary.requests == []
    assert image_count(pdf) == 0
    assert "root:" not in "".join(page_texts(pdf))


def test_all_probes_at_once_fetch_nothing(canary: Canary, tmp_path: Path):
    # given
    secret = secret_png(tmp_path)
    probes = [*NETWORK_PROBES.values(), *FILE_PROBES.values(), *OTHER_PROBES.values()]
    html = raw_document("".join(probe(p, canary, secret) for p in probes))

    # when
    pdf = html_to_pdf(html)

    # then
    assert canary.requests == []
    assert image_count(pdf) == 0


def _unguarded(html: str) -> bytes:
    out = io.BytesIO()
    result = pisa.CreatePDF(html, dest=out, encoding="utf-8", resource_policy=PERMISSIVE_POLICY)
    assert not result.err
    return out.getvalue()


def _callback_only(html: str) -> bytes:
    out = io.BytesIO()
    result = pisa.CreatePDF(
        html,
        dest=out,
        encoding="utf-8",
        link_callback=only_embedded,
        resource_policy=PERMISSIVE_POLICY,
    )
    assert not result.err
    return out.getvalue()


@pytest.mark.parametrize("name", [*NETWORK_PROBES, *FILE_PROBES])
def test_the_probes_do_fetch_when_nothing_guards_the_renderer(
    name: str, canary: Canary, tmp_path: Path
):
    """The canaries can sing: without our callback and with xhtml2pdf's permissive policy,
    each probe reaches the server or embeds the secret file, so the tests above can fail."""
    # given
    template = {**NETWORK_PROBES, **FILE_PROBES}[name]
    html = raw_document(probe(template, canary, secret_png(tmp_path)))

    # when
    pdf = _unguarded(html)

    # then
    if name in NETWORK_PROBES:
        assert canary.requests != []
    else:
        images = [image for page in reader(pdf).pages for image in page.images]
        assert [(i.image.width, i.image.height) for i in images] == [(7, 5)]


@pytest.mark.parametrize("name", [*NETWORK_PROBES, *FILE_PROBES])
def test_the_link_callback_alone_blocks_every_probe(name: str, canary: Canary, tmp_path: Path):
    """Even under a policy that allows everything, the callback keeps the renderer home."""
    # given
    template = {**NETWORK_PROBES, **FILE_PROBES}[name]
    html = raw_document(probe(template, canary, secret_png(tmp_path)))

    # when
    pdf = _callback_only(html)

    # then
    assert canary.requests == []
    assert image_count(pdf) == 0


@pytest.mark.parametrize(
    "template",
    [*NETWORK_PROBES.values(), *FILE_PROBES.values(), *OTHER_PROBES.values()],
    ids=[*NETWORK_PROBES, *FILE_PROBES, *OTHER_PROBES],
)
def test_the_resource_policy_alone_blocks_every_probe(
    template: str, canary: Canary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Should the callback ever let a reference through, html_to_pdf's policy still holds."""
    # given a link callback that lets everything through
    monkeypatch.setattr(pdf_module, "only_embedded", lambda uri, _rel=None: uri)
    html = raw_document(probe(template, canary, secret_png(tmp_path)))

    # when
    pdf = html_to_pdf(html)

    # then
    assert canary.requests == []
    assert image_count(pdf) == 0


def test_a_font_path_with_a_traversal_is_not_a_font_path():
    # given
    faces = font_faces()
    if not faces:
        pytest.skip("DejaVu fonts are not installed: no font file is allowed at all")
    escaped = f"{faces[0].path}/../../../../../etc/passwd"

    # then
    assert only_embedded(faces[0].path) == faces[0].path
    assert only_embedded(escaped) == BLOCKED


DATA_PNG = "data:image/png;base64," + base64.b64encode(png(2, 2)).decode("ascii")


@pytest.mark.parametrize("uri", [DATA_PNG, "data:image/gif;base64,R0lGODlhAQABAAAAACw="])
def test_only_embedded_lets_data_uris_through(uri: str):
    assert only_embedded(uri) == uri
    assert only_embedded(uri, "/somewhere/base.html") == uri


@pytest.mark.parametrize(
    "uri",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "/etc/passwd",
        "http://127.0.0.1:8080/x.png",
        "https://169.254.169.254/latest/meta-data/",
        "//evil.example/x.png",
        "logo.png",
        "../secret.png",
        "ftp://evil.example/x.png",
        "DATA:image/png;base64,AAAA",
        " data:image/png;base64,AAAA",
        "",
    ],
)
def test_only_embedded_replaces_every_other_reference(uri: str):
    assert only_embedded(uri) == BLOCKED
    assert only_embedded(uri, "/somewhere/base.html") == BLOCKED


@pytest.mark.parametrize("uri", [None, b"data:image/png;base64,AAAA", 42])
def test_only_embedded_replaces_what_is_not_a_string(uri: object):
    assert only_embedded(uri) == BLOCKED


# --- pictures for a person to look at ---------------------------------------------------------

KINDS: dict[str, Callable[[], InvoiceDocument | StatementDocument]] = {
    "invoice-open": make_invoice,
    "invoice-void": lambda: long_invoice(LONG, status=InvoiceStatus.VOID),
    "invoice-draft": lambda: make_invoice(status=InvoiceStatus.DRAFT, number=None, issued_on=None),
    "statement": make_statement,
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_first_pages_are_drawn_for_a_person_to_look_at(kind: str, tmp_path: Path):
    # given
    pdftoppm = poppler("pdftoppm")
    source = tmp_path / f"{kind}.pdf"
    source.write_bytes(render(KINDS[kind]()))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    picture = ARTIFACTS / f"{kind}.png"
    picture.unlink(missing_ok=True)

    # when
    subprocess.run(
        [
            pdftoppm,
            "-png",
            "-r",
            "60",
            "-singlefile",
            "-f",
            "1",
            "-l",
            "1",
            str(source),
            str(ARTIFACTS / kind),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )

    # then
    assert picture.is_file()
    assert picture.read_bytes().startswith(PNG_SIGNATURE)
