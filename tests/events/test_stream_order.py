"""The log is read in the order events became final, not in the order of their ids.

An event's id is made before its transaction commits: a transaction that records an event and
commits after another one that recorded a later-numbered event would, read by id, land behind a
reader's cursor and be skipped for good. On PostgreSQL the log is read in (transaction, id)
order, and only as far as every older transaction has ended (migration 0013); the events
connection and the subscriptions both read it so. SQLite writes one transaction at a time.
"""

from __future__ import annotations

import pytest

from core.ids import new_id
from db.database import Database
from db.pagination import PageRequest
from db.scope import TenantScope
from events.log import EventLog, record
from events.stream import EventStream
from tests.conftest import World


async def _record(db_session, reseller_id):  # type: ignore[no-untyped-def]
    return await record(
        db_session,
        "customer.created",
        reseller_id=reseller_id,
        object_type="Customer",
        object_id=new_id(),
        payload={"name": "ordered"},
    )


async def _read(db: Database, scope: TenantScope, after=None) -> list:  # type: ignore[no-untyped-def]
    async with db.read(scope) as session:
        page = await EventLog(session, scope).page(PageRequest(first=50, after=after))
        return [event.id for event in page.items]


async def test_an_event_committed_late_with_a_lower_id_is_not_skipped(
    db: Database, world: World, backend: str
):
    if backend != "postgresql":
        pytest.skip("SQLite runs one writing transaction at a time: ids are in commit order")
    scope = TenantScope.tenant(world.a.id)
    seen = await _read(db, scope)
    cursor = seen[-1] if seen else None
    async with db.write(scope) as first:
        early = await _record(first, world.a.id)  # the lower id, committed last
        await first.flush()
        async with db.write(scope) as second:
            late = await _record(second, world.a.id)
        assert early.id < late.id
        # the later event is committed, but an older transaction is still open: not yet read
        assert await _read(db, scope, cursor) == []
        async with db.read(scope) as session:  # nor by a stream (what subscriptions read)
            log = EventLog(session, scope)
            streamed = await EventStream(log).after(log.select(), None)
        assert late.id not in {event.id for event, _ in streamed}
    # both, once the first commits: the early one first, and nothing passed over
    assert await _read(db, scope, cursor) == [early.id, late.id]
    assert await _read(db, scope, early.id) == [late.id]
