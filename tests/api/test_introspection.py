"""Outside development only signed-in callers read the schema, and nobody gets "Did you mean"
suggestions; a development install shows the schema to anyone."""

from __future__ import annotations

import pytest

from schema import build_schema
from tests.conftest import Api, error_codes
from tests.factories import World

SCHEMA = "{ __schema { queryType { name } } }"
TYPE = '{ __type(name: "Invoice") { name } }'


@pytest.mark.parametrize("query", [SCHEMA, TYPE, "{ viewer { kind } __schema { types { name } } }"])
async def test_anonymous_introspection_is_refused(api: Api, world: World, query: str):
    # given a signed-in caller validated the same document first (the validation cache)
    assert "errors" not in await api(query, token=world.token("member", world.a))
    # when an anonymous caller sends it
    body = await api(query)
    # then it is refused before execution, saying why
    assert body.get("data") is None
    assert set(error_codes(body)) == {"UNAUTHENTICATED"}
    assert body["errors"][0]["message"] == (
        "sign in to read the schema: introspection needs a bearer token"
    )


async def test_signed_in_callers_read_the_schema_and_anyone_the_typename(api: Api, world: World):
    for who in ("member", "client_read", "portal"):
        body = await api(SCHEMA, token=world.token(who, world.a))
        assert body["data"] == {"__schema": {"queryType": {"name": "Query"}}}, who
    assert (await api("{ __typename }"))["data"] == {"__typename": "Query"}


async def test_no_field_suggestions_outside_development(api: Api, world: World):
    body = await api("{ viewr { kind } }")
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "Did you mean" not in body["errors"][0]["message"]


async def test_development_shows_the_schema_to_anyone():
    result = await build_schema(development=True).execute(SCHEMA)
    assert result.errors is None
    assert result.data == {"__schema": {"queryType": {"name": "Query"}}}
