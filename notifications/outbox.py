"""Putting a message in the outbox: a row in the caller's transaction, so it is sent if and only
if the change that caused it commits."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from email.message import EmailMessage
from email.utils import make_msgid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from core.ids import new_id
from db.scope import PLATFORM_TENANT_ID, TenantScope
from notifications.models import DeliveryStatus, NotificationOrigin, OutboxMessage


def enqueue(
    session: AsyncSession,
    message: EmailMessage,
    *,
    event: str,
    reseller_id: uuid.UUID | None,
    about_type: str | None = None,
    about_id: uuid.UUID | None = None,
    attachment: str | None = None,
    origin: NotificationOrigin = NotificationOrigin.EVENT,
) -> OutboxMessage:
    """Queue ``message``; its Message-ID names the outbox row, so a receiver can spot a repeat.
    ``reseller_id`` None files it under the platform (an invitation, the platform's own mail)."""
    row_id = new_id()
    if "Message-ID" not in message:
        message["Message-ID"] = make_msgid(idstring=row_id.hex, domain="channelbill")
    row = OutboxMessage(
        id=row_id,
        reseller_id=PLATFORM_TENANT_ID if reseller_id is None else reseller_id,
        event=event,
        origin=origin,
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


_SERVER_REPLY = re.compile(r"^(?:all recipients refused: )?[245]\d\d\b")
CONCEALED_REASON = "the platform's mail service could not send it yet (its operators see why)"


def tenant_reason(reason: str | None) -> str | None:
    """What a reseller may read of a delivery problem: a mail server's reply about the message
    or its recipient, as given; a problem of the platform's own mail set-up (hosts, TLS,
    credentials, timeouts) only in general words."""
    if reason is None or _SERVER_REPLY.match(reason):
        return reason
    return CONCEALED_REASON


class OutboxRepository:
    """What was emailed about things, for the tenant in scope; never the messages' bodies."""

    def __init__(self, session: AsyncSession, scope: TenantScope) -> None:
        self.session = session
        self.scope = scope

    async def about(
        self, about_type: str, ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, list[OutboxMessage]]:
        """The messages about each of ``ids``, oldest first."""
        wanted = list(set(ids))
        found: dict[uuid.UUID, list[OutboxMessage]] = defaultdict(list)
        if not wanted:
            return found
        statement = self.scope.filter(
            select(OutboxMessage)
            .options(defer(OutboxMessage.message))
            .where(OutboxMessage.about_type == about_type, OutboxMessage.about_id.in_(wanted)),
            OutboxMessage.reseller_id,
        ).order_by(OutboxMessage.created_at, OutboxMessage.id)
        for row in await self.session.scalars(statement):
            assert row.about_id is not None
            found[row.about_id].append(row)
        return found
