"""Wake-ups for event streams: a hint that a tenant may have new events, never the events.

A stream reads the log itself, by position (events/stream.py), so a hint that is lost or comes
twice changes nothing but latency. Hints come from two places:

- this process's own commits: a transaction that recorded events wakes this process's streams
  of that tenant once it commits (nothing when it rolls back);
- on PostgreSQL, the others': the transaction also sends ``NOTIFY channelbill_events`` with the
  tenant's id, which PostgreSQL delivers at commit to every process's listener
  (``PostgresWakeups``, one connection per process). A listener that lost its connection wakes
  every stream once it is back, since it may have missed hints meanwhile.

Streams also look again every few seconds without a hint, so that a listener that cannot
connect costs latency, not events. The hub holds only this process's waiting streams: nothing
in it has to agree with another process.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import asyncpg
from sqlalchemy import event, func, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from db.database import ScopedSession

log = logging.getLogger(__name__)

CHANNEL = "channelbill_events"
_PENDING = "events.wake"  # session.info: the tenants whose events this transaction adds
KEEPALIVE_SECONDS = 10.0
RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0)


class Hub:
    """This process's waiting streams, by tenant."""

    def __init__(self) -> None:
        self._waiting: dict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)

    @contextmanager
    def waiting(self, reseller_id: uuid.UUID) -> Iterator[asyncio.Event]:
        woken = asyncio.Event()
        self._waiting[reseller_id].add(woken)
        try:
            yield woken
        finally:
            waiting = self._waiting.get(reseller_id)
            if waiting is not None:
                waiting.discard(woken)
                if not waiting:
                    del self._waiting[reseller_id]

    def wake(self, reseller_ids: Iterable[uuid.UUID]) -> None:
        for reseller_id in reseller_ids:
            for woken in self._waiting.get(reseller_id, ()):
                woken.set()

    def wake_all(self) -> None:
        self.wake(list(self._waiting))

    def streams(self) -> int:
        return sum(len(waiting) for waiting in self._waiting.values())


HUB = Hub()


async def announce(session: AsyncSession, reseller_ids: Iterable[uuid.UUID]) -> None:
    """The transaction adds events of these tenants: wake their streams when it commits."""
    pending: set[uuid.UUID] = session.info.setdefault(_PENDING, set())
    new = [r for r in dict.fromkeys(reseller_ids) if r not in pending]
    if not new:
        return
    pending.update(new)
    bind = session.bind
    if bind is not None and bind.dialect.name == "postgresql":
        for reseller_id in new:  # delivered at commit, and only then
            await session.execute(select(func.pg_notify(CHANNEL, str(reseller_id))))


@event.listens_for(ScopedSession, "after_commit")
def _wake_after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending:
        HUB.wake(pending)


@event.listens_for(ScopedSession, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


class PostgresWakeups:
    """This process's LISTEN connection: other processes' commits wake its streams."""

    def __init__(self, url: URL, hub: Hub = HUB) -> None:
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._hub = hub
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="events-listener")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            reseller_id = uuid.UUID(payload)
        except ValueError:
            return
        self._hub.wake([reseller_id])

    async def _run(self) -> None:
        failures = 0
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(self._dsn, timeout=10)
                await connection.add_listener(CHANNEL, self._notified)
                failures = 0
                self.connected.set()
                self._hub.wake_all()  # hints may have been missed while not listening
                while True:
                    await asyncio.sleep(KEEPALIVE_SECONDS)
                    await connection.execute("SELECT 1", timeout=KEEPALIVE_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("event listener: %s; listening again shortly", type(error).__name__)
            finally:
                self.connected.clear()
                if connection is not None:
                    with suppress(Exception):
                        await asyncio.wait_for(connection.close(), timeout=2)
            await asyncio.sleep(RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)])
            failures += 1
