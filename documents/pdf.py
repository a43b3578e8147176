"""HTML to PDF through xhtml2pdf, confined to what the document embeds.

A document's content comes from users (names, descriptions, custom fields): escaped by the
templates, and still never trusted to make the renderer fetch anything. The link callback lets
through ``data:`` URIs (the seller's logo) and our own font files only; every other reference,
``file:`` and ``http:`` included, is replaced by an empty image before anything is read. The
resource policy, which also covers the paths the callback does not see, forbids the network and
confines local reads to the font files.

Rendering is synchronous and slow (tens of milliseconds a page): callers run it in a worker thread.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy

from documents.html import font_faces

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
