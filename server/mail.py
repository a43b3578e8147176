"""Outgoing mail from the settings: which transport, and a dispatcher over it.

The server's lifespan (when OUTBOX_DISPATCH is on) and ``channelbill worker`` build their
dispatcher here, so both deliver the same way; any number of them may run against one database.
"""

from __future__ import annotations

import uuid

from billing.models import InvoiceVersion
from db.database import Database
from db.scope import TenantScope
from documents.formats import DocumentFormat
from documents.service import Documents
from notifications.dispatcher import Attachment, Dispatcher
from notifications.models import INVOICE_PDF, attached_version
from notifications.transports import FileTransport, SmtpTransport, Transport
from server.settings import Settings

SMTPS_PORT = 465  # RFC 8314 submission over implicit TLS: STARTTLS never works there
MIN_LEASE_SECONDS = 300.0


def _implicit_tls(settings: Settings) -> bool:
    return settings.smtp_port == SMTPS_PORT


def build_transport(settings: Settings) -> Transport:
    """SMTP when SMTP_HOST is set; otherwise .eml files under the data folder."""
    if settings.smtp_host:
        return SmtpTransport(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_starttls,
            settings.smtp_username,
            settings.smtp_password,
            settings.smtp_timeout_seconds,
            implicit_tls=_implicit_tls(settings),
        )
    return FileTransport(settings.outbox_dir)


class InvoicePdfAttachments:
    """The invoice PDF of an email, in the version its event named (``invoice_pdf:ISSUED``),
    drawn when it is sent (the kept copy when there is one): the transaction that queued the
    email does not wait for a rendering, and a status change meanwhile does not alter it."""

    def __init__(self, documents: Documents) -> None:
        self.documents = documents

    async def __call__(
        self, kind: str, reseller_id: uuid.UUID | None, about_id: uuid.UUID | None
    ) -> Attachment | None:
        kind, version = attached_version(kind)
        if kind != INVOICE_PDF or reseller_id is None or about_id is None:
            return None
        if version is not None and version not in InvoiceVersion.__members__:
            return None
        found = await self.documents.invoice(
            TenantScope.system(),
            about_id,
            reseller_id,
            DocumentFormat.PDF,
            InvoiceVersion(version) if version else None,
        )
        return None if found is None else Attachment(found.filename, found.content_type, found.body)


def build_dispatcher(settings: Settings, db: Database, documents: Documents) -> Dispatcher:
    # SMTP_TIMEOUT_SECONDS bounds each network step; a whole conversation (connect, TLS and
    # login, envelope, DATA) gets four of them, and the lease covers a few such sends so that a
    # message is never still being sent when another dispatcher may claim it.
    send_timeout = 4 * settings.smtp_timeout_seconds
    return Dispatcher(
        db,
        build_transport(settings),
        max_attempts=settings.outbox_max_attempts,
        retry_seconds=settings.outbox_retry_seconds,
        poll_seconds=settings.outbox_poll_seconds,
        lease_seconds=max(MIN_LEASE_SECONDS, 5 * send_timeout),
        send_timeout_seconds=send_timeout,
        attachments=InvoicePdfAttachments(documents),
    )


def describe_transport(settings: Settings) -> str:
    """Where mail goes, for the banner and the worker's start line; never the credentials."""
    if settings.smtp_host:
        host = f"[{settings.smtp_host}]" if ":" in settings.smtp_host else settings.smtp_host
        if _implicit_tls(settings):
            security = "TLS"
        else:
            security = "STARTTLS" if settings.smtp_starttls else "no TLS"
        login = f", login {settings.smtp_username}" if settings.smtp_username else ""
        return f"smtp://{host}:{settings.smtp_port} ({security}{login})"
    return f"{settings.outbox_dir.resolve()} (.eml files; set SMTP_HOST to send)"
