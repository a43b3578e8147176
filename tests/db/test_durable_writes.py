"""A write may give up waiting for the disk at commit (``db.write(durable=False)``, the query cost
budget's charge): on PostgreSQL ``synchronous_commit`` is off for that transaction only, set in
the same statement as its tenant, and every other transaction keeps the server's setting."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text

from db.database import Database
from db.scope import TenantScope
from tests.conftest import Postgres

pytestmark = pytest.mark.postgresql

SHOW = text("SELECT current_setting('synchronous_commit'), current_setting('app.reseller_id')")


async def test_only_a_write_that_need_not_be_durable_skips_the_wait(postgres: Postgres):
    db = Database(postgres.app_url, pool_size=1)  # one connection: each transaction reuses it
    scope = TenantScope.system()
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    try:
        async with db.write(scope) as session:  # the connection's own setting, committed
            await session.execute(text("SET synchronous_commit = on"))
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
        event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
        async with db.write(scope, durable=False) as session:
            assert tuple((await session.execute(SHOW)).one()) == ("off", "")
            assert await session.scalar(text("SELECT pg_backend_pid()")) == pid
        assert len(statements) == 3  # the tenant and the setting in one round trip, then SHOW
        async with db.write(scope) as session:  # the setting was local to that transaction
            assert (await session.execute(SHOW)).one()[0] == "on"
        async with db.read(scope) as session:
            assert (await session.execute(SHOW)).one()[0] == "on"
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
        await db.dispose()
