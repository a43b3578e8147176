"""Keyset connections: stable pages, both directions, and a constant number of SQL statements."""

import pytest
from sqlalchemy import event

from db.scope import TenantScope
from tenants import services
from tests.factories import World

PAGE = """query($first: Int, $after: String, $last: Int, $before: String) {
  customers(first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { name reseller { slug } } }
  }
}"""


async def add_customers(db, tenant_id, count: int, prefix: str = "Extra") -> None:
    scope = TenantScope.tenant(tenant_id)
    async with db.write(scope) as session:
        for n in range(count):
            await services.create_customer(
                session,
                scope,
                services.NewCustomer(
                    name=f"{prefix} {n:03}", email=f"x{n}@extra.example", currency="USD"
                ),
            )


def names(body) -> list[str]:
    return [e["node"]["name"] for e in body["data"]["customers"]["edges"]]


async def test_forward_pages_cover_everything_once_even_with_inserts(api, db, world: World):
    # given 3 + 22 customers
    await add_customers(db, world.a.id, 22)
    token = world.token("member", world.a)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        body = await api(PAGE, {"first": 10, "after": after}, token=token)
        connection = body["data"]["customers"]
        seen += names(body)
        pages += 1
        if pages == 1:
            # when rows are added while paging, later pages still neither skip nor repeat
            await add_customers(db, world.a.id, 2, prefix="Late")
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    # then
    assert pages == 3
    assert len(seen) == len(set(seen)) == 27
    assert seen[:3] == ["Alpha Customer 1", "Alpha Customer 2", "Alpha Customer 3"]
    assert seen[-2:] == ["Late 000", "Late 001"]
    assert connection["totalCount"] == 27


async def test_backward_pages(api, db, world: World):
    await add_customers(db, world.a.id, 7)
    token = world.token("member", world.a)
    last_page = await api(PAGE, {"last": 4}, token=token)
    assert names(last_page) == ["Extra 003", "Extra 004", "Extra 005", "Extra 006"]
    info = last_page["data"]["customers"]["pageInfo"]
    assert info["hasPreviousPage"] is True and info["hasNextPage"] is False
    before = await api(PAGE, {"last": 4, "before": info["startCursor"]}, token=token)
    assert names(before) == ["Alpha Customer 3", "Extra 000", "Extra 001", "Extra 002"]


async def test_empty_page(api, world: World):
    body = await api(PAGE, {"first": 0}, token=world.token("member", world.a))
    assert body["data"]["customers"]["edges"] == []
    assert body["data"]["customers"]["pageInfo"]["hasNextPage"] is True


@pytest.fixture
def statements(db):
    seen: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _executemany):
        seen.append(statement)

    for engine in db.engines:
        event.listen(engine.sync_engine, "before_cursor_execute", record)
    yield seen
    for engine in db.engines:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_sql_statements_do_not_grow_with_the_page(api, db, world: World, statements):
    # given enough customers for a full page of 100, across both tenants for the platform admin
    await add_customers(db, world.a.id, 60)
    await add_customers(db, world.b.id, 60)
    counts = {}
    for size in (10, 50, 100):
        statements.clear()
        body = await api(PAGE, {"first": size}, token=world.token("platform"))
        assert len(body["data"]["customers"]["edges"]) == size
        counts[size] = len(statements)
    # then: page + count + one batched reseller lookup (+ per-transaction set_config), any size,
    # and the caller's cost bucket charged in a transaction of its own (its BEGIN or set_config,
    # on PostgreSQL a SET LOCAL, and the upsert)
    assert counts[10] == counts[50] == counts[100], counts
    assert counts[10] <= 8 + 3, counts
