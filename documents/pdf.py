"""HTML to PDF through xhtml2pdf, confined to what the document embeds.

A document's content comes from users (names, descriptions, custom fields): escaped by the
templates, and still never trusted to make the renderer fetch anything. The link callback lets
through ``data:`` URIs (the seller's logo) and our own font files only; every other reference,
``file:`` and ``http:`` included, is replaced by an empty image before anything is read. The
resource policy, which also covers the paths the callback does not see, forbids the network and
confines local reads to the font files.

Rendering is synchronous and slow (tens of milliseconds a page): ``documents.renderer`` runs it
in worker processes.
"""

from __future__ import annotations

import functools
import io
import logging
import os
from pathlib import Path

from xhtml2pdf import context as xhtml2pdf_context
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy

from documents.html import font_faces, font_families

BLOCKED = "data:image/gif;base64,R0lGODlhAQABAAAAACw="  # an empty image

# xhtml2pdf logs every refused or broken reference at WARNING; they are expected here.
logging.getLogger("xhtml2pdf").setLevel(logging.ERROR)


class RenderFailed(Exception):
    """The renderer reported errors: a template bug, never the caller's fault."""


def _allowed_files() -> frozenset[str]:
    return frozenset(face.path for face in font_faces())


def only_embedded(uri: object, _rel: object = None) -> str:
    """xhtml2pdf's link_callback: what a reference in the document may resolve to."""
    if isinstance(uri, str) and (uri.startswith("data:") or uri in _allowed_files()):
        return uri
    return BLOCKED


def _policy() -> ResourceAccessPolicy:
    roots = tuple({Path(face.path).parent for face in font_faces()})
    return ResourceAccessPolicy.server(
        base_dir=None, extra_roots=roots, allow_remote=False, max_render_seconds=120
    )


def html_to_pdf(html: str) -> bytes:
    out = io.BytesIO()
    result = pisa.CreatePDF(
        html,
        dest=out,
        encoding="utf-8",
        link_callback=only_embedded,
        resource_policy=_policy(),
    )
    if result.err:
        raise RenderFailed(f"xhtml2pdf reported {result.err} error(s)")
    return out.getvalue()


def _remember_font_digests() -> None:
    """xhtml2pdf reads and hashes every embedded font file on every document, to tell two files
    declared under one family name apart: about 40 ms a document with the CJK face, a quarter of
    a one-page invoice. The digest of a file is the same until the file changes, so it is kept
    by path, size and modification time; a changed file is hashed again. Without the hook (a
    later xhtml2pdf) documents are drawn exactly as before, only slower."""
    digest = getattr(xhtml2pdf_context, "_file_digest", None)
    if digest is None or getattr(digest, "remembered", False):
        return

    @functools.lru_cache(maxsize=64)
    def by_stat(name: str, _size: int, _mtime: int) -> str | None:
        return digest(name)

    def remembered(name: str | None) -> str | None:
        if name is None:
            return None
        try:
            stat = os.stat(name)
        except OSError:
            return digest(name)
        return by_stat(name, stat.st_size, stat.st_mtime_ns)

    remembered.remembered = True  # type: ignore[attr-defined]
    xhtml2pdf_context._file_digest = remembered


_remember_font_digests()


def warm_up() -> None:
    """Load the renderer and register the embedded faces by drawing a small document with each
    of them: a worker process does this once, before its first customer's document."""
    faces = font_faces()
    rules = "".join(
        f'@font-face {{ font-family: "{face.family}"; src: url("{face.path}");'
        f"{' font-weight: bold;' if face.bold else ''} }}"
        for face in faces
    )
    families = ", ".join(f'"{family}"' for family in font_families(faces))
    html = (
        f"<html><head><style>{rules} body {{ font-family: {families or 'Helvetica'}; }}"
        "</style></head><body><p>channelbill <b>PDF</b></p></body></html>"
    )
    try:
        html_to_pdf(html)
    except Exception:  # the first real document reports it, to its caller
        logging.getLogger(__name__).exception("the PDF renderer did not warm up")
