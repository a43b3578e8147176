"""The formats a document comes in, with their media types and file name endings."""

from __future__ import annotations

import enum


class DocumentFormat(enum.StrEnum):
    PDF = "PDF"
    CSV = "CSV"
    DETAILED_CSV = "DETAILED_CSV"
    HTML = "HTML"

    @property
    def content_type(self) -> str:
        return {
            DocumentFormat.PDF: "application/pdf",
            DocumentFormat.CSV: "text/csv; charset=utf-8; header=present",
            DocumentFormat.DETAILED_CSV: "text/csv; charset=utf-8; header=present",
            DocumentFormat.HTML: "text/html; charset=utf-8",
        }[self]

    def filename(self, stem: str) -> str:
        return (
            stem
            + {
                DocumentFormat.PDF: ".pdf",
                DocumentFormat.CSV: ".csv",
                DocumentFormat.DETAILED_CSV: "-detailed.csv",
                DocumentFormat.HTML: ".html",
            }[self]
        )
