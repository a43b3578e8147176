"""Writing to the event log in the caller's transaction, and reading it by cursor.

``record`` adds the event and, for each enabled webhook endpoint of the tenant that asked for its
type, a delivery and the job that sends it: all of it commits, or vanishes, with the change.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, false, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.global_ids import to_global_id
from core.ids import new_id
from db.pagination import Page, PageRequest, count
from db.scope import TenantScope
from events import feed
from events.models import (
    EndpointStatus,
    Event,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)
from events.stream import EventStream
from events.types import EVENT_TYPES, PORTAL_TYPES
from jobs import queue

DELIVER_WEBHOOK = "webhook.deliver"
_ENDPOINTS = "events.endpoints"  # session.info key: the tenant's endpoints, read once per unit


def delivery_job_key(delivery_id: uuid.UUID, round_: str = "0") -> str:
    """A delivery's first job is round "0"; each redelivery is a round of its own."""
    return f"{DELIVER_WEBHOOK}:{delivery_id}:{round_}"


def event_global_id(event_id: uuid.UUID) -> str:
    """An event's id as the API (and a webhook's ``webhook-id``) spells it."""
    return to_global_id("Event", event_id)


async def record(
    session: AsyncSession,
    type_: str,
    *,
    reseller_id: uuid.UUID,
    object_type: str,
    object_id: uuid.UUID,
    payload: dict[str, Any],
    customer_id: uuid.UUID | None = None,
    billing: bool | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """Add ``type_`` about the object to the caller's unit of work. ``billing`` defaults to the
    type's (``events.types``)."""
    event = Event(
        **new_row(
            type_,
            reseller_id=reseller_id,
            object_type=object_type,
            object_id=object_id,
            payload=payload,
            customer_id=customer_id,
            billing=billing,
            occurred_at=occurred_at,
        )
    )
    session.add(event)
    await fan_out(session, [event])
    return event


def new_row(
    type_: str,
    *,
    reseller_id: uuid.UUID,
    object_type: str,
    object_id: uuid.UUID,
    payload: dict[str, Any],
    customer_id: uuid.UUID | None = None,
    billing: bool | None = None,
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    """The values of an event row, for a bulk insert of many (a billing run's invoices); the
    caller inserts them, then calls ``fan_out``."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_}")
    now = utcnow()
    return {
        "reseller_id": reseller_id,
        "id": new_id(),
        "created_at": now,
        "type": type_,
        "occurred_at": occurred_at or now,
        "object_id": to_global_id(object_type, object_id),
        "customer_id": customer_id,
        "billing": EVENT_TYPES[type_] if billing is None else billing,
        "payload": payload,
    }


async def fan_out(session: AsyncSession, recorded: Sequence[Event | dict[str, Any]]) -> None:
    """A delivery (and its job) for each endpoint that asked for each event's type; the
    tenants' event streams are woken when the transaction commits (events/feed.py)."""
    await feed.announce(
        session, (e["reseller_id"] if isinstance(e, dict) else e.reseller_id for e in recorded)
    )
    for event in recorded:
        row = event if isinstance(event, dict) else None
        reseller_id = row["reseller_id"] if row else event.reseller_id  # type: ignore[union-attr]
        type_ = row["type"] if row else event.type  # type: ignore[union-attr]
        for endpoint_id, types in await _endpoints(session, reseller_id):
            if type_ in types:
                event_id = row["id"] if row else event.id  # type: ignore[union-attr]
                at = row["occurred_at"] if row else event.occurred_at  # type: ignore[union-attr]
                await _queue_delivery(session, reseller_id, event_id, at, endpoint_id)


async def _endpoints(
    session: AsyncSession, reseller_id: uuid.UUID
) -> list[tuple[uuid.UUID, frozenset[str]]]:
    """The tenant's enabled endpoints, read once per unit of work (a billing run records an
    event per invoice)."""
    cache: dict[uuid.UUID, list[tuple[uuid.UUID, frozenset[str]]]]
    cache = session.info.setdefault(_ENDPOINTS, {})
    if reseller_id not in cache:
        rows = await session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(
                WebhookEndpoint.reseller_id == reseller_id,
                WebhookEndpoint.status == EndpointStatus.ENABLED,
            )
        )
        cache[reseller_id] = [(row.id, frozenset(row.event_types)) for row in rows]
    return cache[reseller_id]


def forget_endpoints(session: AsyncSession) -> None:
    """An endpoint changed in this unit of work: read them again for the next event."""
    session.info.pop(_ENDPOINTS, None)


async def _queue_delivery(
    session: AsyncSession,
    reseller_id: uuid.UUID,
    event_id: uuid.UUID,
    at: datetime,
    endpoint_id: uuid.UUID,
) -> None:
    delivery = WebhookDelivery(
        reseller_id=reseller_id,
        id=new_id(),
        endpoint_id=endpoint_id,
        event_id=event_id,
        status=WebhookDeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=at,
    )
    session.add(delivery)
    await schedule_delivery(session, delivery)


async def schedule_delivery(
    session: AsyncSession,
    delivery: WebhookDelivery,
    round_: str = "0",
    run_at: datetime | None = None,
) -> None:
    """The job that sends ``delivery`` (``round_`` counts redeliveries: each is a new job)."""
    await queue.schedule(
        session,
        reseller_id=delivery.reseller_id,
        kind=DELIVER_WEBHOOK,
        key=delivery_job_key(delivery.id, round_),
        run_at=run_at,
        payload={"delivery": str(delivery.id)},
    )


async def resume_deliveries(session: AsyncSession, reseller_id: uuid.UUID, now: datetime) -> int:
    """The account is reactivated: its pending deliveries, held while it was deactivated, are
    due now (in their order per endpoint, as ever). How many jobs moved."""
    await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.reseller_id == reseller_id,
            WebhookDelivery.status == WebhookDeliveryStatus.PENDING,
        )
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return await queue.move(session, reseller_id, DELIVER_WEBHOOK, now)


class EventLog:
    """The events of the tenant in scope, oldest first, as a caller may see them."""

    def __init__(self, session: AsyncSession, scope: TenantScope) -> None:
        self.session = session
        self.scope = scope

    def select(self) -> Select[Any]:
        statement = self.scope.filter(select(Event), Event.reseller_id)
        if self.scope.customer_id is not None:
            statement = statement.where(
                Event.customer_id == self.scope.customer_id, Event.type.in_(sorted(PORTAL_TYPES))
            )
        return statement

    def visible(
        self, *, billing: bool, other: bool, types: Sequence[str] | None = None
    ) -> Select[Any]:
        """``billing``: billing events may be seen; ``other``: the rest may be."""
        statement = self.select()
        if billing and not other:
            statement = statement.where(Event.billing.is_(true()))
        elif other and not billing:
            statement = statement.where(Event.billing.is_(false()))
        elif not (billing or other):
            statement = statement.where(false())
        if types is not None:
            statement = statement.where(Event.type.in_(sorted(set(types))))
        return statement

    async def page(
        self, request: PageRequest, statement: Select[Any] | None = None, *, rows: bool = False
    ) -> Page[Event]:
        """Oldest first, in stream order (events/stream.py): an event that commits after a
        later-numbered one is not skipped by a reader already past that one. Forward only
        (``first`` / ``after``); an ``after`` the log no longer has (retention) pages on from
        its id."""
        stream = EventStream(self)
        chosen = self.select() if statement is None else statement
        position = None
        if request.after is not None:
            position = await stream.position_of(request.after)
            if position is None:
                chosen = chosen.where(Event.id > request.after)
        found = await stream.after(chosen, position, limit=request.size + 1)
        events = [event for event, _ in found[: request.size]]
        return Page(
            events, has_next=len(found) > request.size, has_previous=request.after is not None
        )

    async def count(self, statement: Select[Any]) -> int:
        return await count(self.session, statement)

    async def get(self, id_: uuid.UUID) -> Event | None:
        return (await self.session.scalars(self.select().where(Event.id == id_))).first()

    async def by_ids(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Event]:
        """The tenant's events among ``ids`` (a portal's: its customer's it may see)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        found = await self.session.scalars(self.select().where(Event.id.in_(wanted)))
        return {event.id: event for event in found}
