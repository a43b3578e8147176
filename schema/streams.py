"""The Subscription root (GraphQL subscriptions): the event log as it grows, and an invoice
each time it changes. (Customers' subscriptions to products are schema/subscriptions.py.)

Both follow the log by position (events/stream.py), woken by events/feed.py, so a stream
sees every event once and in order, whichever process committed it; ``after`` (an event's id)
resumes a stream that dropped exactly where it stopped. Before each read the caller is read
again from its token, as every HTTP request is: a revoked token, a disabled user or lost billing
access ends the stream with an error before the next event, or within ``RECHECK_SECONDS``
without one; so does the account's deactivation (ACCOUNT_DEACTIVATED: only billing is open).
Streams of a process take turns at the database (``Services.stream_reads``): a hundred woken
by one commit queue there rather than time out on the pool, and leave the pool's other
connections to requests.

Subscriptions are a reseller's: each stream reads one tenant's log. Over WebSocket
(graphql-transport-ws) the token is the connection_init payload's ``Authorization``; over
GraphQL over SSE (the same /graphql, ``Accept: text/event-stream``) it is the request's
Authorization header.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Annotated, Any

import strawberry
from sqlalchemy import Select

from auth import permissions as rules
from auth.callers import Callers
from auth.principal import Principal, PrincipalKind
from auth.tokens import InvalidToken
from core.errors import Forbidden, NotFound
from events.feed import HUB
from events.log import EventLog
from events.models import Event as EventRow
from events.stream import BATCH, EventStream, Position
from schema.context import Context, Info
from schema.errors import ACCOUNT_DEACTIVATED, RATE_LIMITED, UNAUTHENTICATED, ApiError
from schema.events import Event, checked_types
from schema.invoices import Invoice
from schema.nodes import resolve_node
from schema.permissions import BillingAccess, CanReadEvents, HasBillingAccess
from schema.relay import from_global_id
from schema.standing import MESSAGE as DEACTIVATED_MESSAGE

RECHECK_SECONDS = 5.0  # a stream with nothing new still looks (and checks its caller) this often


class _Open:
    """Streams open in this process, per caller: a protection of the process, not a quota
    (each process counts its own; nothing here must agree between processes)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    @contextmanager
    def stream(self, principal: Principal, limit: int) -> Iterator[None]:
        key = principal.subject
        if self.counts[key] >= limit:
            raise ApiError(f"at most {limit} open subscriptions per caller", RATE_LIMITED)
        self.counts[key] += 1
        try:
            yield
        finally:
            self.counts[key] -= 1
            if not self.counts[key]:
                del self.counts[key]


OPEN = _Open()


def bearer_of(context: Context) -> str | None:
    """The caller's token: the WebSocket's connection_init payload, else the HTTP header."""
    params = context.connection_params or {}
    value = params.get("Authorization") or params.get("authorization")
    if value is None and context.request is not None:
        value = context.request.headers.get("authorization")
    if not isinstance(value, str):
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def recheck(context: Context) -> Principal:
    """The caller as it stands now, or an error that ends the stream."""
    token = bearer_of(context)
    if token is None:
        raise ApiError("authentication required", UNAUTHENTICATED)
    try:
        principal = await Callers(context.db, context.services.signer).principal(token)
    except InvalidToken:
        raise ApiError("the token is no longer valid: sign in again", UNAUTHENTICATED) from None
    if principal.deactivated:  # streams are not billing: closed with the account (standing.py)
        raise ApiError(DEACTIVATED_MESSAGE, ACCOUNT_DEACTIVATED)
    context.act_as(principal)
    return principal


def _tenant(principal: Principal) -> uuid.UUID:
    if principal.kind is PrincipalKind.PLATFORM_ADMIN or principal.reseller_id is None:
        raise Forbidden("subscriptions are a reseller's: sign in as one of its users or clients")
    return principal.reseller_id


def _visible(
    types: list[str] | None, only: Callable[[Select[Any]], Select[Any]] | None
) -> Callable[[EventLog, Principal], Select[Any]]:
    def statement(log: EventLog, principal: Principal) -> Select[Any]:
        billing = rules.has_billing_access(principal)
        other = rules.can_read_tenant(principal) and principal.kind is not PrincipalKind.PORTAL
        chosen = log.visible(billing=billing, other=other, types=types)
        return only(chosen) if only is not None else chosen

    return statement


async def follow(
    info: Info,
    statement: Callable[[EventLog, Principal], Select[Any]],
    after: str | None,
) -> AsyncGenerator[EventRow, None]:
    """The caller's events after ``after`` (or from now), as they become final, forever."""
    context = info.context
    reads = context.services.stream_reads
    async with reads:
        principal = await recheck(context)
    reseller_id = _tenant(principal)
    limit = context.services.streams_per_caller
    with OPEN.stream(principal, limit), HUB.waiting(reseller_id) as woken:
        async with reads, context.read() as session:
            position = await _start(EventStream(EventLog(session, context.scope)), after)
        while True:
            woken.clear()  # before reading: a commit from now on wakes the wait below
            async with reads:
                principal = await recheck(context)
                if principal.reseller_id != reseller_id:
                    raise Forbidden("the token names another reseller")
                async with context.read() as session:
                    stream = EventStream(EventLog(session, context.scope))
                    batch = await stream.after(statement(stream.log, principal), position)
            for event, _ in batch:
                yield event
            if batch:
                position = batch[-1][1]
            if len(batch) == BATCH:
                continue  # more to read at once
            with suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), timeout=RECHECK_SECONDS)


async def _start(stream: EventStream, after: str | None) -> Position | None:
    if after is None:
        return await stream.head()
    decoded = from_global_id(after)
    if decoded is None or decoded[0] != "Event":
        raise NotFound("event", field="after")
    position = await stream.position_of(decoded[1])
    if position is None:  # older than the retention, or not yours
        raise NotFound("event", field="after")
    return position


@strawberry.type(
    description=(
        "Streams of what happens, over graphql-transport-ws (WebSocket; the token in"
        " connection_init's Authorization) or GraphQL over SSE (POST /graphql with Accept:"
        " text/event-stream)."
    )
)
class Subscription:
    @strawberry.subscription(
        permission_classes=[CanReadEvents],
        description=(
            "Events as they happen, in the order of the log: the same events as"
            " `events(after:, types:)`, each once. `after`: the id of the last event you"
            " received, to resume without a gap after a disconnect (events are kept for"
            " EVENTS_RETENTION_DAYS); without it, from now. Billing events only with billing"
            " access; a customer portal its own customer's invoices and payments."
        ),
    )
    async def events(
        self,
        info: Info,
        types: Annotated[
            list[str] | None,
            strawberry.argument(description='Only these types, e.g. ["invoice.posted"].'),
        ] = None,
        after: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Resume after this event (its id)."),
        ] = None,
    ) -> AsyncGenerator[Event, None]:
        wanted = checked_types(types)
        async for row in follow(info, _visible(wanted, None), after):
            yield Event.from_model(row)

    @strawberry.subscription(
        permission_classes=[HasBillingAccess],
        directives=[BillingAccess()],
        description=(
            "The invoice now, then again each time it changes (posted, paid, voided…), as"
            " `invoice(id:)` reads it. Ends with NOT_FOUND if it is discarded."
        ),
    )
    async def invoice_changed(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The invoice's id.")],
    ) -> AsyncGenerator[Invoice | None, None]:
        decoded = from_global_id(id)
        if decoded is None or decoded[0] != "Invoice":
            raise NotFound("invoice", field="id")
        _tenant(await recheck(info.context))
        yield await _invoice(info, id)

        def about(statement: Select[Any]) -> Select[Any]:
            return statement.where(EventRow.object_id == id)

        async for _event in follow(info, _visible(None, about), None):
            yield await _invoice(info, id)


async def _invoice(info: Info, id: str) -> Invoice:
    node = await resolve_node(info, id)  # the rules of node(id:), with this cycle's loaders
    if not isinstance(node, Invoice):
        raise NotFound("invoice", field="id")
    return node
