"""Webhook endpoints: webhookEndpoints, webhookEndpoint(id:) with its deliveries, and the
mutations that make, change, disable, enable, rotate, delete and redeliver. OWNER, an ADMIN
with billing access, API clients with settings:write."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth import permissions as rules
from db.scope import TenantScope
from events.models import EndpointStatus, WebhookDeliveryStatus
from events.models import Event as EventRow
from events.models import WebhookDelivery as DeliveryRow
from events.models import WebhookEndpoint as EndpointRow
from schema.context import Info
from schema.enums import described_enum
from schema.errors import NOT_FOUND, ApiError, Payload
from schema.events import Event
from schema.mutations import INPUT, respond
from schema.permissions import CanManageWebhooks
from schema.relay import (
    After,
    Connection,
    First,
    Node,
    decode_id,
    page_request,
    resolve_connection,
    to_global_id,
)
from webhooks.endpoints import DeliveryRepository, EndpointRepository, Webhooks

WebhookEndpointStatus = described_enum(
    EndpointStatus,
    name="WebhookEndpointStatus",
    description="Whether events are sent to an endpoint.",
    values={
        EndpointStatus.ENABLED: "Events of its types are sent to it.",
        EndpointStatus.DISABLED: (
            "Nothing is sent: disabled by a user, by a 410 answer, or after failing for three days."
        ),
    },
)
WebhookDeliveryState = described_enum(
    WebhookDeliveryStatus,
    name="WebhookDeliveryStatus",
    description="Where one event's delivery to one endpoint is.",
    values={
        WebhookDeliveryStatus.PENDING: "Queued, or failed and to be tried again at nextAttemptAt.",
        WebhookDeliveryStatus.SUCCEEDED: "The endpoint answered 2xx.",
        WebhookDeliveryStatus.FAILED: (
            "Given up (its error says why); redeliverWebhook sends it again."
        ),
    },
)


def _endpoint_id(row: EndpointRow) -> str:
    return to_global_id("WebhookEndpoint", row.id)


@strawberry.type(description="One event sent to one endpoint, and how its latest attempt went.")
class WebhookDelivery:
    id: strawberry.ID = strawberry.field(description="Pass it to redeliverWebhook.")
    status: WebhookDeliveryState = strawberry.field(description="PENDING, SUCCEEDED or FAILED.")  # type: ignore[valid-type]
    attempts: int = strawberry.field(description="POSTs made so far.")
    last_attempt_at: datetime | None = strawberry.field(description="When it was last POSTed.")
    status_code: int | None = strawberry.field(
        description="The HTTP status of the last answer; null when none came (see error)."
    )
    latency_ms: int | None = strawberry.field(description="How long the last attempt took.")
    error: str | None = strawberry.field(description="Why the last attempt failed.")
    next_attempt_at: datetime | None = strawberry.field(
        description="While PENDING, when it is tried (again)."
    )
    delivered_at: datetime | None = strawberry.field(description="When it got a 2xx.")
    created_at: datetime = strawberry.field(description="When it was queued.")
    event: Event | None = strawberry.field(
        description=(
            "What was sent; null past retention, and for a billing event without billing access."
        )
    )

    @classmethod
    def of(cls, row: DeliveryRow, event: EventRow | None) -> WebhookDelivery:
        return cls(
            id=strawberry.ID(to_global_id("WebhookDelivery", row.id)),
            status=row.status,
            attempts=row.attempts,
            last_attempt_at=row.last_attempt_at,
            status_code=row.response_status,
            latency_ms=row.latency_ms,
            error=row.error,
            next_attempt_at=row.next_attempt_at,
            delivered_at=row.delivered_at,
            created_at=row.created_at,
            event=Event.from_model(event) if event is not None else None,
        )


@strawberry.type(description="A page of deliveries, oldest first.")
class WebhookDeliveryConnection(Connection[WebhookDelivery]):
    pass


def _events_read_along(billing: bool) -> Any:
    """The events of a page of deliveries; billing ones only for a caller with billing access
    (an endpoint's manager may be an API client with settings:write alone)."""

    async def read(
        session: AsyncSession, scope: TenantScope, rows: Sequence[DeliveryRow]
    ) -> Callable[[Any], WebhookDelivery]:
        return await _with_events(session, scope, rows, billing)

    return read


async def _with_events(
    session: AsyncSession, scope: TenantScope, rows: Sequence[DeliveryRow], billing: bool
) -> Callable[[Any], WebhookDelivery]:
    ids = {row.event_id for row in rows}
    statement = scope.filter(select(EventRow), EventRow.reseller_id).where(EventRow.id.in_(ids))
    if not billing:
        statement = statement.where(EventRow.billing.is_(False))
    found = await session.scalars(statement)
    events = {event.id: event for event in found}
    return lambda row: WebhookDelivery.of(row, events.get(row.event_id))


@strawberry.type(description="Where a reseller's events are POSTed, signed (Standard Webhooks).")
class WebhookEndpoint(Node):
    id: strawberry.ID = strawberry.field(description="The endpoint's id.")
    url: str = strawberry.field(description="Where events are POSTed.")
    events: list[str] = strawberry.field(description="The event types sent to it.")
    status: WebhookEndpointStatus = strawberry.field(description="ENABLED or DISABLED.")  # type: ignore[valid-type]
    disabled_reason: str | None = strawberry.field(description="Why it is DISABLED.")
    previous_secret_expires_at: datetime | None = strawberry.field(
        description="After a rotation: until when the previous secret signs alongside the new."
    )
    created_at: datetime = strawberry.field(description="When it was made.")
    updated_at: datetime | None = strawberry.field(description="When it last changed.")
    db_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_model(cls, row: EndpointRow) -> WebhookEndpoint:
        return cls(
            id=strawberry.ID(_endpoint_id(row)),
            url=row.url,
            events=list(row.event_types),
            status=row.status,
            disabled_reason=row.disabled_reason,
            previous_secret_expires_at=row.previous_secret_expires_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            db_id=row.id,
        )

    @strawberry.field(description="Its deliveries, oldest first; each with its latest attempt.")
    async def deliveries(
        self, info: Info, first: First = None, after: After = None
    ) -> WebhookDeliveryConnection:
        return await resolve_connection(
            info,
            WebhookDeliveryConnection,
            DeliveryRepository,
            page_request(first, after),
            lambda row: WebhookDelivery.of(row, None),
            lambda repo: repo.of_endpoint(self.db_id),
            read_along=_events_read_along(rules.has_billing_access(info.context.caller)),
        )


@strawberry.type(description="A page of webhook endpoints.")
class WebhookEndpointConnection(Connection[WebhookEndpoint]):
    pass


@strawberry.input(description="A new webhook endpoint.")
class CreateWebhookEndpointInput:
    url: str = strawberry.field(
        description="https, to a public address (checked now and at every delivery)."
    )
    events: list[str] = strawberry.field(description='Event types to send, e.g. "invoice.paid".')


@strawberry.input(description="Change an endpoint: only the fields given change.")
class UpdateWebhookEndpointInput:
    endpoint_id: strawberry.ID = strawberry.field(description="The endpoint.")
    url: str | None = strawberry.field(default=None, description="A new URL.")
    events: list[str] | None = strawberry.field(default=None, description="New event types.")


@strawberry.input(description="The endpoint to act on.")
class WebhookEndpointInput:
    endpoint_id: strawberry.ID = strawberry.field(description="The endpoint.")


@strawberry.input(description="A delivery to send again.")
class RedeliverWebhookInput:
    delivery_id: strawberry.ID = strawberry.field(description="The delivery.")


@strawberry.type(description="Result of createWebhookEndpoint: the secret is shown this once.")
class CreateWebhookEndpointPayload(Payload):
    endpoint: WebhookEndpoint | None = strawberry.field(default=None, description="The endpoint.")
    secret: str | None = strawberry.field(
        default=None,
        description=(
            "Its signing secret (whsec_…, for the standardwebhooks library or svix): shown only"
            " now."
        ),
    )


@strawberry.type(description="Result of rotateWebhookEndpointSecret: the new secret, once.")
class RotateWebhookEndpointSecretPayload(Payload):
    endpoint: WebhookEndpoint | None = strawberry.field(default=None, description="The endpoint.")
    secret: str | None = strawberry.field(
        default=None,
        description=(
            "The new secret, shown only now. Until previousSecretExpiresAt (24 hours) each"
            " delivery is signed with both."
        ),
    )


@strawberry.type(description="Result of changing an endpoint.")
class WebhookEndpointPayload(Payload):
    endpoint: WebhookEndpoint | None = strawberry.field(default=None, description="The endpoint.")


@strawberry.type(description="Result of deleteWebhookEndpoint.")
class DeleteWebhookEndpointPayload(Payload):
    deleted_endpoint_id: strawberry.ID | None = strawberry.field(
        default=None, description="The id of the endpoint that was deleted, with its deliveries."
    )


@strawberry.type(description="Result of redeliverWebhook.")
class RedeliverWebhookPayload(Payload):
    delivery: WebhookDelivery | None = strawberry.field(default=None, description="Queued now.")


def _service(info: Info) -> Webhooks:
    return info.context.services.webhooks


def _decoded(global_id: str) -> uuid.UUID:
    return decode_id(global_id, "WebhookEndpoint", field="endpointId")


@strawberry.type
class WebhookQueries:
    @strawberry.field(
        permission_classes=[CanManageWebhooks],
        description="Your reseller's webhook endpoints, oldest first.",
    )
    async def webhook_endpoints(
        self, info: Info, first: First = None, after: After = None
    ) -> WebhookEndpointConnection:
        return await resolve_connection(
            info,
            WebhookEndpointConnection,
            EndpointRepository,
            page_request(first, after),
            WebhookEndpoint.from_model,
        )

    @strawberry.field(
        permission_classes=[CanManageWebhooks], description="One webhook endpoint, by id."
    )
    async def webhook_endpoint(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The endpoint's id.")],
    ) -> WebhookEndpoint:
        endpoint_id = decode_id(id, "WebhookEndpoint", field="id")
        async with info.context.read() as session:
            row = await EndpointRepository(session, info.context.scope).get(endpoint_id)
        if row is None:
            raise ApiError("webhook endpoint not found", NOT_FOUND)
        return WebhookEndpoint.from_model(row)


def _endpoint_payload(row: EndpointRow) -> WebhookEndpointPayload:
    return WebhookEndpointPayload(endpoint=WebhookEndpoint.from_model(row))


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(
        permission_classes=[CanManageWebhooks],
        description=(
            "Make an endpoint; its signing secret is in this payload and never again. Each event"
            " of its types is POSTed to it, with webhook-id (the event's id), webhook-timestamp"
            " and webhook-signature headers (Standard Webhooks), retried for about three days."
        ),
    )
    async def create_webhook_endpoint(
        self, info: Info, input: Annotated[CreateWebhookEndpointInput, INPUT]
    ) -> CreateWebhookEndpointPayload:
        ctx = info.context

        async def create(session: AsyncSession) -> tuple[EndpointRow, str]:
            return await _service(info).create(
                session,
                ctx.scope,
                ctx.caller.actor,
                input.url,
                input.events,
                billing=rules.has_billing_access(ctx.caller),
            )

        return await respond(
            info,
            CreateWebhookEndpointPayload,
            create,
            lambda made: CreateWebhookEndpointPayload(
                endpoint=WebhookEndpoint.from_model(made[0]), secret=made[1]
            ),
        )

    @strawberry.mutation(
        permission_classes=[CanManageWebhooks],
        description="Change an endpoint's URL (checked again) or event types.",
    )
    async def update_webhook_endpoint(
        self, info: Info, input: Annotated[UpdateWebhookEndpointInput, INPUT]
    ) -> WebhookEndpointPayload:
        ctx = info.context

        async def update(session: AsyncSession) -> EndpointRow:
            return await _service(info).update(
                session,
                ctx.scope,
                ctx.caller.actor,
                _decoded(input.endpoint_id),
                url=input.url,
                types=input.events,
                billing=rules.has_billing_access(ctx.caller),
            )

        return await respond(info, WebhookEndpointPayload, update, _endpoint_payload)

    @strawberry.mutation(
        permission_classes=[CanManageWebhooks],
        description="Stop sending to an endpoint; queued deliveries fail when their turn comes.",
    )
    async def disable_webhook_endpoint(
        self, info: Info, input: Annotated[WebhookEndpointInput, INPUT]
    ) -> WebhookEndpointPayload:
        return await _set_enabled(info, input, False)

    @strawberry.mutation(
        permission_classes=[CanManageWebhooks],
        description=(
            "Send to an endpoint again, from the next event on (redeliverWebhook for missed ones)."
        ),
    )
    async def enable_webhook_endpoint(
        self, info: Info, input: Annotated[WebhookEndpointInput, INPUT]
    ) -> WebhookEndpointPayload:
        return await _set_enabled(info, input, True)

    @strawberry.mutation(
        permission_classes=[CanManageWebhooks],
        description=(
            "A new signing secret, shown in this payload only; the old one signs alongside it"
            " for 24 hours, so receivers can switch without losing a delivery."
        ),
    )
    async def rotate_webhook_endpoint_secret(
        self, info: Info, input: Annotated[WebhookEndpointInput, INPUT]
    ) -> RotateWebhookEndpointSecretPayload:
        ctx = info.context

        async def rotate(session: AsyncSession) -> tuple[EndpointRow, str]:
            return await _service(info).rotate(
                session, ctx.scope, ctx.caller.actor, _decoded(input.endpoint_id)
            )

        return await respond(
            info,
            RotateWebhookEndpointSecretPayload,
            rotate,
            lambda made: RotateWebhookEndpointSecretPayload(
                endpoint=WebhookEndpoint.from_model(made[0]), secret=made[1]
            ),
        )

    @strawberry.mutation(
        permission_classes=[CanManageWebhooks],
        description="Delete an endpoint and its deliveries.",
    )
    async def delete_webhook_endpoint(
        self, info: Info, input: Annotated[WebhookEndpointInput, INPUT]
    ) -> DeleteWebhookEndpointPayload:
        ctx = info.context

        async def remove(session: AsyncSession) -> EndpointRow:
            return await _service(info).delete(
                session, ctx.scope, ctx.caller.actor, _decoded(input.endpoint_id)
            )

        return await respond(
            info,
            DeleteWebhookEndpointPayload,
            remove,
            lambda row: DeleteWebhookEndpointPayload(
                deleted_endpoint_id=strawberry.ID(_endpoint_id(row))
            ),
        )

    @strawberry.mutation(
        permission_classes=[CanManageWebhooks],
        description=(
            "Send a delivery's event to its endpoint again, now (after it failed or succeeded)."
        ),
    )
    async def redeliver_webhook(
        self, info: Info, input: Annotated[RedeliverWebhookInput, INPUT]
    ) -> RedeliverWebhookPayload:
        ctx = info.context

        async def again(session: AsyncSession) -> DeliveryRow:
            delivery_id = decode_id(input.delivery_id, "WebhookDelivery", field="deliveryId")
            return await _service(info).redeliver(session, ctx.scope, ctx.caller.actor, delivery_id)

        return await respond(
            info,
            RedeliverWebhookPayload,
            again,
            lambda row: RedeliverWebhookPayload(delivery=WebhookDelivery.of(row, None)),
        )


async def _set_enabled(
    info: Info, input: WebhookEndpointInput, enabled: bool
) -> WebhookEndpointPayload:
    ctx = info.context

    async def change(session: AsyncSession) -> EndpointRow:
        return await _service(info).set_enabled(
            session, ctx.scope, ctx.caller.actor, _decoded(input.endpoint_id), enabled
        )

    return await respond(info, WebhookEndpointPayload, change, _endpoint_payload)
