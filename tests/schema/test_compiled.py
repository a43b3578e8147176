"""The compiled builders (schema/compiled.py) answer exactly what graphql-core answers, on a
small schema made to reach every case: plain and resolver fields, arguments and variables,
nulls where the schema allows them and where it does not, values a type refuses, exceptions,
an awaitable from a resolver declared sync, async resolvers, tuples for lists, interfaces,
fragments and directives. Each query runs on both executors; data (in order) and errors (with
their paths) must be the same. The app-level comparison is tests/api/test_execution.py."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
import strawberry
from strawberry.extensions import ParserCache

from schema.compiled import CompiledExecutor, builders_of


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Item(Named):
    maybe: str | None
    count: int
    tags: list[str]
    raw: strawberry.Private[Any] = None

    @strawberry.field
    def double(self) -> int:
        return self.count * 2

    @strawberry.field
    def shout(self, suffix: str = "!") -> str:
        return self.name.upper() + suffix

    @strawberry.field
    def broken(self) -> str:
        raise ValueError(f"broken {self.name}")

    @strawberry.field
    def sneaky(self) -> str:
        return _later(self.name)  # type: ignore[return-value]  # graphql-core awaits it

    @strawberry.field
    async def later(self) -> str:
        await asyncio.sleep(0)
        return self.name

    @strawberry.field
    def weird(self) -> int:
        return self.raw  # type: ignore[no-any-return]  # whatever the test put there


async def _later(name: str) -> str:
    await asyncio.sleep(0)
    return name + "?"


@strawberry.type
class Part:
    label: str
    size: int | None


@strawberry.type
class Box:
    items: list[Item]
    parts: list[Part]
    maybe_parts: list[Part | None] | None
    first: Item | None
    grid: list[list[int]]


def item(name: Any, count: Any = 1, **extra: Any) -> Item:
    values: dict[str, Any] = {"maybe": None, "tags": ["a", "b"], "raw": 1}
    values.update(extra)
    return Item(name=name, count=count, **values)


BOXES = {
    "good": lambda: Box(
        items=[item("x", 1), item("y", 2, maybe="m")],
        parts=[Part(label="p", size=None), Part(label="q", size=3)],
        maybe_parts=[None, Part(label="r", size=1)],
        first=item("f"),
        grid=[[1, 2], [3]],
    ),
    "null_name": lambda: Box(
        items=[item("x"), item(None)],
        parts=[],
        maybe_parts=None,
        first=item(None),
        grid=[],
    ),
    "big_count": lambda: Box(
        items=[item("x", 2**40)], parts=[], maybe_parts=None, first=None, grid=[]
    ),
    "tuples": lambda: Box(
        items=(item("x"), item("y")),  # type: ignore[arg-type]
        parts=(Part(label="t", size=1),),  # type: ignore[arg-type]
        maybe_parts=None,
        first=None,
        grid=((1,), (2, 3)),  # type: ignore[arg-type]
    ),
    "null_part": lambda: Box(
        items=[],
        parts=[None],
        maybe_parts=[None],
        first=None,
        grid=[[None]],  # type: ignore[list-item]
    ),
    "weird": lambda: Box(
        items=[item("w", raw="seven"), item("v", raw=None)],
        parts=[],
        maybe_parts=None,
        first=None,
        grid=[],
    ),
    "not_an_item": lambda: Box(
        items=[Part(label="p", size=1)],  # type: ignore[list-item]
        parts=[],
        maybe_parts=None,
        first=None,
        grid=[],
    ),
}


@strawberry.type
class Query:
    @strawberry.field
    def box(self, kind: str = "good") -> Box:
        return BOXES[kind]()

    @strawberry.field
    def named(self) -> list[Named]:
        return [item("n")]


def schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    def made(executor: Any) -> strawberry.Schema:
        return strawberry.Schema(
            query=Query,
            types=[Item],
            extensions=[ParserCache],
            execution_context_class=executor,
        )

    return made(CompiledExecutor), made(None)


COMPILED, PLAIN = schemas()

QUERIES = [
    "{ box { items { name maybe count tags double shout } parts { label size } first { name } } }",
    '{ box { items { shout(suffix: "?") s2: shout } grid } }',
    "query Q($s: String!) { box { items { shout(suffix: $s) } } }",
    "{ box { items { name broken } } }",
    "{ box { items { name sneaky } } }",
    "{ box { items { name later } } }",
    '{ box(kind: "null_name") { items { name count } first { name } } }',
    '{ box(kind: "null_name") { first { maybe } items { maybe } } }',
    '{ box(kind: "big_count") { items { count double } } }',
    '{ box(kind: "tuples") { items { name } parts { label } grid } }',
    '{ box(kind: "null_part") { parts { label } maybeParts { label } } }',
    '{ box(kind: "null_part") { grid } }',
    '{ box(kind: "weird") { items { name weird } } }',
    '{ box(kind: "not_an_item") { items { __typename } } }',
    "{ box { items { __typename ... on Named { name } ...F } } } fragment F on Item { count }",
    "{ box { items { name @skip(if: true) count } } }",
    "query Q($s: Boolean!) { box { items { name @include(if: $s) count } } }",
    "{ box { maybeParts { label } items { a: name b: name name } } }",
    "{ named { name ... on Item { count } } }",
    "{ box { items { name } items { count } } }",
    "{ box { __typename first { __typename } } }",
]
VARIABLES = {"s": "!?"}
UNIQUE = itertools.count()


def answer(schema: strawberry.Schema, query: str, variables: dict[str, Any]) -> str:
    result = asyncio.run(schema.execute(query, variable_values=variables))
    errors = sorted(
        json.dumps({"message": e.message, "path": e.path}, sort_keys=True)
        for e in result.errors or []
    )
    return json.dumps({"data": result.data, "errors": errors})


@pytest.mark.parametrize("query", QUERIES)
def test_compiled_answers_as_graphql_core(query: str) -> None:
    variables = VARIABLES | ({"s": True} if "Boolean" in query else {})
    for _ in range(2):  # compiled at first, then reused
        assert answer(COMPILED, query, variables) == answer(PLAIN, query, variables), query


def test_cases_that_need_an_error_do_not_pass_silently() -> None:
    """The cases above are real: the schema answers them with errors or nulls."""
    refused = answer(COMPILED, '{ box(kind: "null_name") { items { name } } }', {})
    assert "Cannot return null for non-nullable field Item.name" in refused
    assert "broken x" in answer(COMPILED, "{ box { items { name broken } } }", {})
    sneaky = json.loads(answer(COMPILED, "{ box { items { sneaky } } }", {}))
    assert sneaky["data"]["box"]["items"] == [{"sneaky": "x?"}, {"sneaky": "y?"}]


def test_a_builder_is_compiled_once_and_reused() -> None:
    query = "{ box { items { name count double } parts { label } } }"
    known = builders_of(COMPILED._schema)  # type: ignore[attr-defined]
    answer(COMPILED, query, {})
    compiled = dict(known.entries)
    assert any(e.build is not None for e in compiled.values())
    for _ in range(3):
        answer(COMPILED, query, {})
    assert dict(known.entries) == compiled  # nothing compiled again


def test_selections_it_does_not_handle_are_not_compiled() -> None:
    known = builders_of(COMPILED._schema)  # type: ignore[attr-defined]

    def built(selection: str) -> list[bool]:
        """Whether the box's selection was compiled, for a document never seen before."""
        before = set(known.entries)
        answer(COMPILED, f"{{ box {{ unique{next(UNIQUE)}: __typename {selection} }} }}", {})
        return [known.entries[k].build is not None for k in set(known.entries) - before]

    # Neither the box's selection nor its items' (graphql-core then completes each item)
    assert built("items { name later }") == [False, False]  # an async resolver
    assert built("items { name @skip(if: false) }") == [False, False]  # a directive
    assert built("items { name } first { name }") == [True]  # one builder for all of it


def test_mutations_are_not_compiled() -> None:
    @strawberry.type
    class Mutation:
        @strawberry.mutation
        def make(self) -> Box:
            return BOXES["good"]()

    schema = strawberry.Schema(
        query=Query, mutation=Mutation, types=[Item], execution_context_class=CompiledExecutor
    )
    result = asyncio.run(schema.execute("mutation { make { items { name } } }"))
    assert result.errors is None
    assert result.data == {"make": {"items": [{"name": "x"}, {"name": "y"}]}}
    assert not builders_of(schema._schema).entries  # type: ignore[attr-defined]
