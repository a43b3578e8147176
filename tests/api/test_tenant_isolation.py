"""Reseller A's token never reaches reseller B's rows: lists, node, nodes, mutations."""

from schema.relay import to_global_id
from tests.conftest import error_codes
from tests.factories import World

CUSTOMERS = "{ customers(first: 100) { totalCount edges { node { id name reseller { slug } } } } }"
USERS = "{ users(first: 100) { totalCount edges { node { email reseller { slug } } } } }"
NODE = "query($id: ID!) { node(id: $id) { id ... on Customer { name } ... on User { email } } }"
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
UPDATE = """mutation($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) { customer { id name } errors { code field message } }
}"""


def gid(kind: str, id_) -> str:
    return to_global_id(kind, id_)


async def test_customers_list_only_the_callers_own(api, world: World):
    # when
    body = await api(CUSTOMERS, token=world.token("member", world.a))
    # then
    connection = body["data"]["customers"]
    assert connection["totalCount"] == 3
    assert {e["node"]["reseller"]["slug"] for e in connection["edges"]} == {"alpha"}
    assert {e["node"]["id"] for e in connection["edges"]} == {
        gid("Customer", c) for c in world.a.customers
    }


async def test_users_list_only_the_callers_own(api, world: World):
    body = await api(USERS, token=world.token("owner", world.b))
    emails = {e["node"]["email"] for e in body["data"]["users"]["edges"]}
    assert emails == set(world.b.emails.values())
    assert body["data"]["users"]["totalCount"] == 6


async def test_platform_admin_lists_every_tenant(api, world: World):
    body = await api(CUSTOMERS, token=world.token("platform"))
    slugs = [e["node"]["reseller"]["slug"] for e in body["data"]["customers"]["edges"]]
    assert sorted(set(slugs)) == ["alpha", "bravo"]
    assert body["data"]["customers"]["totalCount"] == 6


async def test_node_of_another_tenant_is_not_found(api, world: World):
    # given
    own, foreign = gid("Customer", world.a.customers[0]), gid("Customer", world.b.customers[0])
    token = world.token("owner", world.a)
    # when
    mine = await api(NODE, {"id": own}, token=token)
    theirs = await api(NODE, {"id": foreign}, token=token)
    missing = await api(NODE, {"id": gid("Customer", world.admin_id)}, token=token)
    # then
    assert mine["data"]["node"]["name"] == "Alpha Customer 1"
    assert theirs["data"] == {"node": None}
    assert error_codes(theirs) == ["NOT_FOUND"]
    # indistinguishable from an id that never existed (same message shape)
    assert error_codes(missing) == ["NOT_FOUND"]
    assert theirs["errors"][0]["message"].replace(foreign, "X") == missing["errors"][0][
        "message"
    ].replace(gid("Customer", world.admin_id), "X")


async def test_node_of_another_tenants_user_and_reseller(api, world: World):
    token = world.token("owner", world.a)
    for foreign in (gid("User", world.b.users["owner"]), gid("Reseller", world.b.id)):
        body = await api(NODE, {"id": foreign}, token=token)
        assert body["data"] == {"node": None}
        assert error_codes(body) == ["NOT_FOUND"]


async def test_platform_admin_ids_are_not_reachable_by_resellers(api, world: World):
    body = await api(
        NODE, {"id": gid("PlatformAdmin", world.admin_id)}, token=world.token("owner", world.a)
    )
    assert body["data"] == {"node": None}
    assert error_codes(body) == ["NOT_FOUND"]


async def test_nodes_nulls_only_the_foreign_entries(api, world: World):
    ids = [gid("Customer", world.a.customers[0]), gid("Customer", world.b.customers[0]), "garbage"]
    body = await api(NODES, {"ids": ids}, token=world.token("owner", world.a))
    assert body["data"]["nodes"] == [{"id": ids[0]}, None, None]
    assert sorted(e["path"][1] for e in body["errors"]) == [1, 2]
    assert set(error_codes(body)) == {"NOT_FOUND"}


async def test_update_of_another_tenants_customer_is_not_found_and_changes_nothing(
    api, world: World
):
    # given
    foreign = gid("Customer", world.b.customers[0])
    # when
    body = await api(
        UPDATE,
        {"input": {"customerId": foreign, "name": "Hijacked"}},
        token=world.token("owner", world.a),
    )
    # then
    assert body["data"]["updateCustomer"] == {
        "customer": None,
        "errors": [{"code": "NOT_FOUND", "field": "customerId", "message": "customer not found"}],
    }
    seen_by_b = await api(NODE, {"id": foreign}, token=world.token("owner", world.b))
    assert seen_by_b["data"]["node"]["name"] == "Bravo Customer 1"


async def test_create_customer_cannot_target_another_reseller(api, world: World):
    body = await api(
        """mutation($input: CreateCustomerInput!) {
             createCustomer(input: $input) { customer { id } errors { code field } } }""",
        {
            "input": {
                "resellerId": gid("Reseller", world.b.id),
                "name": "X",
                "email": "x@x.example",
                "currency": "EUR",
            }
        },
        token=world.token("owner", world.a),
    )
    assert body["data"]["createCustomer"] == {
        "customer": None,
        "errors": [{"code": "NOT_FOUND", "field": "resellerId"}],
    }
    count = await api(CUSTOMERS, token=world.token("owner", world.b))
    assert count["data"]["customers"]["totalCount"] == 3


async def test_search_and_status_filters_stay_inside_the_tenant(api, world: World):
    body = await api(
        '{ customers(search: "customer", status: ACTIVE) { totalCount } }',
        token=world.token("owner", world.a),
    )
    assert body["data"]["customers"]["totalCount"] == 3
