"""A query's cost is bounded before it runs and reported after: extensions.cost on every answer."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from graphql import (
    GraphQLInterfaceType,
    GraphQLObjectType,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
    parse,
)
from sqlalchemy import event
from strawberry.extensions.validation_cache import _get_validate_cache

from db.database import Database
from schema import build_schema
from schema.build import CACHE_SIZE
from schema.cost import LIST_BOUNDS, requested_cost
from tests.conftest import error_codes
from tests.factories import World

# 129 bytes that asked a MEMBER's server for a million customers (47 s, 36 MB, a stalled pool).
NESTED = (
    "{customers(first:100){edges{node{reseller{customers(first:100){edges{node{reseller"
    "{customers(first:100){edges{node{id}}}}}}}}}}}}"
)
# the first connection; per customer an edge, a node, its reseller and the next connection; ...
NESTED_COST = 1 + 100 * (4 + 100 * (4 + 100 * 2))
VIEWER = "{ viewer { kind } }"
CUSTOMERS = "{ customers(first: 10) { edges { node { id name } } } }"
ALL_DEFAULT_PAGES = "query($n: Int) { customers(first: $n) { edges { node { id } } } }"


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    for engine in db.engines:
        event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in db.engines:
            event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_the_nested_customers_query_is_refused_before_anything_runs(api, db, world: World):
    assert len(NESTED) == 129
    for who in ("member", "client_read"):
        token = world.token(who, world.a)
        # given a cheap query running beside it
        with statements(db) as ran:
            # when
            started = time.perf_counter()
            refused, viewer = await asyncio.gather(
                api(NESTED, token=token), api(VIEWER, token=token)
            )
            elapsed = time.perf_counter() - started
        # then it is refused, with its cost and the maximum, and no customer row was read
        assert refused["data"] is None
        assert error_codes(refused) == ["QUERY_TOO_COMPLEX"]
        extensions = refused["errors"][0]["extensions"]
        assert extensions == {"code": "QUERY_TOO_COMPLEX", "cost": NESTED_COST, "maxCost": 25_000}
        assert refused["extensions"]["cost"]["requestedQueryCost"] == NESTED_COST
        assert refused["extensions"]["cost"]["actualQueryCost"] == 0
        assert not [s for s in ran if "customers" in s.lower()]
        assert elapsed < 1.0  # under 100 ms on a quiet machine; this one is shared
        # and the cheap query beside it answered
        assert viewer["data"]["viewer"]["kind"] in {"USER", "API_CLIENT"}


async def test_fifteen_aliases_of_it_are_refused_the_same(api, world: World):
    aliased = "{ " + " ".join(f"a{i}: {NESTED[1:-1]}" for i in range(15)) + " }"
    body = await api(aliased, token=world.token("member", world.a))
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["cost"] == 15 * NESTED_COST
    assert error_codes(body) == ["QUERY_TOO_COMPLEX"]


def doubling(levels: int, leaf: str) -> str:
    """Fragments each spreading the next twice: 2**levels copies of ``leaf`` in a few hundred
    bytes, exponential work for any walk that expands fragments where they are spread."""
    fragments = " ".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ... on Query {{ ...F{i + 1} }} }}"
        for i in range(levels)
    )
    return f"{{ ...F0 }} {fragments} fragment F{levels} on Query {{ {leaf} }}"


async def test_fragments_spread_again_and_again_are_measured_once(api, world: World):
    token = world.token("member", world.a)
    for leaf, code in (("viewer { kind }", "QUERY_TOO_COMPLEX"), ("v: viewer { kind }", None)):
        # when
        started = time.perf_counter()
        body = await api(doubling(20, leaf), token=token)
        elapsed = time.perf_counter() - started
        # then a million copies are refused as fast as one
        assert body["data"] is None
        if code:
            assert error_codes(body) == [code]
            assert body["errors"][0]["extensions"]["cost"] == 2**20
        else:
            assert body["errors"][0]["message"] == f"{2**20} aliases found. Allowed: 15"
        assert elapsed < 1.0


async def test_page_sizes_come_from_variables_and_defaults(api, world: World):
    token = world.token("owner", world.a)
    # given the same query with and without a page size
    sized = await api(ALL_DEFAULT_PAGES, {"n": 100}, token=token)
    default = await api(ALL_DEFAULT_PAGES, token=token)
    # then a page of 100 costs 100 edges and nodes, the default page of 20 forty
    assert sized["extensions"]["cost"]["requestedQueryCost"] == 201
    assert default["extensions"]["cost"]["requestedQueryCost"] == 41
    # and what came back (the connection, 3 edges, 3 nodes) is the actual cost
    assert sized["extensions"]["cost"]["actualQueryCost"] == 7


async def test_every_answered_query_reports_its_cost(api, world: World):
    token = world.token("owner", world.a)
    # when
    viewer = await api(VIEWER, token=token)
    customers = await api(CUSTOMERS, token=token)
    anonymous = await api(VIEWER)
    mutation = await api(
        'mutation { login(input: {email: "nobody@x.example", password: "x"})'
        " { accessToken errors { code } } }"
    )
    # then
    assert viewer["extensions"]["cost"] == {
        "requestedQueryCost": 1,
        "actualQueryCost": 1,
        "throttleStatus": {
            "maximumAvailable": 100_000.0,
            "currentlyAvailable": viewer["extensions"]["cost"]["throttleStatus"][
                "currentlyAvailable"
            ],
            "restoreRate": 5_000.0,
        },
    }
    assert 99_000 < viewer["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] <= 100_000
    assert customers["extensions"]["cost"]["requestedQueryCost"] == 21
    assert customers["extensions"]["cost"]["actualQueryCost"] == 7
    # an anonymous caller has no budget of its own (sign-in is limited apart)
    assert anonymous["extensions"]["cost"]["throttleStatus"] is None
    # a mutation field has a fixed cost, plus the objects its payload may hold
    assert mutation["extensions"]["cost"]["requestedQueryCost"] == 10 + 1 + 10  # payload, errors
    assert mutation["extensions"]["cost"]["actualQueryCost"] == 1 + 1


async def test_fragments_inline_fragments_and_nodes_are_counted(api, world: World):
    from schema.relay import to_global_id

    token = world.token("owner", world.a)
    ids = [to_global_id("Customer", c) for c in world.a.customers]
    query = """
      query($ids: [ID!]!) {
        nodes(ids: $ids) { id ... on Customer { reseller { ...R } } }
        ...V
      }
      fragment R on Reseller { id customers(first: 2) { edges { node { id } } } }
      fragment V on Query { viewer { kind } }
    """
    body = await api(query, {"ids": ids}, token=token)
    assert "errors" not in body
    # 3 nodes, 3 resellers, 3 connections of 2 edges and 2 nodes each; the viewer
    assert body["extensions"]["cost"]["requestedQueryCost"] == 3 + 3 + 3 * (1 + 2 + 2) + 1
    assert body["extensions"]["cost"]["actualQueryCost"] == 3 + 3 + 3 * (1 + 2 + 2) + 1


async def test_a_repeated_document_is_validated_once(api, world: World):
    # given a document this process has never seen
    token = world.token("owner", world.a)
    query = f"{{ viewer {{ kind }} unique{uuid.uuid4().hex}: viewer {{ kind }} }}"
    cache = _get_validate_cache(CACHE_SIZE)
    # when it is sent twice
    first = await api(query, token=token)
    hits = cache.cache_info().hits
    second = await api(query, token=token)
    # then the second validation came from the cache
    assert "errors" not in first and "errors" not in second
    assert cache.cache_info().hits == hits + 1


def test_every_list_of_objects_has_a_stated_bound():
    """A new list field must say what it may cost: a page size, an input's length or a bound."""
    schema = build_schema()._schema
    unbounded = []
    for type_name, type_ in schema.type_map.items():
        if type_name.startswith("__") or not isinstance(
            type_, GraphQLObjectType | GraphQLInterfaceType
        ):
            continue
        for name, field in type_.fields.items():
            if not is_list_type(get_nullable_type(field.type)):
                continue
            if not is_composite_type(get_named_type(field.type)):
                continue
            paged = type_name.endswith("Connection") and name == "edges"
            sized = (type_name, name) == ("Query", "nodes")
            if not (paged or sized or name == "errors" or (type_name, name) in LIST_BOUNDS):
                unbounded.append(f"{type_name}.{name}")
    assert unbounded == []


def test_costs_of_documents():
    schema = build_schema()._schema

    def cost(query: str, variables: dict | None = None) -> int:
        return requested_cost(schema, parse(query), None, variables)

    assert cost(NESTED) == NESTED_COST
    assert cost("{ customers { totalCount } }") == 1
    assert cost("{ customers(first: 500) { edges { id: cursor } } }") == 1 + 100
    assert cost("{ customers(last: 3) { edges { node { id } } } }") == 1 + 3 + 3
    assert cost("{ vendors { id } }") == LIST_BOUNDS[("Query", "vendors")]
    invoices = "{ invoices(first: 2) { edges { node { lines { amount { amount } } } } } }"
    assert cost(invoices) == 1 + 2 + 2 + 2 * 50 * 2
    # an operation picked by name
    two = "query A { viewer { kind } } query B { customers { totalCount } viewer { kind } }"
    assert requested_cost(schema, parse(two), "B") == 2
