"""The fast paths of execution (schema/compiled.py, schema/execution.py) answer exactly what
graphql-core answers.

Three apps on one database (compiled builders, the default; plain fields only, with
GRAPHQL_COMPILED=false; graphql-core's executor as it is, with GRAPHQL_FAST_PATH=false) get the
same queries as the same callers, over the demo data (a month of billing): every query of the README, documents
that reach nulls and refused billing fields, and queries drawn from the schema itself
(hypothesis-graphql) as a platform admin, an owner, a member without billing access and nobody.
The answers must be the same: status, data (in order) and the set of errors; only the signed
download links differ (each carries its own token id), so they are compared up to their token.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import hypothesis_graphql as hg
import pytest
from asgi_lifespan import LifespanManager
from graphql import OperationDefinitionNode, OperationType, parse
from hypothesis import given
from hypothesis import strategies as st
from hypothesis_graphql import nodes
from starlette.applications import Starlette
from strawberry.extensions.validation_cache import _get_validate_cache

from db.database import Database
from schema.build import CACHE_SIZE, build_schema
from schema.compiled import CompiledExecutor
from schema.execution import PlainFieldsExecutor
from server.app import create_app
from server.demo import seed_demo
from server.settings import Settings
from tests.api.test_generated_input import GENERATED
from tests.conftest import Api
from tests.server.test_readme_examples import README, Runner, extract

EXAMPLES = int(os.environ.get("CHANNELBILL_EXECUTION_EXAMPLES", "60"))
CALLERS = ("admin@example.com", "owner@acme.example", "member@acme.example", None)
DOWNLOAD_TOKEN = re.compile(rb"/documents/[A-Za-z0-9_.-]+")
PAGE = """query Page($first: Int) { invoices(first: $first) { totalCount edges { cursor node {
  id number status total { amount currency formatted } amountDue { amount } issuedAt dueDate
  buyer { name accountId kind } seller { name } customer { name email }
  lines { position description quantity unitPrice { amount formatted } amount { amount }
    product { sku name } }
  payments { amount { amount } method status } customFields { key value } } }
  pageInfo { hasNextPage endCursor } } }"""
# Fields a member may not read (billing) inside a list, a node by a foreign or broken id, a
# fragment on an interface, aliases, a __typename, a skipped and an included field.
EDGES = """query Edges($skip: Boolean!) {
  viewer { __typename kind isPlatformAdmin user { email role billingAccess } permissions }
  customers(first: 3) { edges { node { id name balance { amount } as: name currency
    reseller { name } } } }
  none: node(id: "Q3VzdG9tZXI6MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA") { id }
  broken: node(id: "not an id") { id }
  invoices(first: 2) { edges { node { ... on Node { id } number @skip(if: $skip)
    status @include(if: $skip) } } }
}"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # No cost budget: each app would charge its own answers, and the remaining budget is part of
    # the answer.
    return settings.with_(cost_budget=0)


@pytest.fixture
async def others(settings: Settings) -> AsyncIterator[list[httpx.AsyncClient]]:
    """The same app without compiled builders, and with graphql-core's executor as it is."""
    async with AsyncExitStack() as stack:
        clients = []
        for changed in (
            settings.with_(graphql_compiled=False),
            settings.with_(graphql_fast_path=False),
        ):
            application: Starlette = create_app(changed)
            await stack.enter_async_context(LifespanManager(application))
            transport = httpx.ASGITransport(app=application)
            clients.append(
                await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url="http://testserver")
                )
            )
        yield clients


@pytest.fixture
async def runner(
    api: Api, client: httpx.AsyncClient, db: Database, settings: Settings, tmp_path: Path
) -> Runner:
    assert await seed_demo(db, settings)
    return Runner(api, client, db, tmp_path)


async def same_answer(
    fast: httpx.AsyncClient,
    others: list[httpx.AsyncClient],
    token: str | None,
    query: str,
    variables: dict[str, Any] | None = None,
) -> bytes:
    """The answers of the default app and of the others, compared. Errors are compared as a set:
    graphql-core lists them in the order they happen, and resolvers that wait on the database
    finish in no fixed order (two answers of the same executor can differ there too)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"query": query, "variables": variables or {}}
    answers = [await c.post("/graphql", json=body, headers=headers) for c in (fast, *others)]
    compiled, *rest = (_comparable(a) for a in answers)
    for name, other in zip(("plain fields", "graphql-core"), rest, strict=True):
        assert compiled == other, f"{query}\n{variables}\ncompiled: {compiled}\n{name}: {other}"
    return answers[0].content


def _comparable(response: httpx.Response) -> tuple[int, bytes, list[str]]:
    """Status, the body without its errors (bytes, in order), and the errors, sorted."""
    content = DOWNLOAD_TOKEN.sub(b"/documents/<token>", response.content)
    decoded = json.loads(content)
    errors = sorted(json.dumps(e, sort_keys=True) for e in decoded.pop("errors", None) or [])
    # The body re-encoded as it came (key order kept): what the client reads, less the errors.
    return response.status_code, json.dumps(decoded).encode(), errors


def is_query(text: str) -> bool:
    operations = [d for d in parse(text).definitions if isinstance(d, OperationDefinitionNode)]
    return all(o.operation is OperationType.QUERY for o in operations)


def test_the_fast_paths_are_the_default_and_can_be_turned_off():
    assert build_schema().execution_context_class is CompiledExecutor
    assert build_schema(compiled=False).execution_context_class is PlainFieldsExecutor
    for compiled in (True, False):
        off = build_schema(plain_fields=False, compiled=compiled).execution_context_class
        assert off is not PlainFieldsExecutor and not issubclass(off, PlainFieldsExecutor)


async def test_every_readme_query_answers_the_same(
    runner: Runner, client: httpx.AsyncClient, others: list[httpx.AsyncClient]
):
    compared = 0
    for example in extract(README.read_text(encoding="utf-8")):
        if example.kind != "graphql" or not is_query(example.text):
            continue
        if "<from the link>" in example.text or "<downloadUrl>" in example.text:
            continue
        text = await runner.substitute(example.text)
        await same_answer(client, others, await runner.token(example.user), text)
        compared += 1
    assert compared >= 10


@pytest.mark.parametrize("who", CALLERS)
async def test_pages_nulls_and_refusals_answer_the_same(
    runner: Runner, client: httpx.AsyncClient, others: list[httpx.AsyncClient], who: str | None
):
    token = await runner.token(who) if who else None
    for first in (1, 10, 100):
        answer = await same_answer(client, others, token, PAGE, {"first": first})
    if who == "owner@acme.example":
        assert b'"lines":[{' in answer and b'"errors"' not in answer  # a real page, read
    for skip in (True, False):
        answer = await same_answer(client, others, token, EDGES, {"skip": skip})
    if who == "member@acme.example":
        assert b"BILLING_ACCESS_REQUIRED" in answer  # billing fields refused, in both


@pytest.fixture
def drawn(runner: Runner) -> dict[str, st.SearchStrategy[str]]:
    schema = build_schema()._schema  # type: ignore[attr-defined]
    scalars = {
        "String": st.sampled_from(["", "Contoso", "x" * 50]).map(nodes.String),
        "ID": st.sampled_from(["Q3VzdG9tZXI6eA", "x"]).map(nodes.String),
        "Date": st.sampled_from(["2026-01-01", "2026-12-31", "x"]).map(nodes.String),
        "DateTime": st.sampled_from(["2026-11-01T10:00:00Z"]).map(nodes.String),
        "Decimal": st.sampled_from(["1", "-1", "1e30"]).map(nodes.String),
        "CurrencyCode": st.sampled_from(["EUR", "USD", "JPY", "xx"]).map(nodes.String),
        "JSON": st.sampled_from(["{}"]).map(nodes.String),
    }
    return {
        name: hg.from_schema(schema, fields=[name], custom_scalars=scalars)
        for name in sorted(schema.query_type.fields)
    }


@pytest.mark.parametrize("who", CALLERS)
@hypothesis.settings(GENERATED, max_examples=EXAMPLES)
@given(data=st.data())
async def test_queries_drawn_from_the_schema_answer_the_same(
    runner: Runner,
    client: httpx.AsyncClient,
    others: list[httpx.AsyncClient],
    drawn: dict[str, st.SearchStrategy[str]],
    who: str | None,
    data: st.DataObject,
):
    field = data.draw(st.sampled_from(sorted(drawn)), label="field")
    document = data.draw(drawn[field], label="document")
    token = await runner.token(who) if who else None
    await same_answer(client, others, token, document)


async def test_a_repeated_document_is_parsed_and_validated_once(
    runner: Runner, client: httpx.AsyncClient
):
    """Both caches are shared by all requests: a document seen before costs neither step."""
    validated = _get_validate_cache(CACHE_SIZE)
    token = await runner.token("owner@acme.example")
    document = PAGE.replace("Page(", f"Page{uuid.uuid4().hex}(")  # never seen before
    headers = {"Authorization": f"Bearer {token}"}
    body = {"query": document, "variables": {"first": 5}}
    assert (await client.post("/graphql", json=body, headers=headers)).status_code == 200
    first = validated.cache_info()
    for _ in range(3):
        assert (await client.post("/graphql", json=body, headers=headers)).status_code == 200
    again = validated.cache_info()
    assert again.misses == first.misses  # not validated again
    assert again.hits >= first.hits + 3


async def test_a_page_reads_its_lines_in_its_own_session(
    runner: Runner, client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
):
    """The caller, then the page with its lines: one session (the caller's, held for the first
    read), not another for a DataLoader batch; a page that does not ask for lines reads none."""
    token = await runner.token("owner@acme.example")
    opened: list[str] = []
    read, open_read = db.read, db.open_read

    def counted(scope: Any) -> Any:
        opened.append("read")
        return read(scope)

    def counted_open(scope: Any) -> Any:  # the caller's (tests/api/test_caller_read.py)
        opened.append("open read")
        return open_read(scope)

    monkeypatch.setattr(db, "read", counted)
    monkeypatch.setattr(db, "open_read", counted_open)
    headers = {"Authorization": f"Bearer {token}"}
    for query, sessions in (
        ("{ invoices(first: 20) { edges { node { number lines { description } } } } }", 1),
        ("{ invoices(first: 20) { edges { node { number } } } }", 1),
        (
            "{ invoices(first: 20) { edges { node { ...L } } } } fragment L on Invoice {"
            " lines { amount { amount } } }",
            1,
        ),
        ("{ invoices(first: 20) { edges { ... on InvoiceEdge { node { lines { kind } } } } } }", 1),
    ):
        opened.clear()
        response = await client.post("/graphql", json={"query": query}, headers=headers)
        body = response.json()
        assert "errors" not in body, body
        assert len(body["data"]["invoices"]["edges"]) >= 3
        assert len(opened) == sessions, query
    node = next(e for e in body["data"]["invoices"]["edges"])["node"]
    assert node["lines"], "the lines were read"
