"""How long the event log keeps events: older ones (and their webhook deliveries, by cascade)
are deleted by the daily housekeeping job."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete
from sqlalchemy.ext.asyncio import AsyncSession

from events.models import Event

Forget = Callable[[AsyncSession, datetime], Awaitable[int]]


def forget_events_older_than(days: int) -> Forget:
    """A housekeeping step: delete events that occurred more than ``days`` days before now."""

    async def forget(session: AsyncSession, now: datetime) -> int:
        result = await session.execute(
            delete(Event)
            .where(Event.occurred_at < now - timedelta(days=days))
            .execution_options(synchronize_session=False)
        )
        return cast(CursorResult[Any], result).rowcount

    forget.__name__ = "events"
    return forget
