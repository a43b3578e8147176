"""Every query document the test suite sends answers the same through the three executors: the
compiled builders (the default), graphql-core with plain fields read directly, and graphql-core
as it is (tests/api/test_execution.py says how answers are compared).

The documents are the string literals of tests/ that parse as GraphQL queries. Their variables
get values of their types, an ID once as an invoice's and once as a customer's id of the demo;
every kind of caller sends each: a platform admin, an owner, a member without billing access and
nobody."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from graphql import (
    DocumentNode,
    GraphQLSyntaxError,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    TypeNode,
    parse,
)

from tests.api.test_execution import CALLERS, others, runner, same_answer, settings
from tests.server.test_readme_examples import Runner

__all__ = ["others", "runner", "settings"]  # fixtures, used by name

TESTS = Path(__file__).resolve().parents[1]
VALUES: dict[str, Any] = {
    "Int": 3,
    "String": "north",
    "Boolean": True,
    "Date": "2026-11-01",
    "DateTime": "2026-11-01T00:00:00Z",
    "Decimal": "1",
    "CurrencyCode": "EUR",
}
SOME_INVOICES = "{ invoices(first: 1) { edges { node { id customer { id } } } } }"


def suite_documents() -> list[str]:
    """The query documents written in the tests, each once, in a stable order."""
    found: dict[str, None] = {}
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and "{" in text and _is_query(text):
                found[text] = None
    return list(found)


def _is_query(text: str) -> bool:
    try:
        document = parse(text)
    except GraphQLSyntaxError:
        return False
    operations = _operations(document)
    return bool(operations) and all(o.operation is OperationType.QUERY for o in operations)


def _operations(document: DocumentNode) -> list[OperationDefinitionNode]:
    return [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]


def _named(type_node: TypeNode) -> tuple[str, bool]:
    """The named type under the wrappers, and whether it is a list."""
    listed = False
    while not isinstance(type_node, NamedTypeNode):
        listed = listed or isinstance(type_node, ListTypeNode)
        assert isinstance(type_node, NonNullTypeNode | ListTypeNode)
        type_node = type_node.type
    return type_node.name.value, listed


def variable_sets(text: str, ids: list[str]) -> Iterator[dict[str, Any]]:
    """Values for the document's variables: one set per candidate id when it takes an ID."""
    definitions = [v for o in _operations(parse(text)) for v in o.variable_definitions or ()]
    takes_id = any(_named(v.type)[0] == "ID" for v in definitions)
    for candidate in ids if takes_id else [None]:
        values: dict[str, Any] = {}
        for definition in definitions:
            name, listed = _named(definition.type)
            value = candidate if name == "ID" else VALUES.get(name)
            if value is not None:
                values[definition.variable.name.value] = [value] if listed else value
        yield values


def test_the_suite_has_documents_to_compare():
    documents = suite_documents()
    assert len(documents) >= 100, len(documents)
    assert any("invoices" in d and "lines" in d for d in documents)


async def test_every_query_of_the_suite_answers_the_same(
    runner: Runner, client: httpx.AsyncClient, others: list[httpx.AsyncClient]
):
    owner = await runner.token("owner@acme.example")
    edge = (await runner.api(SOME_INVOICES, token=owner))["data"]["invoices"]["edges"][0]
    ids = [edge["node"]["id"], edge["node"]["customer"]["id"]]
    tokens = [await runner.token(who) if who else None for who in CALLERS]
    compared = 0
    for text in suite_documents():
        for variables in variable_sets(text, ids):
            for token in tokens:
                await same_answer(client, others, token, text, variables)
                compared += 1
    assert compared >= 400, compared
