"""Every operation as every kind of caller: anonymous, each role, another tenant, platform admin."""

import pytest

from schema.relay import to_global_id
from tests.conftest import error_codes
from tests.factories import World

CALLERS = ["anonymous", "member", "billing_member", "manager", "owner", "other_tenant", "platform"]


def token(world: World, caller: str) -> str | None:
    if caller == "anonymous":
        return None
    if caller == "platform":
        return world.token("platform")
    if caller == "other_tenant":
        return world.token("owner", world.b)
    return world.token(caller, world.a)


OPERATIONS = {
    # name: (document, variables(world), expected outcome per caller)
    "viewer": (
        "{ viewer { kind } }",
        lambda w: {},
        {"anonymous": "UNAUTHENTICATED", "*": "ok"},
    ),
    "customers": (
        "{ customers { totalCount } }",
        lambda w: {},
        {"anonymous": "UNAUTHENTICATED", "*": "ok"},
    ),
    "users": (
        "{ users { totalCount } }",
        lambda w: {},
        {"anonymous": "UNAUTHENTICATED", "*": "ok"},
    ),
    "resellers": (
        "{ resellers { totalCount } }",
        lambda w: {},
        {"anonymous": "UNAUTHENTICATED", "platform": "ok", "*": "FORBIDDEN"},
    ),
    "node": (
        "query($id: ID!) { node(id: $id) { id } }",
        lambda w: {"id": to_global_id("Customer", w.a.customers[0])},
        {"anonymous": "UNAUTHENTICATED", "other_tenant": "NOT_FOUND", "*": "ok"},
    ),
    "nodes": (
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        lambda w: {"ids": [to_global_id("User", w.a.users["member"])]},
        {"anonymous": "UNAUTHENTICATED", "other_tenant": "NOT_FOUND", "*": "ok"},
    ),
    "createCustomer": (
        """mutation($input: CreateCustomerInput!) {
             createCustomer(input: $input) { customer { id } errors { code } } }""",
        lambda w: {
            "input": {
                "resellerId": to_global_id("Reseller", w.a.id),
                "name": "New",
                "email": "new@new.example",
                "currency": "EUR",
            }
        },
        {
            "anonymous": "UNAUTHENTICATED",
            "member": "FORBIDDEN",
            "billing_member": "FORBIDDEN",
            "other_tenant": "NOT_FOUND",
            "*": "ok",
        },
    ),
    "updateCustomer": (
        """mutation($input: UpdateCustomerInput!) {
             updateCustomer(input: $input) { customer { id } errors { code } } }""",
        lambda w: {
            "input": {"customerId": to_global_id("Customer", w.a.customers[0]), "name": "Z"}
        },
        {
            "anonymous": "UNAUTHENTICATED",
            "member": "FORBIDDEN",
            "billing_member": "FORBIDDEN",
            "other_tenant": "NOT_FOUND",
            "*": "ok",
        },
    ),
    "createReseller": (
        """mutation($input: CreateResellerInput!) {
             createReseller(input: $input) { reseller { id } errors { code } } }""",
        lambda w: {
            "input": {
                "name": "Initech Cloud",
                "currency": "USD",
                "owner": {"email": "boss@initech.example", "name": "Bill"},
            }
        },
        {"anonymous": "UNAUTHENTICATED", "platform": "ok", "*": "FORBIDDEN"},
    ),
}


def outcome(body: dict) -> str:
    codes = error_codes(body)
    if codes:
        return codes[0]
    data = body["data"]
    (value,) = data.values()
    if isinstance(value, dict) and value.get("errors"):
        return value["errors"][0]["code"]
    if isinstance(value, list) and value == [None]:
        return "NOT_FOUND"
    return "ok"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("operation", OPERATIONS)
async def test_access(api, world: World, operation, caller):
    document, variables, expected = OPERATIONS[operation]
    body = await api(document, variables(world), token=token(world, caller))
    assert outcome(body) == expected.get(caller, expected["*"]), body
