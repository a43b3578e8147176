"""Reads and writes have pools of their own on an SQLite file (db.database.SQLITE_READERS):
reads go on while a writer holds the write lock, and take no more than the readers' pool."""

from __future__ import annotations

import asyncio

from sqlalchemy import event, func, select

from db.database import SQLITE_READERS, Database
from db.scope import TenantScope
from tenants import services
from tenants.models import Customer
from tests.factories import World


async def count_customers(db: Database, scope: TenantScope) -> int:
    async with db.read(scope) as session:
        return int(await session.scalar(select(func.count()).select_from(Customer)) or 0)


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
        async with asyncio.timeout(10):
            counts = await asyncio.gather(*(count_customers(db, scope) for _ in range(8)))
        assert counts == [len(world.a.customers)] * 8  # the write is not committed yet
    finally:
        done.set()
        await writer
    assert await count_customers(db, scope) == len(world.a.customers) + 1


async def test_reads_at_once_share_the_readers_pool(db: Database, world: World):
    scope = TenantScope.tenant(world.a.id)
    await db.read_engine.dispose()  # from no connection at all
    opened: list[object] = []

    def record(connection: object, _record: object) -> None:
        opened.append(connection)

    pool = db.read_engine.sync_engine.pool
    event.listen(pool, "connect", record)
    try:
        async with asyncio.timeout(10):
            counts = await asyncio.gather(*(count_customers(db, scope) for _ in range(12)))
    finally:
        event.remove(pool, "connect", record)
    assert counts == [len(world.a.customers)] * 12
    if db.is_postgresql:
        assert db.read_engine is db.engine
    else:
        assert db.read_engine is not db.engine
        assert 1 <= len(opened) <= SQLITE_READERS  # twelve reads took turns on at most two
