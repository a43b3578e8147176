"""One pooled connection, in one read transaction, for the reads of one request.

A request reads its caller, then its data; each read is a session of its own, and each session
would check a connection out of the pool (on PostgreSQL with a ping), begin, set the tenant for
row-level security, and roll back. Inside ``async with SharedReads(db)``, the reads of the task
(and of the tasks it starts) take turns on one connection and one transaction instead:

- a read that finds the connection in use (resolvers reading at once) takes one from the pool, as
  every read did before, so no read ever waits for another;
- the tenant settings are set again only when a read's scope differs from the last one's;
- on SQLite, a write committed meanwhile ends the transaction, so that the reads after it see
  what it wrote (SQLite reads from the snapshot its first read took; PostgreSQL's read committed
  statements each see what was committed before them);
- a read that fails ends it too: a PostgreSQL transaction is unusable after an error.

``close()`` gives the connection back to the pool, as soon as the request's reads are over: at
the end of a query's execution, before a mutation runs, and before a stream starts (it lasts; the
caller of an event stream is not given one at all).
"""

from __future__ import annotations

from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from db.database import Database

_current: ContextVar[SharedReads | None] = ContextVar("channelbill_shared_reads", default=None)


class SharedReads:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._connection: AsyncConnection | None = None
        self.busy = False
        self.closed = False
        self.stale = False

    @staticmethod
    def current(db: Database) -> SharedReads | None:
        """The request's shared reads on ``db``, when no other read holds them now."""
        shared = _current.get()
        if shared is None or shared.db is not db or shared.busy or shared.closed:
            return None
        return shared

    @staticmethod
    def written() -> None:
        """A write committed: the next shared read starts a transaction that sees it."""
        shared = _current.get()
        if shared is not None:
            shared.stale = True

    @staticmethod
    async def set_aside() -> None:
        """The connection goes back to the pool until the next shared read (SQLite: while a write
        waits for the write lock, its request's reads hold no connection others could use)."""
        shared = _current.get()
        if shared is not None and not shared.busy and shared._connection is not None:
            connection, shared._connection = shared._connection, None
            await connection.close()

    @staticmethod
    async def end() -> None:
        """The request's reads are over (see the module's docstring)."""
        shared = _current.get()
        if shared is not None:
            await shared.close()

    async def connection(self) -> AsyncConnection:
        """The connection in a read transaction; only for the read that set ``busy``."""
        if self._connection is None:
            self._connection = await self.db.read_engine.connect()
        if self.stale and self._connection.in_transaction():
            await self._connection.rollback()
        self.stale = False
        if not self._connection.in_transaction():
            await self._connection.begin()
        return self._connection

    async def close(self) -> None:
        self.closed = True
        if self._connection is not None and not self.busy:
            connection, self._connection = self._connection, None
            await connection.close()  # rolls back, and returns it to the pool

    async def __aenter__(self) -> SharedReads:
        self._token = _current.set(self)
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        _current.reset(self._token)
        await self.close()
