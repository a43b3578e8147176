"""Query limits run before execution; every error carries a code; nothing internal leaks."""

import pytest

from tests.conftest import error_codes
from tests.factories import World


def deep(depth: int) -> str:
    """A valid query exactly `depth` levels deep, its leaf included:
    customers > edges > node > reseller > customers ... > a scalar of the last one."""
    path = ["customers", "edges", "node", "reseller"]
    leaves = {"customers": "totalCount", "edges": "cursor", "node": "id", "reseller": "id"}
    levels = [path[i % 4] for i in range(depth - 1)]
    query = leaves[levels[-1]]
    for field in reversed(levels):
        query = f"{field} {{ {query} }}"
    return "{ " + query + " }"


async def test_depth_13_is_rejected_before_execution(api, world: World):
    token = world.token("owner", world.a)
    # given a query at the limit, which runs
    allowed = await api(deep(12), token=token)
    assert "errors" not in allowed
    assert allowed["data"]["customers"]["edges"][0]["node"]["reseller"]["customers"]
    # when one level deeper
    rejected = await api(deep(13), token=token)
    # then nothing runs
    assert rejected.get("data") is None
    assert [e["message"] for e in rejected["errors"]] == [
        "'anonymous' exceeds maximum operation depth of 12"
    ]
    assert error_codes(rejected) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_too_many_aliases_are_rejected(api, world: World):
    aliases = " ".join(f"a{i}: viewer {{ kind }}" for i in range(16))
    body = await api("{ " + aliases + " }", token=world.token("owner", world.a))
    assert body.get("data") is None
    assert "aliases" in body["errors"][0]["message"]
    fifteen = " ".join(f"a{i}: viewer {{ kind }}" for i in range(15))
    assert "errors" not in await api("{ " + fifteen + " }", token=world.token("owner", world.a))


async def test_too_many_tokens_are_rejected(api, world: World):
    fields = " ".join("__typename" for _ in range(2100))
    body = await api("{ " + fields + " }")
    assert body.get("data") is None
    assert "token" in body["errors"][0]["message"].lower()


async def test_no_field_suggestions_outside_development(api, world: World):
    body = await api("{ customer { id } }", token=world.token("owner", world.a))
    assert "Did you mean" not in str(body)
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_syntax_errors_have_a_code(api):
    body = await api("{ viewer ")
    assert error_codes(body) == ["GRAPHQL_PARSE_FAILED"]


async def test_a_value_its_variable_cannot_take_is_bad_input_naming_the_field(api, world: World):
    body = await api(
        "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { errors { code } } }",
        {"input": {"name": "X", "email": "x@y.example", "currency": "EUR", "taxRate": "lots"}},
        token=world.token("owner", world.a),
    )
    assert [(e["extensions"]["code"], e["extensions"].get("field")) for e in body["errors"]] == [
        ("BAD_USER_INPUT", "input.taxRate")
    ]


async def test_unexpected_errors_are_masked(api, world: World, monkeypatch):
    # given a repository that fails the way a database can, with SQL in the message
    from tenants.repositories import CustomerRepository

    async def broken(self, *args, **kwargs):
        raise RuntimeError("SELECT secret FROM customers WHERE password = 'x'")

    monkeypatch.setattr(CustomerRepository, "page", broken)
    # when
    body = await api(
        "{ customers { totalCount } viewer { kind } }", token=world.token("owner", world.a)
    )
    # then (customers is non-null, so data is nulled) the failure says nothing of its cause
    assert body["data"] is None
    assert body["errors"] == [
        {
            "message": "Internal server error.",
            "locations": [{"line": 1, "column": 3}],
            "path": ["customers"],
            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
        }
    ]
    assert "SELECT" not in str(body)


@pytest.mark.parametrize(
    ("first", "ok"), [(0, True), (1, True), (100, True), (101, False), (-1, False)]
)
async def test_page_size_is_at_most_100(api, world: World, first, ok):
    body = await api(
        f"{{ customers(first: {first}) {{ totalCount }} }}", token=world.token("owner", world.a)
    )
    if ok:
        assert body["data"]["customers"]["totalCount"] == 3
    else:
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert "between 0 and 100" in body["errors"][0]["message"]


async def test_invalid_cursor_is_bad_input(api, world: World):
    body = await api(
        '{ customers(after: "nonsense") { totalCount } }', token=world.token("owner", world.a)
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["message"] == "invalid cursor"
