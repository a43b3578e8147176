"""The outbox: one row per email, written in the transaction of the change that causes it."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, Enum, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from db.base import Base, TenantKeyed

INVOICE_PDF = "invoice_pdf"


def invoice_pdf(version: str | None) -> str:
    """What a message attaches: the PDF of one version of the invoice (``invoice_pdf:ISSUED``),
    the version of the message's own event; plain ``invoice_pdf`` is the invoice as it is now."""
    return f"{INVOICE_PDF}:{version}" if version else INVOICE_PDF


def attached_version(attachment: str) -> tuple[str, str | None]:
    """The kind and the version an ``attachment`` names: the inverse of ``invoice_pdf``."""
    kind, _, version = attachment.partition(":")
    return kind, version or None


def is_invoice_pdf(attachment: str | None) -> bool:
    """Whether a message attaches the invoice PDF, in whichever version."""
    return attachment is not None and attached_version(attachment)[0] == INVOICE_PDF


class DeliveryStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    SENT = "SENT"
    FAILED = "FAILED"


class NotificationOrigin(enum.StrEnum):
    """Why a message was sent."""

    EVENT = "EVENT"  # something happened: a status change, an invitation
    COPY = "COPY"  # a user asked for it (sendInvoice)
    TEST = "TEST"  # a preview with made-up data (sendTestNotification)


class OutboxMessage(TenantKeyed, Base):
    """A complete RFC 5322 message as rendered when it was queued, and how its delivery goes."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outbox_messages_reseller_id_about_id", "reseller_id", "about_id"),
    )

    event: Mapped[str] = mapped_column(String(40))  # a NotificationEvent
    origin: Mapped[NotificationOrigin] = mapped_column(
        Enum(NotificationOrigin, native_enum=False, length=20, create_constraint=True),
        default=NotificationOrigin.EVENT,
    )
    recipient: Mapped[str] = mapped_column(String(1000))
    subject: Mapped[str] = mapped_column(String(300))
    about_type: Mapped[str | None] = mapped_column(String(40))
    about_id: Mapped[uuid.UUID | None]
    message: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(DeliveryStatus, native_enum=False, length=20, create_constraint=True),
        default=DeliveryStatus.QUEUED,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None]
    # What the dispatcher adds when it sends (rendered then, not kept in the row): INVOICE_PDF,
    # the PDF of the invoice the message is about, in the version it names (``invoice_pdf``).
    attachment: Mapped[str | None] = mapped_column(String(40))


class NotificationEvent(enum.StrEnum):
    """What a buyer or a user is emailed about."""

    INVOICE_POSTED = "INVOICE_POSTED"
    INVOICE_VOIDED = "INVOICE_VOIDED"
    INVOICE_PAID = "INVOICE_PAID"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    ACCOUNT_DEACTIVATED = "ACCOUNT_DEACTIVATED"
    ACCOUNT_REACTIVATED = "ACCOUNT_REACTIVATED"
    INVITATION = "INVITATION"
    WEBHOOK_DISABLED = "WEBHOOK_DISABLED"  # to a reseller's OWNER: its endpoint kept failing


class NotificationSettings(Base):
    """How a seller presents itself on its emails and documents: logo, links, sender, address,
    tax id and payment instructions, the events it emails about. One row per reseller, keyed by
    its id, and one for the platform (``PLATFORM_TENANT_ID``): every value a reseller leaves
    unset (NULL) falls back to the platform's."""

    __tablename__ = "notification_settings"

    reseller_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)
    logo_content_type: Mapped[str | None] = mapped_column(String(40))
    control_panel_url: Mapped[str | None] = mapped_column(String(500))
    website_url: Mapped[str | None] = mapped_column(String(500))
    sender_name: Mapped[str | None] = mapped_column(String(200))
    reply_to: Mapped[str | None] = mapped_column(String(320))
    address: Mapped[str | None] = mapped_column(String(1000))
    # On the face of its invoices: its tax registration, and how to pay it (bank details).
    tax_id: Mapped[str | None] = mapped_column(String(64))
    payment_instructions: Mapped[str | None] = mapped_column(String(1000))
    enabled_events: Mapped[list[str] | None] = mapped_column(JSON)
    attach_invoice_pdf: Mapped[bool | None] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
