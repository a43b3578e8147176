"""Test notifications: an event's email with made-up data, sent to the person asking, as their
seller sends it, so a reseller sees its branding before a customer does."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import NotFound
from db.scope import TenantScope
from notifications.branding import branding_of
from notifications.emails import Composer
from notifications.models import NotificationEvent, NotificationOrigin, OutboxMessage
from notifications.outbox import enqueue
from tenants.audit import Actor, record
from tenants.repositories import PlatformAdminRepository, ResellerRepository, UserRepository

PLATFORM_CURRENCY = "EUR"  # of the made-up amounts in the platform's own previews


async def send_test_notification(
    session: AsyncSession,
    scope: TenantScope,
    actor: Actor,
    composer: Composer,
    event: NotificationEvent,
    *,
    platform_admin: bool,
    reseller_id: uuid.UUID | None,
    platform_prefix: str,
) -> OutboxMessage:
    """Queue a preview of ``event`` to the person ``actor`` (a platform admin or a reseller's
    user), branded as the reseller (None: the platform); an invitation always as the platform
    sends it. Sent whether or not the seller enabled the event: a preview is how one decides."""
    to, name = await _address_of(session, scope, actor, platform_admin)
    seller, currency, prefix = composer.platform_name, PLATFORM_CURRENCY, platform_prefix
    if reseller_id is not None:
        reseller = await ResellerRepository(session, scope).get(reseller_id)
        if reseller is None:
            raise NotFound("reseller", field="resellerId")
        seller, currency, prefix = reseller.name, reseller.currency, reseller.invoice_prefix
    if event is NotificationEvent.INVITATION:
        brand = await branding_of(session, None, composer.platform_name)
    else:
        brand = await branding_of(session, reseller_id, seller)
    message = composer.sample(
        event,
        to,
        brand,
        recipient_name=name,
        organisation=seller,
        currency=currency,
        invoice_prefix=prefix,
        today=utcnow().date(),
    )
    row = enqueue(
        session, message, event=event, reseller_id=reseller_id, origin=NotificationOrigin.TEST
    )
    record(
        session,
        actor,
        "notification.test_sent",
        "NotificationSettings",
        reseller_id,
        reseller_id,
        event=str(event),
    )
    return row


async def _address_of(
    session: AsyncSession, scope: TenantScope, actor: Actor, platform_admin: bool
) -> tuple[str, str]:
    """The person's email and name, as stored now."""
    assert actor.id is not None
    if platform_admin:
        admin = await PlatformAdminRepository(session).get(actor.id)
        person = (admin.email, admin.name) if admin else None
    else:
        user = await UserRepository(session, scope).get(actor.id)
        person = (user.email, user.name) if user else None
    if person is None:
        raise NotFound("user")
    return person
