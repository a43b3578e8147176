"""API clients: createApiClient, POST /oauth/token (client credentials), scopes, revocation."""

import base64

from sqlalchemy import select

from auth.models import ApiClient
from db.scope import TenantScope
from schema.relay import to_global_id
from tests.conftest import error_codes
from tests.factories import CLIENT_SECRET, World

CREATE = """mutation($input: CreateApiClientInput!) {
  createApiClient(input: $input) {
    apiClient { id name scopes } clientId clientSecret errors { code field }
  }
}"""
REVOKE = """mutation($id: ID!) {
  revokeApiClient(input: {apiClientId: $id}) { apiClient { revokedAt } errors { code } }
}"""
CUSTOMERS = "{ customers { totalCount } viewer { kind scopes reseller { slug } } }"
UPDATE = """mutation($id: ID!) {
  updateCustomer(input: {customerId: $id, name: "Renamed"}) { customer { name } errors { code } }
}"""


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


async def token_request(client, data, headers=None):
    return await client.post("/oauth/token", data=data, headers=headers or {})


async def create(api, world: World, scopes, who="owner"):
    body = await api(
        CREATE, {"input": {"name": "ERP sync", "scopes": scopes}}, token=world.token(who, world.a)
    )
    return body["data"]["createApiClient"]


async def test_create_then_trade_credentials_for_a_token(api, client, db, world: World):
    # given
    made = await create(api, world, ["customers:write"])
    assert made["errors"] == []
    assert made["apiClient"]["scopes"] == ["customers:read", "customers:write"]
    secret = made["clientSecret"]
    assert made["clientId"].startswith("cb_") and len(secret) >= 40
    # the secret is stored only as a hash
    async with db.read(TenantScope.system()) as session:
        row = await session.scalar(select(ApiClient).where(ApiClient.client_id == made["clientId"]))
    assert secret not in (row.secret_hash, row.client_id, row.scopes)

    # when (HTTP Basic)
    response = await token_request(
        client, {"grant_type": "client_credentials"}, basic(made["clientId"], secret)
    )
    # then
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    issued = response.json()
    assert issued["token_type"] == "Bearer"
    assert issued["expires_in"] == 900
    assert issued["scope"] == "customers:read customers:write"
    assert "refresh_token" not in issued
    body = await api(CUSTOMERS, token=issued["access_token"])
    assert body["data"]["customers"]["totalCount"] == 3
    assert body["data"]["viewer"] == {
        "kind": "API_CLIENT",
        "scopes": ["customers:read", "customers:write"],
        "reseller": {"slug": "alpha"},
    }
    renamed = await api(
        UPDATE, {"id": to_global_id("Customer", world.a.customers[0])}, token=issued["access_token"]
    )
    assert renamed["data"]["updateCustomer"]["customer"] == {"name": "Renamed"}


async def test_form_credentials_and_a_narrower_scope(client, api, world: World):
    response = await token_request(
        client,
        {
            "grant_type": "client_credentials",
            "client_id": "cb_alpha_client_all",
            "client_secret": CLIENT_SECRET,
            "scope": "customers:read",
        },
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert response.json()["scope"] == "customers:read"
    # the token carries only what was asked for
    body = await api(UPDATE, {"id": to_global_id("Customer", world.a.customers[0])}, token=token)
    assert error_codes(body) == ["FORBIDDEN"]


async def test_bad_token_requests(client, world: World):
    good = basic("cb_alpha_client_read", CLIENT_SECRET)
    cases = [
        (
            {"grant_type": "client_credentials"},
            basic("cb_alpha_client_read", "wrong"),
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "client_credentials"},
            basic("cb_nobody", CLIENT_SECRET),
            401,
            "invalid_client",
        ),
        ({"grant_type": "client_credentials"}, {}, 401, "invalid_client"),
        ({"grant_type": "password"}, good, 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials", "scope": "billing:read"}, good, 400, "invalid_scope"),
        ({"grant_type": "client_credentials", "scope": "root"}, good, 400, "invalid_scope"),
    ]
    for data, headers, status, error in cases:
        response = await token_request(client, data, headers)
        assert (response.status_code, response.json()["error"]) == (status, error), data
        assert "access_token" not in response.json()
    as_json = await client.post(
        "/oauth/token", json={"grant_type": "client_credentials"}, headers=good
    )
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"


async def test_revoking_stops_the_secret_and_every_token_at_once(api, client, world: World):
    response = await token_request(
        client, {"grant_type": "client_credentials"}, basic("cb_alpha_client_read", CLIENT_SECRET)
    )
    token = response.json()["access_token"]
    assert (await api.raw(CUSTOMERS, token=token)).status_code == 200
    client_id = to_global_id("ApiClient", world.a.clients["client_read"].id)
    body = await api(REVOKE, {"id": client_id}, token=world.token("manager", world.a))
    assert body["data"]["revokeApiClient"]["apiClient"]["revokedAt"]
    assert (await api.raw(CUSTOMERS, token=token)).status_code == 401
    again = await token_request(
        client, {"grant_type": "client_credentials"}, basic("cb_alpha_client_read", CLIENT_SECRET)
    )
    assert again.status_code == 401


async def test_scope_rules_at_creation(api, world: World):
    # billing scopes only from someone with billing access
    refused = await create(api, world, ["billing:read"], who="manager")
    assert refused["errors"][0]["code"] == "BILLING_ACCESS_REQUIRED"
    granted = await create(api, world, ["billing:write"], who="billing_manager")
    assert granted["apiClient"]["scopes"] == ["billing:read", "billing:write"]
    unknown = await create(api, world, ["customers:read", "admin:all"])
    assert unknown["errors"][0] == {"code": "INVALID_SCOPE", "field": "scopes"}
    empty = await create(api, world, [])
    assert empty["errors"][0]["field"] == "scopes"


async def test_billing_fields_follow_the_billing_read_scope(api, world: World):
    query = "{ viewer { reseller { name balance { amount } } } }"
    with_scope = await api(query, token=world.token("client_all", world.a))
    assert with_scope["data"]["viewer"]["reseller"]["balance"] == {"amount": "0.00"}
    without = await api(query, token=world.token("client_read", world.a))
    assert without["data"]["viewer"]["reseller"] == {"name": "Alpha Reseller", "balance": None}
    assert error_codes(without) == ["BILLING_ACCESS_REQUIRED"]


async def test_a_scope_removed_from_the_client_leaves_its_tokens(api, db, world: World):
    token = world.token("client_all", world.a)
    async with db.write(TenantScope.tenant(world.a.id)) as session:
        row = await session.get(ApiClient, (world.a.id, world.a.clients["client_all"].id))
        row.scopes = "customers:read"
    body = await api(UPDATE, {"id": to_global_id("Customer", world.a.customers[0])}, token=token)
    assert error_codes(body) == ["FORBIDDEN"]
