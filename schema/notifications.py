"""The emails sent about things, with their delivery status, and test notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from auth import permissions as rules
from core.errors import Forbidden, ValidationFailed
from notifications import models, quota
from notifications.outbox import tenant_reason
from schema.context import Info
from schema.enums import described_enum
from schema.errors import Payload, user_errors
from schema.mutations import INPUT, respond
from schema.notification_settings import NotificationEvent, owner_of
from schema.permissions import Rule
from tenants.previews import send_test_notification

DeliveryStatus = described_enum(
    models.DeliveryStatus,
    description=(
        "QUEUED: waiting for its first or next try; SENT: the mail server accepted it;"
        " FAILED: given up (the reason says why)."
    ),
    values={
        models.DeliveryStatus.QUEUED: "Waiting for its first or next try.",
        models.DeliveryStatus.SENT: "The mail server accepted it.",
        models.DeliveryStatus.FAILED: "Given up; the reason says why.",
    },
)
NotificationOrigin = described_enum(
    models.NotificationOrigin,
    description=(
        "EVENT: sent because something happened; COPY: a user asked for it (sendInvoice);"
        " TEST: a preview with made-up data."
    ),
    values={
        models.NotificationOrigin.EVENT: "Sent because something happened.",
        models.NotificationOrigin.COPY: "A user asked for it (sendInvoice).",
        models.NotificationOrigin.TEST: "A preview with made-up data (sendTestNotification).",
    },
)


@strawberry.type(description="One email about something, and how its delivery went.")
class Notification:
    id: strawberry.ID = strawberry.field(description="The message's id (in its Message-ID).")
    event: NotificationEvent = strawberry.field(description="What it is about.")
    origin: NotificationOrigin = strawberry.field(description="Why it was sent.")
    recipient: str = strawberry.field(description="The address it goes to.")
    subject: str = strawberry.field(description="Its subject line.")
    status: DeliveryStatus = strawberry.field(description="QUEUED, SENT or FAILED.")
    attempts: int = strawberry.field(description="Tries so far.")
    error: str | None = strawberry.field(
        description=(
            "Why the last try failed (for FAILED, why it was given up): a mail server's reply"
            " as given; a problem of the platform's own mail service in general words, except"
            " to platform admins."
        )
    )
    invoice_pdf_attached: bool = strawberry.field(description="Whether it carries the PDF.")
    queued_at: datetime = strawberry.field(description="When it was written to the outbox.")
    sent_at: datetime | None = strawberry.field(description="When the mail server accepted it.")
    next_attempt_at: datetime | None = strawberry.field(
        description="While QUEUED, when it is tried next."
    )

    @classmethod
    def from_model(cls, row: models.OutboxMessage, operator: bool = False) -> Notification:
        queued = row.status is models.DeliveryStatus.QUEUED
        return cls(
            id=strawberry.ID(str(row.id)),
            event=models.NotificationEvent(row.event),
            origin=row.origin,
            recipient=row.recipient,
            subject=row.subject,
            status=row.status,
            attempts=row.attempts,
            error=row.last_error if operator else tenant_reason(row.last_error),
            invoice_pdf_attached=models.is_invoice_pdf(row.attachment),
            queued_at=row.created_at,
            sent_at=row.sent_at,
            next_attempt_at=row.next_attempt_at if queued else None,
        )


class CanSendTestNotifications(Rule):
    rule = staticmethod(rules.can_send_test_notifications)
    message = (
        "only an OWNER, an ADMIN or a platform admin may send a test notification"
        " (it goes to their own address)"
    )


@strawberry.input(description="Which email to preview.")
class SendTestNotificationInput:
    event: NotificationEvent = strawberry.field(description="The event whose email to send.")
    reseller_id: strawberry.ID | None = strawberry.field(
        default=None,
        description=(
            "Platform admins: preview as this reseller sends it; without it, as the platform"
            " does. Others always preview their own reseller's."
        ),
    )


@strawberry.type(description="The result of sendTestNotification.")
class SendTestNotificationPayload(Payload):
    recipient: str | None = strawberry.field(default=None, description="Where it was sent.")
    subject: str | None = strawberry.field(default=None, description="Its subject line.")
    notification_id: strawberry.ID | None = strawberry.field(
        default=None, description="The message's id, as Invoice.notifications shows ids."
    )


@strawberry.type
class NotificationMutations:
    @strawberry.mutation(
        permission_classes=[CanSendTestNotifications],
        description=(
            "Email the calling user a preview of an event's message with made-up data, branded"
            " as their reseller sends it (subject starting with [Test]); sent even when the event"
            " is turned off, and never with a PDF."
        ),
    )
    async def send_test_notification(
        self, info: Info, input: Annotated[SendTestNotificationInput, INPUT]
    ) -> SendTestNotificationPayload:
        ctx = info.context
        caller = ctx.caller
        try:
            owner, _ = await owner_of(info, input.reseller_id or None)
        except (Forbidden, ValidationFailed) as error:
            return SendTestNotificationPayload(errors=user_errors(error))

        async def send(session: AsyncSession) -> models.OutboxMessage:
            await quota.spend(
                session, ctx.scope.reseller_id, "test_notifications", quota.TEST_NOTIFICATIONS, 1
            )
            return await send_test_notification(
                session,
                ctx.scope,
                caller.actor,
                ctx.services.composer,
                models.NotificationEvent(input.event),
                platform_admin=caller.is_platform_admin,
                reseller_id=owner,
                platform_prefix=ctx.services.lifecycle.policy.platform_prefix,
            )

        return await respond(
            info,
            SendTestNotificationPayload,
            send,
            lambda row: SendTestNotificationPayload(
                recipient=row.recipient,
                subject=row.subject,
                notification_id=strawberry.ID(str(row.id)),
            ),
        )


def notifications_of(info: Info, rows: list[models.OutboxMessage] | None) -> list[Notification]:
    operator = info.context.caller.is_platform_admin
    return [Notification.from_model(row, operator) for row in rows or []]
