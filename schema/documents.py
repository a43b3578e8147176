"""Download links of invoices and statements: DocumentFormat, and the signed URL of one."""

from __future__ import annotations

import uuid

import strawberry

from documents import formats
from documents.links import Target
from schema.context import Info
from schema.enums import described_enum
from schema.errors import UNAUTHENTICATED, ApiError

DocumentFormat = described_enum(
    formats.DocumentFormat,
    description=(
        "PDF; CSV (one row per line); DETAILED_CSV (one row per charge behind a line: a"
        " subscription's proration or a usage record); HTML (a print view)."
    ),
    values={
        formats.DocumentFormat.PDF: "A PDF to send or print.",
        formats.DocumentFormat.CSV: "A spreadsheet, one row per line.",
        formats.DocumentFormat.DETAILED_CSV: "A spreadsheet, one row per charge behind a line.",
        formats.DocumentFormat.HTML: "A page to view or print in a browser.",
    },
)

FORMAT = strawberry.argument(description="The file format.")
DOWNLOAD_URL = (
    "A signed link to the document in that format, valid 15 minutes. It opens only for the"
    " caller who asked for it, and only while that caller may still see the document."
)


def download_url(info: Info, target: Target, tenant: uuid.UUID, fmt: formats.DocumentFormat) -> str:
    principal = info.context.principal
    if principal is None:  # the types that link to documents are reached only when signed in
        raise ApiError("authentication required", UNAUTHENTICATED)
    return info.context.services.links.url(principal, target, tenant, formats.DocumentFormat(fmt))
