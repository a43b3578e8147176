"""Customer portal tokens: one customer, their own audience, expiring and revocable."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from auth.models import PortalToken
from auth.tokens import PORTAL_AUDIENCE, USER_AUDIENCE
from core.clock import utcnow
from db.scope import TenantScope
from notifications.settings import SettingsChange, update_settings
from schema.relay import to_global_id
from server.demo import logo_png
from tests.conftest import error_codes
from tests.factories import World

CREATE = """mutation($id: ID!, $ttl: Int) {
  createCustomerPortalToken(input: {customerId: $id, ttlMinutes: $ttl}) {
    token url expiresAt portalToken { id customer { name } } errors { code field }
  }
}"""
REVOKE = """mutation($id: ID!) {
  revokeCustomerPortalToken(input: {portalTokenId: $id}) {
    portalToken { revokedAt } errors { code }
  }
}"""
VIEWER = """{ viewer { kind user { email } reseller { name } customer { name balance { amount } }
  permissions } }"""


async def make(api, world: World, customer_index=1, who="billing_member", ttl=None):
    body = await api(
        CREATE,
        {"id": to_global_id("Customer", world.a.customers[customer_index]), "ttl": ttl},
        token=world.token(who, world.a),
    )
    return body["data"]["createCustomerPortalToken"]


async def test_a_portal_sees_its_own_customer_and_nothing_else(api, world: World):
    made = await make(api, world)
    assert made["errors"] == []
    assert made["portalToken"]["customer"] == {"name": "Alpha Customer 2"}
    token = made["token"]

    viewer = await api(VIEWER, token=token)
    assert viewer["data"]["viewer"]["kind"] == "PORTAL"
    assert viewer["data"]["viewer"]["user"] is None
    # the reseller's profile is tenant data, not the customer's
    assert viewer["data"]["viewer"]["reseller"] is None
    assert [(e["path"], e["extensions"]["code"]) for e in viewer["errors"]] == [
        (["viewer", "reseller"], "FORBIDDEN")
    ]
    assert viewer["data"]["viewer"]["customer"] == {
        "name": "Alpha Customer 2",
        "balance": {"amount": "0.00"},
    }
    assert set(viewer["data"]["viewer"]["permissions"]) == {"READ_CUSTOMERS", "BILLING"}

    listed = await api("{ customers { totalCount edges { node { name } } } }", token=token)
    assert listed["data"]["customers"] == {
        "totalCount": 1,
        "edges": [{"node": {"name": "Alpha Customer 2"}}],
    }
    sibling = to_global_id("Customer", world.a.customers[0])
    other = await api("query($id: ID!) { node(id: $id) { id } }", {"id": sibling}, token=token)
    assert other["data"]["node"] is None
    assert error_codes(other) == ["NOT_FOUND"]
    assert error_codes(await api("{ users { totalCount } }", token=token)) == ["FORBIDDEN"]


async def test_the_token_comes_with_a_link_to_the_portal_page(api, settings, world: World):
    made = await make(api, world)
    # the token rides in the fragment: a browser sends neither it nor a Referer with it
    assert made["url"] == f"{settings.base_url}/portal#token={made['token']}"
    failed = await make(api, world, ttl=0)
    assert failed["url"] is None and failed["token"] is None


SELLER = """{ viewer { seller { name senderName logoDataUri websiteUrl replyTo addressLines } } }"""


async def test_a_portal_sees_who_bills_it_as_its_emails_do(api, db, world: World):
    token = (await make(api, world))["token"]
    plain = await api(SELLER, token=token)
    assert plain["data"]["viewer"]["seller"] == {
        "name": "Alpha Reseller",
        "senderName": None,
        "logoDataUri": None,
        "websiteUrl": None,
        "replyTo": None,
        "addressLines": [],
    }
    async with db.write(TenantScope.system()) as session:
        await update_settings(
            session,
            world.a.id,
            SettingsChange(
                logo=logo_png("Alpha", (37, 99, 235)),
                sender_name="Alpha Billing",
                website_url="https://alpha.example",
                reply_to="billing@alpha.example",
                address="Alpha Ltd\n1 Main Street",
            ),
        )
    seller = (await api(SELLER, token=token))["data"]["viewer"]["seller"]
    assert seller["senderName"] == "Alpha Billing"
    assert seller["logoDataUri"].startswith("data:image/png;base64,")
    assert seller["addressLines"] == ["Alpha Ltd", "1 Main Street"]
    # anyone else is told nothing: the reseller's own users read their settings elsewhere
    owner = await api(SELLER, token=world.token("owner", world.a))
    assert owner["data"]["viewer"]["seller"] is None


async def test_portal_tokens_expire_and_can_be_revoked(api, db, world: World):
    made = await make(api, world)
    token = made["token"]
    assert (await api.raw("{ viewer { kind } }", token=token)).status_code == 200
    body = await api(REVOKE, {"id": made["portalToken"]["id"]}, token=world.token("owner", world.a))
    assert body["data"]["revokeCustomerPortalToken"]["portalToken"]["revokedAt"]
    assert (await api.raw("{ viewer { kind } }", token=token)).status_code == 401

    # expiry is checked against the stored row too, not only the JWT's exp
    fresh = (await make(api, world))["token"]
    async with db.write(TenantScope.tenant(world.a.id)) as session:
        await session.execute(
            update(PortalToken).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await api.raw("{ viewer { kind } }", token=fresh)).status_code == 401


async def test_creation_rules(api, world: World):
    assert (await make(api, world, ttl=0))["errors"][0] == {
        "code": "BAD_USER_INPUT",
        "field": "ttlMinutes",
    }
    assert (await make(api, world, ttl=1441))["errors"][0]["field"] == "ttlMinutes"
    assert (await make(api, world, ttl=1440))["errors"] == []
    other = await api(
        CREATE,
        {"id": to_global_id("Customer", world.b.customers[0]), "ttl": None},
        token=world.token("owner", world.a),
    )
    assert other["data"]["createCustomerPortalToken"]["errors"][0]["code"] == "NOT_FOUND"
    # a portal cannot mint portal tokens, even for its own customer
    portal = await api(
        CREATE,
        {"id": to_global_id("Customer", world.a.customers[0]), "ttl": None},
        token=world.token("portal", world.a),
    )
    assert error_codes(portal) == ["BILLING_ACCESS_REQUIRED"]


@pytest.mark.parametrize(
    "claims",
    [
        # a user's subject under the portal audience
        lambda w: ("user:" + str(w.a.users["owner"]), PORTAL_AUDIENCE, {"rid": str(w.a.id)}),
        # a portal's subject under the user audience
        lambda w: ("portal:" + str(w.a.portal_token_id), USER_AUDIENCE, {"rid": str(w.a.id)}),
        # the right portal token id, claimed for another reseller
        lambda w: ("portal:" + str(w.a.portal_token_id), PORTAL_AUDIENCE, {"rid": str(w.b.id)}),
        # no reseller at all
        lambda w: ("portal:" + str(w.a.portal_token_id), PORTAL_AUDIENCE, {}),
    ],
)
async def test_confused_portal_tokens_are_refused(api, world: World, claims):
    subject, audience, extra = claims(world)
    token = world.signer.issue(subject, audience, 600, **extra).token
    response = await api.raw("{ viewer { kind } }", token=token)
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
