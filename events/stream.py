"""The event log read as a stream: each event once, in the order events became final.

A position is (txid, id): the writing transaction's id, then the event's (migration 0013 says
why the id alone is not enough). On PostgreSQL only events of transactions older than every
transaction still running are read, so nothing can later appear behind a position already
passed; SQLite writes one transaction at a time, and there txid is 0 throughout.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Select, Text, func, tuple_
from sqlalchemy.orm import undefer

from events.models import Event

if TYPE_CHECKING:
    from events.log import EventLog

BATCH = 100  # events read at a time


@dataclass(frozen=True)
class Position:
    txid: int
    id: uuid.UUID


class EventStream:
    """The log of ``log`` (its tenant and its caller's part), in stream order."""

    def __init__(self, log: EventLog) -> None:
        self.session = log.session
        self.log = log

    @property
    def _postgresql(self) -> bool:
        bind = self.session.bind
        return bind is not None and bind.dialect.name == "postgresql"

    def _final(self, statement: Select[Any]) -> Select[Any]:
        if not self._postgresql:
            return statement
        horizon = func.pg_snapshot_xmin(func.pg_current_snapshot()).cast(Text).cast(BigInteger)
        return statement.where(Event.txid < horizon)

    async def position_of(self, event_id: uuid.UUID) -> Position | None:
        """Where the event is in the stream, if the log (still) has it and it is final."""
        statement = self._final(
            self.log.select().with_only_columns(Event.txid, Event.id).where(Event.id == event_id)
        )
        row = (await self.session.execute(statement)).first()
        return Position(row.txid, row.id) if row else None

    async def head(self) -> Position | None:
        """The last final event's position: a stream that starts now starts after it."""
        statement = self._final(self.log.select().with_only_columns(Event.txid, Event.id))
        statement = statement.order_by(Event.txid.desc(), Event.id.desc()).limit(1)
        row = (await self.session.execute(statement)).first()
        return Position(row.txid, row.id) if row else None

    async def after(
        self, statement: Select[Any], position: Position | None, limit: int = BATCH
    ) -> list[tuple[Event, Position]]:
        """The final events of ``statement`` (EventLog.visible) after ``position``, in order."""
        statement = self._final(statement.options(undefer(Event.txid)))
        if position is not None:
            statement = statement.where(
                tuple_(Event.txid, Event.id) > tuple_(position.txid, position.id)
            )
        statement = statement.order_by(Event.txid, Event.id).limit(limit)
        events = (await self.session.scalars(statement)).all()
        return [(event, Position(event.txid, event.id)) for event in events]
