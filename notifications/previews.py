"""Test notifications: an event's message with made-up data, sent as a seller sends it, so a
reseller sees its branding before a customer does."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from notifications.branding import branding_of
from notifications.emails import Composer
from notifications.models import NotificationEvent, NotificationOrigin, OutboxMessage
from notifications.outbox import enqueue


async def send_test(
    session: AsyncSession,
    composer: Composer,
    event: NotificationEvent,
    *,
    to: str,
    recipient_name: str,
    reseller_id: uuid.UUID | None,
    seller_name: str,
    currency: str,
    invoice_prefix: str,
) -> OutboxMessage:
    """Queue a preview of ``event`` to ``to``, branded as the reseller (None: the platform),
    except an invitation, which always comes from the platform. Sent whether or not the seller
    enabled the event: a preview is how one decides."""
    if event is NotificationEvent.INVITATION:
        brand = await branding_of(session, None, composer.platform_name)
    else:
        brand = await branding_of(session, reseller_id, seller_name)
    message = composer.sample(
        event,
        to,
        brand,
        recipient_name=recipient_name,
        organisation=seller_name,
        currency=currency,
        invoice_prefix=invoice_prefix,
        today=utcnow().date(),
    )
    return enqueue(
        session, message, event=event, reseller_id=reseller_id, origin=NotificationOrigin.TEST
    )
