"""A pooled PostgreSQL connection is tested before use only after it sat idle: one dropped by the
server meanwhile (a restart, a failover) is replaced, not handed to a request; one in use a
moment ago costs no round trip."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text

import db.database as database
from db.database import Database
from db.scope import TenantScope
from tests.conftest import Postgres

pytestmark = pytest.mark.postgresql


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.2)
    return 0.2


class Pings:
    def __init__(self, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        dialect = db.engine.sync_engine.dialect
        real = dialect.do_ping

        def counted(connection: object) -> bool:
            self.count += 1
            return bool(real(connection))

        monkeypatch.setattr(dialect, "do_ping", counted)


async def _backend_pid(db: Database) -> int:
    async with db.read(TenantScope.system()) as session:
        return int(await session.scalar(text("SELECT pg_backend_pid()")))


async def _drop(postgres: Postgres, pid: int) -> None:
    admin = await asyncpg.connect(Postgres.plain(postgres.admin_url))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def test_a_connection_dropped_while_idle_is_replaced_before_a_request_gets_it(
    postgres: Postgres, quick: float, monkeypatch: pytest.MonkeyPatch
):
    db = Database(postgres.app_url, pool_size=1)
    pings = Pings(db, monkeypatch)
    try:
        first = await _backend_pid(db)
        # when the server drops it while it sits in the pool, past the idle limit
        await _drop(postgres, first)
        await asyncio.sleep(quick * 2)
        # then the next read is answered, on a new connection, after one ping
        second = await _backend_pid(db)
        assert second != first
        assert pings.count == 1
    finally:
        await db.dispose()


async def test_a_connection_used_a_moment_ago_is_handed_out_without_a_round_trip(
    postgres: Postgres, monkeypatch: pytest.MonkeyPatch
):
    db = Database(postgres.app_url, pool_size=1)
    pings = Pings(db, monkeypatch)
    try:
        pids = {await _backend_pid(db) for _ in range(20)}
        assert len(pids) == 1 and pings.count == 0
        # and one idle past the limit is tested once
        monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)
        await _backend_pid(db)
        assert pings.count == 1
    finally:
        await db.dispose()
