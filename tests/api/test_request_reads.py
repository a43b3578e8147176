"""A request to /graphql reads its caller and its data on one pooled connection (db/shared.py),
gives it back once executed, and a mutation reads what it wrote."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from db.database import Database
from server.settings import Settings
from tests.conftest import Api
from tests.factories import World

PAGE = """{ viewer { kind } customers(first: 10) { totalCount edges { node { name } } } }"""
CREATE = """mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { name } errors { code } } }"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No cost budget: its charge is a write, on a connection of its own, before every query."""
    return settings.with_(cost_budget=0)


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


async def test_a_query_reads_its_caller_and_its_data_on_one_connection(
    api: Api, db: Database, world: World
):
    pool = db.read_engine.sync_engine.pool
    with checkouts(db) as taken:
        body = await api(PAGE, token=world.token("owner", world.a))
    assert "errors" not in body, body
    names = [edge["node"]["name"] for edge in body["data"]["customers"]["edges"]]
    assert len(names) == body["data"]["customers"]["totalCount"] == len(world.a.customers)
    assert len(taken) == 1  # the caller's read, the page's and its count's
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_mutation_reads_what_it_wrote_and_gives_the_connection_back(
    api: Api, db: Database, world: World
):
    token = world.token("owner", world.a)
    await api(PAGE, token=token)  # a first request: the reads of one do not outlive it
    body = await api(
        CREATE,
        {"input": {"name": "Initech", "email": "ap@initech.example", "currency": "EUR"}},
        token,
    )
    assert body["data"]["createCustomer"] == {"customer": {"name": "Initech"}, "errors": []}
    after = await api(PAGE, token=token)
    assert after["data"]["customers"]["totalCount"] == len(world.a.customers) + 1
    assert db.read_engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_another_tenants_caller_reads_its_own_rows_on_the_next_request(
    api: Api, world: World
):
    for tenant in (world.a, world.b, world.a):
        body = await api(PAGE, token=world.token("owner", tenant))
        assert body["data"]["customers"]["totalCount"] == len(tenant.customers)
