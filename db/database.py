"""The engine and the units of work: every session runs in a tenant scope.

- ``read(scope)``: a short read-only unit; what a resolver or a DataLoader batch uses, one each,
  because an AsyncSession must never be shared by coroutines running at the same time.
- ``write(scope)``: one transaction that commits when the block ends and rolls back on any error.

On PostgreSQL each transaction starts with ``set_config('app.reseller_id', ..., true)`` so that
row-level security sees the scope; on every backend an ORM-level criteria adds the same filter to
ORM selects as a safety net.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import event, false
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, with_loader_criteria
from sqlalchemy.pool import NullPool

from db.base import TenantKeyed, TenantOwned
from db.scope import TenantScope

SCOPE_KEY = "tenant_scope"
DURABLE_KEY = "durable"  # False: a write whose commit need not wait for the disk (see write)
WRITE_OPTION = "channelbill_write"

# Models whose own id is the tenant key (the reseller row), registered by the tenants package.
TENANT_ROOTS: list[Any] = []
# Models a customer portal sees only its own customer's rows of: model -> its customer id column.
CUSTOMER_KEYED: dict[Any, Any] = {}


class ScopedSession(Session):
    """A session that refuses to run without a tenant scope."""


def scope_of(session: Session) -> TenantScope:
    scope = session.info.get(SCOPE_KEY)
    if not isinstance(scope, TenantScope):
        raise RuntimeError("database session used without a tenant scope")
    return scope


# Sent as it is to the driver (asyncpg's $n parameters): a statement run at every transaction's
# start needs none of SQLAlchemy's compile cache lookup and parameter processing.
_SET_TENANT = (
    "SELECT set_config('app.reseller_id', $1, true),"
    " set_config('app.customer_id', $2, true),"
    " set_config('app.all_tenants', $3, true)"
)
_SET_TENANT_NOT_DURABLE = _SET_TENANT + ", set_config('synchronous_commit', 'off', true)"


@event.listens_for(ScopedSession, "after_begin")
def _set_tenant_for_rls(session: Session, _tx: SessionTransaction, connection: Connection) -> None:
    scope = scope_of(session)
    if connection.dialect.name != "postgresql":
        return
    durable = session.info.get(DURABLE_KEY, True)
    connection.exec_driver_sql(
        _SET_TENANT if durable else _SET_TENANT_NOT_DURABLE,
        (
            str(scope.reseller_id) if scope.reseller_id else "",
            str(scope.customer_id) if scope.customer_id else "",
            "on" if scope.all_tenants else "off",
        ),
    )


@event.listens_for(ScopedSession, "do_orm_execute")
def _tenant_criteria(state: ORMExecuteState) -> None:
    scope = scope_of(state.session)
    if scope.all_tenants or not (state.is_select or state.is_update or state.is_delete):
        return
    # The registries' sizes are in the key: a model registered later is never left out.
    criteria = _criteria(
        scope.reseller_id, scope.customer_id, len(TENANT_ROOTS), len(CUSTOMER_KEYED)
    )
    state.statement = state.statement.options(*criteria)


@lru_cache(maxsize=4096)
def _criteria(
    reseller_id: uuid.UUID | None, customer_id: uuid.UUID | None, *_registered: int
) -> tuple[Any, ...]:
    """The loader criteria of a scope, made once per tenant (and portal customer) rather than at
    every statement: they are immutable, and making them cost as much as running a small read."""
    if reseller_id is None:
        nothing = [TenantOwned, TenantKeyed, *TENANT_ROOTS]
        options = [
            with_loader_criteria(m, lambda _cls: false(), include_aliases=True) for m in nothing
        ]
    else:
        options = [
            with_loader_criteria(
                base, lambda cls: cls.reseller_id == reseller_id, include_aliases=True
            )
            for base in (TenantOwned, TenantKeyed)
        ]
        options += [
            with_loader_criteria(root, lambda cls: cls.id == reseller_id, include_aliases=True)
            for root in TENANT_ROOTS
        ]
    if customer_id is not None:
        options += [
            with_loader_criteria(model, column == customer_id, include_aliases=True)
            for model, column in CUSTOMER_KEYED.items()
        ]
    return tuple(options)


# A pooled PostgreSQL connection idle longer than this is tested with a round trip before it is
# handed out, and replaced if the server dropped it (a restart, a failover, an idle timeout).
# One used within the last second is not: under load every checkout would otherwise cost a
# round trip, two a request. If the server goes away under load, the statement that meets a
# dead connection fails, and that invalidates the whole pool: the next checkouts connect anew.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_after_idle(engine: AsyncEngine) -> None:
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return  # new, or in use a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool replaces it (and tries up to three times)
            raise DisconnectionError(f"a pooled connection was dropped: {error}") from error


_IDLE_SINCE = "channelbill_idle_since"


def _prepare_sqlite(engine: AsyncEngine) -> None:
    # pysqlite's own transaction handling is bypassed so that BEGIN is ours: IMMEDIATE for
    # writes (no deadlock when two writers upgrade a read lock), deferred for reads.
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def sqlite_path(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


# The connections reads share on an SQLite file, in each process. Each is a thread of aiosqlite's
# handing the interpreter lock back and forth with the event loop; more of them than the two
# cores can use only contend for it. Writes have a pool of their own, so that reads never wait
# behind a writer that waits for SQLite's write lock.
SQLITE_READERS = 2


class Database:
    def __init__(
        self,
        url: str | URL,
        *,
        pool_size: int = 10,
        echo: bool = False,
        pool_timeout: float = 30.0,
        statement_timeout: float | None = None,
    ) -> None:
        """``pool_timeout``: seconds to wait for a free connection before giving up (a short one
        turns a saturated pool into a quick refusal instead of a queue that delays everyone);
        ``statement_timeout``: seconds PostgreSQL lets one statement of ours run."""
        self.url = make_url(url)
        self.backend = self.url.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.backend == "sqlite":
            path = sqlite_path(self.url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                kwargs["pool_timeout"] = pool_timeout
            if path is None:
                kwargs["poolclass"] = NullPool
        else:
            kwargs.update(
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_timeout=pool_timeout,
            )
            if statement_timeout:
                milliseconds = str(max(1, round(statement_timeout * 1000)))
                kwargs["connect_args"] = {"server_settings": {"statement_timeout": milliseconds}}
        self.engine = create_async_engine(self.url, **kwargs)
        if self.backend != "sqlite":
            _ping_after_idle(self.engine)
        # Reads have engines of their own on an SQLite file (see SQLITE_READERS).
        self.read_engine = self.engine
        if self.backend == "sqlite":
            _prepare_sqlite(self.engine)
            if sqlite_path(self.url) is not None:
                self.read_engine = create_async_engine(
                    self.url,
                    echo=echo,
                    pool_size=SQLITE_READERS,
                    max_overflow=0,
                    pool_timeout=pool_timeout,
                )
                _prepare_sqlite(self.read_engine)
        self._sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=ScopedSession
        )
        self._read_sessions = async_sessionmaker(
            self.read_engine, expire_on_commit=False, sync_session_class=ScopedSession
        )

    @property
    def engines(self) -> tuple[AsyncEngine, ...]:
        """Every engine (for what listens to all statements): reads' and writes'."""
        if self.read_engine is self.engine:
            return (self.engine,)
        return (self.engine, self.read_engine)

    @property
    def is_postgresql(self) -> bool:
        return self.backend == "postgresql"

    @asynccontextmanager
    async def read(self, scope: TenantScope) -> AsyncIterator[AsyncSession]:
        async with self._read_sessions(info={SCOPE_KEY: scope}) as session:
            yield session

    def open_read(self, scope: TenantScope) -> AsyncSession:
        """A read session the caller closes itself: one that may outlive the block that opened
        it (the caller's read, kept open for the request's first read; see ``schema.context``)."""
        return self._read_sessions(info={SCOPE_KEY: scope})

    @asynccontextmanager
    async def write(
        self, scope: TenantScope, *, durable: bool = True
    ) -> AsyncIterator[AsyncSession]:
        """``durable=False``: on PostgreSQL the commit does not wait for the disk
        (``synchronous_commit`` off, set with the tenant, in the same round trip), for a write
        whose loss in a crash costs nothing (a rate limit's level)."""
        info = {SCOPE_KEY: scope, DURABLE_KEY: durable}
        async with self._sessions(info=info) as session, session.begin():
            await session.connection(execution_options={WRITE_OPTION: True})
            yield session

    async def dispose(self) -> None:
        for engine in self.engines:
            await engine.dispose()


async def upsert(session: AsyncSession, model: Any) -> Any:
    """``INSERT`` for ``model`` with ``on_conflict_do_update``, in the session's dialect."""
    if (await session.connection()).dialect.name == "postgresql":
        return pg_insert(model)
    return sqlite_insert(model)
