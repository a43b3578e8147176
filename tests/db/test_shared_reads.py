"""The reads of a request take turns on one connection and one transaction (db/shared.py). They
must still see only their own scope's rows, see what the request wrote, never wait for one
another, and give the connection back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from db.database import Database
from db.scope import TenantScope
from db.shared import SharedReads
from tenants import services
from tenants.models import Customer
from tests.factories import World


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    for engine in db.engines:
        event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in db.engines:
            event.remove(engine.sync_engine, "before_cursor_execute", record)


@contextmanager
def checkouts(db: Database) -> Iterator[list[object]]:
    seen: list[object] = []

    def record(dbapi_connection: object, *_: Any) -> None:
        seen.append(dbapi_connection)

    event.listen(db.read_engine.sync_engine.pool, "checkout", record)
    try:
        yield seen
    finally:
        event.remove(db.read_engine.sync_engine.pool, "checkout", record)


async def customers(session: AsyncSession) -> int:
    """The scope's customers, by the session's tenant criteria."""
    return int(await session.scalar(select(func.count()).select_from(Customer)) or 0)


async def driver_connection(session: AsyncSession) -> object:
    return (await session.connection()).sync_connection.connection.driver_connection  # type: ignore[union-attr]


async def test_reads_in_turn_use_one_connection_and_set_the_tenant_once(db: Database, world: World):
    scope = TenantScope.tenant(world.a.id)
    with statements(db) as seen, checkouts(db) as taken:
        async with SharedReads(db):
            connections = []
            for _ in range(3):
                async with db.read(scope) as session:
                    assert await customers(session) == len(world.a.customers)
                    connections.append(await driver_connection(session))
    assert len(taken) == 1
    assert connections[0] is connections[1] is connections[2]
    set_tenant = [s for s in seen if "set_config('app.reseller_id'" in s]
    assert len(set_tenant) == (1 if db.is_postgresql else 0)
    if not db.is_postgresql:
        assert [s for s in seen if s.startswith("BEGIN")] == ["BEGIN"]

    with statements(db) as seen, checkouts(db) as taken:  # without: a connection each
        for _ in range(3):
            async with db.read(scope) as session:
                assert await customers(session) == len(world.a.customers)
    assert len(taken) == 3


async def test_a_read_in_another_scope_sees_only_that_scope(db: Database, world: World):
    a, b = TenantScope.tenant(world.a.id), TenantScope.tenant(world.b.id)
    portal = TenantScope.customer(world.a.id, world.a.customers[0])
    expected = [
        (a, len(world.a.customers)),
        (b, len(world.b.customers)),
        (TenantScope.nothing(), 0),
        (portal, 1),
        (a, len(world.a.customers)),
    ]
    async with SharedReads(db):
        for scope, count in expected:
            async with db.read(scope) as session:
                assert await customers(session) == count
                if db.is_postgresql:  # row-level security alone, with no filter of ours
                    raw = await session.scalar(text("SELECT count(*) FROM customers"))
                    assert raw == count


async def test_a_read_that_finds_the_connection_in_use_takes_another(db: Database, world: World):
    scope = TenantScope.tenant(world.a.id)
    async with SharedReads(db), db.read(scope) as outer:
        shared = await driver_connection(outer)
        async with asyncio.timeout(10), db.read(scope) as inner:
            assert await customers(inner) == len(world.a.customers)
            assert await driver_connection(inner) is not shared
        assert await customers(outer) == len(world.a.customers)


async def test_reads_after_a_write_see_what_it_wrote(db: Database, world: World):
    scope = TenantScope.tenant(world.a.id)
    async with SharedReads(db):
        async with db.read(scope) as session:
            before = await customers(session)
        async with db.write(scope) as session:
            await services.create_customer(
                session, scope, services.NewCustomer("Newco", "billing@newco.example", "EUR")
            )
        async with db.read(scope) as session:
            assert await customers(session) == before + 1


async def test_a_failed_read_leaves_the_next_one_working(db: Database, world: World):
    scope = TenantScope.tenant(world.a.id)
    async with SharedReads(db):
        with pytest.raises(DBAPIError):
            async with db.read(scope) as session:
                await session.execute(text("SELECT * FROM no_such_table"))
        async with db.read(scope) as session:
            assert await customers(session) == len(world.a.customers)


async def test_the_connection_goes_back_when_the_reads_end(db: Database, world: World):
    scope = TenantScope.tenant(world.a.id)
    pool = db.read_engine.sync_engine.pool
    async with SharedReads(db) as shared:
        async with db.read(scope) as session:
            await customers(session)
        assert pool.checkedout() == 1  # type: ignore[attr-defined]
        await SharedReads.end()
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        async with db.read(scope) as session:  # reads after the end take the pool's
            assert await customers(session) == len(world.a.customers)
        assert shared.closed
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_an_end_during_a_read_gives_the_connection_back_after_it(db: Database, world: World):
    scope = TenantScope.tenant(world.a.id)
    pool = db.read_engine.sync_engine.pool
    async with SharedReads(db):
        async with db.read(scope) as session:
            await SharedReads.end()
            assert await customers(session) == len(world.a.customers)  # still usable
        assert pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_write_of_the_request_holds_no_read_connection_on_sqlite(
    db: Database, world: World
):
    if db.is_postgresql:
        pytest.skip("PostgreSQL writers do not queue for one lock; the connection stays")
    scope = TenantScope.tenant(world.a.id)
    readers = db.read_engine.sync_engine.pool
    async with SharedReads(db):
        async with db.read(scope) as session:
            await customers(session)
        assert readers.checkedout() == 1  # type: ignore[attr-defined]
        async with db.write(scope):
            assert readers.checkedout() == 0  # type: ignore[attr-defined]
        async with db.read(scope) as session:
            assert await customers(session) == len(world.a.customers)


async def test_reads_go_on_while_a_writer_holds_the_write_lock(db: Database, world: World):
    scope = TenantScope.tenant(world.a.id)
    holding, done = asyncio.Event(), asyncio.Event()

    async def long_write() -> None:
        async with db.write(scope) as session:
            await services.create_customer(
                session, scope, services.NewCustomer("Slowco", "ap@slowco.example", "EUR")
            )
            holding.set()
            await done.wait()

    writer = asyncio.create_task(long_write())
    await holding.wait()
    try:

        async def one_read() -> int:
            async with SharedReads(db), db.read(scope) as session:
                return await customers(session)

        async with asyncio.timeout(10):
            counts = await asyncio.gather(*(one_read() for _ in range(8)))
        assert counts == [len(world.a.customers)] * 8  # the write is not committed yet
    finally:
        done.set()
        await writer
