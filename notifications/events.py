"""notification.failed: an email given up on, in the event log of the reseller it was for."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from core.global_ids import to_global_id
from db.scope import PLATFORM_TENANT_ID
from events import log as events
from notifications.models import OutboxMessage
from notifications.outbox import tenant_reason


async def record_failure(session: AsyncSession, message_id: uuid.UUID) -> None:
    """In the transaction that marks the message FAILED. The platform's own mail (invitations
    before a reseller exists, its wholesale mail) is in no reseller's log."""
    row = await session.scalar(
        select(OutboxMessage)
        .options(defer(OutboxMessage.message))
        .where(OutboxMessage.id == message_id)
    )
    if row is None or row.reseller_id == PLATFORM_TENANT_ID:
        return
    about = (
        {"type": row.about_type, "id": to_global_id(row.about_type, row.about_id)}
        if row.about_type and row.about_id
        else None
    )
    await events.record(
        session,
        "notification.failed",
        reseller_id=row.reseller_id,
        object_type="Notification",
        object_id=row.id,
        payload={
            "id": str(row.id),
            "event": row.event,
            "origin": str(row.origin),
            "recipient": row.recipient,
            "subject": row.subject,
            "status": str(row.status),
            "attempts": row.attempts,
            "error": tenant_reason(row.last_error),
            "about": about,
        },
        billing=row.about_type == "Invoice",
    )
