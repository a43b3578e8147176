"""Putting a message in the outbox: a row in the caller's transaction, so it is sent if and only
if the change that caused it commits."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from email.utils import make_msgid

from sqlalchemy.ext.asyncio import AsyncSession

from core.ids import new_id
from notifications.models import DeliveryStatus, OutboxMessage


def enqueue(
    session: AsyncSession,
    message: EmailMessage,
    *,
    event: str,
    reseller_id: uuid.UUID | None,
    about_type: str | None = None,
    about_id: uuid.UUID | None = None,
    attachment: str | None = None,
) -> OutboxMessage:
    """Queue ``message``; its Message-ID names the outbox row, so a receiver can spot a repeat."""
    row_id = new_id()
    if "Message-ID" not in message:
        message["Message-ID"] = make_msgid(idstring=row_id.hex, domain="channelbill")
    row = OutboxMessage(
        id=row_id,
        reseller_id=reseller_id,
        event=event,
        recipient=", ".join(str(a) for a in message.get_all("To", [])),
        subject=str(message["Subject"] or "")[:300],
        about_type=about_type,
        about_id=about_id,
        attachment=attachment,
        message=bytes(message),
        status=DeliveryStatus.QUEUED,
        attempts=0,
    )
    session.add(row)
    return row
