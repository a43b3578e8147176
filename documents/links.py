"""Signed download links: ``/documents/{token}``, valid 15 minutes.

The token is a JWT of its own audience, so no access token opens a document and no link calls
the API. It names the caller who asked for it (as an access token does), the document, the format
and the tenant the document belongs to. Opening it reads that caller afresh: a user who lost
billing access, a revoked API client or portal token, opens nothing even with a fresh link.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from auth.principal import Principal
from auth.tokens import InvalidToken, TokenSigner
from documents.formats import DocumentFormat

DOCUMENT_AUDIENCE = "channelbill-documents"
LINK_TTL_SECONDS = 15 * 60
ACCOUNT_TYPES = ("Customer", "Reseller")


@dataclass(frozen=True, slots=True)
class InvoiceTarget:
    invoice_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class StatementTarget:
    owner_type: str  # Customer or Reseller
    owner_id: uuid.UUID
    start: date
    end: date


Target = InvoiceTarget | StatementTarget


@dataclass(frozen=True, slots=True)
class OpenedLink:
    claims: dict[str, Any]  # the caller's, for auth.callers
    target: Target
    format: DocumentFormat
    tenant: uuid.UUID


class DocumentLinks:
    def __init__(self, signer: TokenSigner, base_url: str) -> None:
        self.signer = signer
        self.base_url = base_url.rstrip("/")

    def url(
        self, principal: Principal, target: Target, tenant: uuid.UUID, fmt: DocumentFormat
    ) -> str:
        claims: dict[str, Any] = {"fmt": fmt.value, "tid": str(tenant), **_encode(target)}
        if principal.reseller_id is not None:
            claims["rid"] = str(principal.reseller_id)
        if principal.scopes:
            claims["scope"] = " ".join(sorted(principal.scopes))
        if principal.session_id is not None:
            claims["sid"] = str(principal.session_id)
        issued = self.signer.issue(principal.subject, DOCUMENT_AUDIENCE, LINK_TTL_SECONDS, **claims)
        return f"{self.base_url}/documents/{issued.token}"

    def open(self, token: str) -> OpenedLink:
        """What a link opens; InvalidToken when it is expired, altered or not a link at all."""
        claims = self.signer.verify(token, DOCUMENT_AUDIENCE)
        try:
            return OpenedLink(
                claims=claims,
                target=_decode(claims),
                format=DocumentFormat(claims["fmt"]),
                tenant=uuid.UUID(str(claims["tid"])),
            )
        except (KeyError, ValueError, TypeError):
            raise InvalidToken("document") from None


def _encode(target: Target) -> dict[str, str]:
    if isinstance(target, InvoiceTarget):
        return {"doc": "invoice", "oid": str(target.invoice_id)}
    return {
        "doc": "statement",
        "acct": target.owner_type,
        "oid": str(target.owner_id),
        "from": target.start.isoformat(),
        "to": target.end.isoformat(),
    }


def _decode(claims: dict[str, Any]) -> Target:
    oid = uuid.UUID(str(claims["oid"]))
    if claims["doc"] == "invoice":
        return InvoiceTarget(oid)
    if claims["doc"] == "statement" and claims["acct"] in ACCOUNT_TYPES:
        start, end = date.fromisoformat(claims["from"]), date.fromisoformat(claims["to"])
        return StatementTarget(str(claims["acct"]), oid, start, end)
    raise ValueError("unknown document")
