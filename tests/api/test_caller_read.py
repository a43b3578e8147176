"""The caller is read on every request, after the body is in, in the transaction of the request's
first read: one connection checkout (and on PostgreSQL one BEGIN and one set_config) for both.
No connection is held while a body arrives, while a write waits for its own, or once the answer
is made, whatever the request turns out to be."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import event, update

from db.database import Database
from db.scope import TenantScope
from server.settings import Settings
from tenants.models import User, UserStatus
from tests.conftest import Api, error_codes
from tests.factories import World


@pytest.fixture
def budget() -> float:
    """No query cost budget: its charge is a write of its own (see the test that sets one)."""
    return 0.0


@pytest.fixture
def settings(settings: Settings, budget: float) -> Settings:
    return settings.with_(cost_budget=budget)


CUSTOMERS = "query { customers(first: 5) { edges { node { name } } } }"
CREATE = """mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { name } errors { code } } }"""


@dataclass
class Checkouts:
    """Connections taken from the pools, and the most ever out at once."""

    taken: int = 0
    out: int = 0
    most: int = 0
    statements: list[str] = field(default_factory=list)

    def checkout(self, *_args: Any) -> None:
        self.taken += 1
        self.out += 1
        self.most = max(self.most, self.out)

    def checkin(self, *_args: Any) -> None:
        self.out -= 1

    def statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(statement)


@contextmanager
def checkouts(db: Database) -> Iterator[Checkouts]:
    seen = Checkouts()
    listeners = []
    for engine in db.engines:
        listeners += [
            (engine.sync_engine.pool, "checkout", seen.checkout),
            (engine.sync_engine.pool, "checkin", seen.checkin),
            (engine.sync_engine, "before_cursor_execute", seen.statement),
        ]
    for target, name, listener in listeners:
        event.listen(target, name, listener)
    try:
        yield seen
    finally:
        for target, name, listener in listeners:
            event.remove(target, name, listener)


def checked_out(db: Database) -> int:
    return sum(engine.sync_engine.pool.checkedout() for engine in db.engines)  # type: ignore[attr-defined]


async def test_the_caller_and_the_first_read_are_one_checkout(api: Api, db: Database, world: World):
    token = world.token("owner", world.a)
    await api(CUSTOMERS, token=token)  # warm: connections made, plans compiled
    with checkouts(db) as seen:
        body = await api(CUSTOMERS, token=token)
    assert "errors" not in body, body
    assert len(body["data"]["customers"]["edges"]) == len(world.a.customers)
    assert seen.taken == 1, seen
    selects = [s for s in seen.statements if s.startswith("SELECT")]
    if db.is_postgresql:
        assert sum("set_config" in s for s in selects) == 1, selects
    assert seen.out == 0


@pytest.mark.parametrize("budget", [100_000.0])
async def test_a_query_charged_to_a_budget_never_holds_two_connections(
    api: Api, db: Database, world: World
):
    # the charge is a write: the caller's read is given back before it, and the page reads anew
    token = world.token("owner", world.a)
    await api(CUSTOMERS, token=token)
    with checkouts(db) as seen:
        body = await api(CUSTOMERS, token=token)
    assert len(body["data"]["customers"]["edges"]) == len(world.a.customers)
    assert body["extensions"]["cost"]["throttleStatus"] is not None
    assert (seen.taken, seen.most, seen.out) == (3, 1, 0), seen


async def test_two_reads_at_once_take_a_connection_each(api: Api, db: Database, world: World):
    # the first read takes the caller's session; the second, running beside it, its own
    token = world.token("owner", world.a)
    query = "query { a: customers(first: 5) { edges { node { name } } }"
    query += " b: customers(first: 2) { edges { node { name } } } }"
    with checkouts(db) as seen:
        body = await api(query, token=token)
    assert "errors" not in body, body
    assert len(body["data"]["a"]["edges"]) == len(world.a.customers)
    assert len(body["data"]["b"]["edges"]) == 2
    assert seen.taken == 2, seen
    assert seen.out == 0


async def test_a_mutation_never_holds_a_read_while_it_writes(api: Api, db: Database, world: World):
    token = world.token("owner", world.a)
    customer = {"name": "Heldco", "email": "ap@heldco.example", "currency": "EUR"}
    with checkouts(db) as seen:
        body = await api(CREATE, {"input": customer}, token)
    assert body["data"]["createCustomer"] == {"customer": {"name": "Heldco"}, "errors": []}
    assert seen.most == 1, seen  # the caller's read was given back before the write began
    assert seen.out == 0


@pytest.mark.parametrize(
    "case",
    ["no read", "invalid document", "field error", "mutation refused", "revoked", "stream"],
)
async def test_no_connection_is_left_checked_out(
    api: Api, client: httpx.AsyncClient, db: Database, world: World, case: str
):
    token = world.token("member", world.a)
    if case == "no read":
        body = await api("{ __typename }", token=token)
        assert body["data"] == {"__typename": "Query"}
    elif case == "invalid document":
        assert error_codes(await api("{ nope }", token=token)) == ["GRAPHQL_VALIDATION_FAILED"]
    elif case == "field error":
        body = await api('{ node(id: "bm90aGluZw==") { id } }', token=token)
        assert body["data"] == {"node": None}
    elif case == "mutation refused":  # a member may not create API clients
        body = await api(
            'mutation { createApiClient(input: {name: "x", scopes: []}) { errors { code } } }',
            token=token,
        )
        assert "FORBIDDEN" in str(body), body
    elif case == "revoked":  # the account is disabled after its token was issued
        async with db.write(TenantScope.system()) as session:
            user_id = world.a.users["member"]
            await session.execute(
                update(User).where(User.id == user_id).values(status=UserStatus.DISABLED)
            )
        response = await api.raw("{ __typename }", token=token)
        assert response.status_code == 401
    else:  # GraphQL over SSE, a stream that ends at once (its caller is read without holding)
        token = world.token("owner", world.a)
        response = await client.post(
            "/graphql",
            json={"query": 'subscription { invoiceChanged(id: "bm90aGluZw==") { id } }'},
            headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"},
        )
        assert response.status_code == 200
        assert "NOT_FOUND" in response.text, response.text
    assert checked_out(db) == 0


async def test_a_slow_body_holds_no_connection(
    client: httpx.AsyncClient, db: Database, world: World
):
    # given a request whose headers (with a valid token) have come, and whose body has not
    sent_half, go_on = asyncio.Event(), asyncio.Event()
    payload = b'{"query": "query { customers(first: 5) { edges { node { name } } } }"}'

    async def body() -> AsyncIterator[bytes]:
        yield payload[:10]
        sent_half.set()
        await go_on.wait()
        yield payload[10:]

    headers = {
        "Authorization": f"Bearer {world.token('owner', world.a)}",
        "Content-Type": "application/json",
    }
    request = asyncio.create_task(client.post("/graphql", content=body(), headers=headers))
    async with asyncio.timeout(10):
        await sent_half.wait()
    for _ in range(20):  # let the app get as far as it can without the rest of the body
        await asyncio.sleep(0)
    # then no connection waits with it
    assert checked_out(db) == 0
    go_on.set()
    response = await request
    assert response.status_code == 200
    assert len(response.json()["data"]["customers"]["edges"]) == len(world.a.customers)
    assert checked_out(db) == 0
