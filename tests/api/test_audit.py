"""auditEvents: every change to access or accounts, with who, what, when and on what."""

from schema.relay import to_global_id
from tests.conftest import error_codes
from tests.factories import World

EVENTS = """query($action: String, $objectId: ID) {
  auditEvents(first: 50, action: $action, objectId: $objectId) {
    totalCount
    edges { node { action objectType objectId details actor { kind actorId name } createdAt } }
  }
}"""
SET = """mutation($id: ID!, $enabled: Boolean!) {
  setBillingAccess(input: {userId: $id, enabled: $enabled}) { errors { code } }
}"""
CLIENT = """mutation { createApiClient(input: {name: "ERP", scopes: ["customers:read"]}) {
  apiClient { id } errors { code } } }"""


async def events(api, token, **variables):
    body = await api(EVENTS, variables, token=token)
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"]["auditEvents"]["edges"]]


async def test_changes_are_logged_with_actor_and_object(api, world: World):
    owner = world.token("owner", world.a)
    member = to_global_id("User", world.a.users["member"])
    await api(SET, {"id": member, "enabled": True}, token=owner)
    await api(SET, {"id": member, "enabled": False}, token=world.token("billing_manager", world.a))
    made = await api(CLIENT, token=owner)
    client_id = made["data"]["createApiClient"]["apiClient"]["id"]

    logged = await events(api, world.token("manager", world.a))
    assert [(e["action"], e["objectId"], e["actor"]["name"]) for e in logged] == [
        ("user.billing_access_granted", member, "owner@alpha.example"),
        ("user.billing_access_revoked", member, "billing-manager@alpha.example"),
        ("api_client.created", client_id, "owner@alpha.example"),
    ]
    first = logged[0]
    assert first["actor"] == {
        "kind": "USER",
        "actorId": to_global_id("User", world.a.users["owner"]),
        "name": "owner@alpha.example",
    }
    assert logged[2]["details"] == {"scopes": ["customers:read"]}
    # filters
    by_object = await events(api, owner, objectId=member)
    assert len(by_object) == 2
    assert len(await events(api, owner, action="api_client.created")) == 1


async def test_tenants_see_their_own_log_and_platform_admins_see_all(api, world: World):
    await api(
        SET,
        {"id": to_global_id("User", world.a.users["member"]), "enabled": True},
        token=world.token("owner", world.a),
    )
    await api(
        SET,
        {"id": to_global_id("User", world.b.users["member"]), "enabled": True},
        token=world.token("owner", world.b),
    )
    assert len(await events(api, world.token("owner", world.a))) == 1
    assert len(await events(api, world.token("owner", world.b))) == 1
    assert len(await events(api, world.token("platform"))) == 2


async def test_refused_changes_leave_no_trace(api, world: World):
    owner = world.token("owner", world.a)
    body = await api(
        SET, {"id": to_global_id("User", world.a.users["owner"]), "enabled": False}, token=owner
    )
    assert body["data"]["setBillingAccess"]["errors"][0]["code"] == "OWNER_KEEPS_BILLING_ACCESS"
    assert await events(api, owner) == []


async def test_members_and_clients_cannot_read_the_log(api, world: World):
    for who in ("member", "billing_member", "client_all", "portal"):
        body = await api(EVENTS, {}, token=world.token(who, world.a))
        assert error_codes(body) == ["FORBIDDEN"], who
