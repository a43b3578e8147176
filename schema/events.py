"""The event log: events(after:, first:, types:), for polling and catch-up by cursor.

Each caller sees the part of the log it may read elsewhere: billing events (invoices, payments,
the account's standing) only with billing access, the rest (customers, subscriptions, usage,
notifications) with access to the tenant's data; a customer portal only its own customer's
posted invoices and their payments. In SQL, so pages and totalCount agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from auth import permissions as rules
from auth.principal import PrincipalKind
from core.errors import ValidationFailed
from events.log import EventLog, event_global_id
from events.models import Event as EventRow
from events.types import EVENT_TYPES
from schema.context import Info
from schema.permissions import CanReadEvents, CanReadTenant, HasBillingAccess
from schema.relay import After, Connection, First, Node, page_request, resolve_connection

MAX_TYPES = len(EVENT_TYPES)


@strawberry.type(
    description=(
        "Something that happened to an object, as integrators see it: the same body a webhook"
        " endpoint is sent."
    )
)
class Event(Node):
    id: strawberry.ID = strawberry.field(
        description="The event's id; a webhook's `webhook-id` header carries it (drop repeats)."
    )
    type: str = strawberry.field(description='What happened, e.g. "invoice.posted".')
    occurred_at: datetime = strawberry.field(description="When (UTC).")
    object_id: strawberry.ID = strawberry.field(
        description="Global id of the object it happened to (pass it to node(id:))."
    )
    payload: JSON = strawberry.field(
        description=(
            "The object as it was then, spelled as the API spells it (camelCase fields, global"
            " ids, money as decimal strings)."
        )
    )

    @classmethod
    def from_model(cls, row: EventRow) -> Event:
        return cls(
            id=strawberry.ID(event_id(row)),
            type=row.type,
            occurred_at=row.occurred_at,
            object_id=strawberry.ID(row.object_id),
            payload=row.payload,
        )


def event_id(row: EventRow) -> str:
    return event_global_id(row.id)


def check_event_access(info: Info, row: EventRow) -> None:
    """An event fetched by id: as its list shows it, a billing event needs billing access and
    any other the tenant's data (a portal's log holds only its own customer's billing events)."""
    if row.billing:
        HasBillingAccess().has_permission(None, info)
    else:
        CanReadTenant().has_permission(None, info)


@strawberry.type(description="A page of events.")
class EventConnection(Connection[Event]):
    pass


def checked_types(types: list[str] | None) -> list[str] | None:
    if types is None:
        return None
    if len(types) > MAX_TYPES:
        raise ValidationFailed(f"name at most {MAX_TYPES} types", field="types")
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        raise ValidationFailed(
            f"unknown event type {unknown[0][:60]!r}; known: {', '.join(EVENT_TYPES)}",
            field="types",
        )
    return types


@strawberry.type
class EventQueries:
    @strawberry.field(
        permission_classes=[CanReadEvents],
        description=(
            "The event log, oldest first: page on with `after` (an edge's or pageInfo's cursor)"
            " to catch up from where you stopped. Billing events (invoice.*, payment.*,"
            " account.*) only with billing access; a customer portal sees its own customer's"
            " posted invoices and payments. Kept for EVENTS_RETENTION_DAYS."
        ),
    )
    async def events(
        self,
        info: Info,
        after: After = None,
        first: First = None,
        types: Annotated[
            list[str] | None,
            strawberry.argument(description='Only these types, e.g. ["invoice.posted"].'),
        ] = None,
    ) -> EventConnection:
        wanted = checked_types(types)
        caller = info.context.caller
        billing = rules.has_billing_access(caller)
        other = rules.can_read_tenant(caller) and caller.kind is not PrincipalKind.PORTAL
        return await resolve_connection(
            info,
            EventConnection,
            EventLog,
            page_request(first, after),
            Event.from_model,
            lambda log: log.visible(billing=billing, other=other, types=wanted),
        )
