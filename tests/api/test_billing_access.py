"""Billing access: the guard on every billing field, by every path, and setBillingAccess."""

import pytest
from graphql import parse
from graphql.language import FieldDefinitionNode, ObjectTypeDefinitionNode
from sqlalchemy import update

from db.scope import TenantScope
from schema import build_schema
from schema.relay import to_global_id
from tenants.models import User, UserStatus
from tests.factories import World

# Types whose every field is billing data: they are reached only through a field that carries the
# directive (and its guard); their own fields need not repeat it.
BILLING_TYPES = {
    "Money",
    "PaymentMethod",
    "ConvertedMoney",
    "ProductPrice",
    "EffectivePrice",
    "PriceOverride",
    "SetPricePayload",
    "Invoice",
    "InvoiceLine",
    "InvoiceConnection",
    "InvoiceEdge",
    "Payment",
    "SkippedInvoice",
    "GenerateInvoicesPayload",
    "UpdateInvoiceStatusPayload",
    "SendInvoicePayload",
    "Notification",
    "SetInvoiceCustomFieldsPayload",
    "Statement",
    "StatementEntry",
    "StatementAging",
    "Dunning",
    "PayInvoicePayload",
    "RecordPaymentPayload",
    "UpdatePaymentMethodPayload",
    "ReactivateAccountPayload",
    "SetAutopayPayload",
}
SET = """mutation($id: ID!, $enabled: Boolean!) {
  setBillingAccess(input: {userId: $id, enabled: $enabled}) {
    user { email billingAccess } errors { code field }
  }
}"""
BY_EVERY_PATH = """query($customer: ID!) {
  customers(first: 1) { edges { node { name balance { amount currency } } } }
  node(id: $customer) { ... on Customer { name balance { amount } paymentMethod { last4 } } }
  viewer { reseller { name balance { amount } customers(first: 1) { edges { node {
    name balance { amount } } } } } }
}"""


def _named_type(node) -> str:
    while hasattr(node, "type"):
        node = node.type
    return node.name.value


def test_every_field_reaching_billing_data_carries_the_directive():
    document = parse(build_schema().as_str())
    unguarded = []
    for definition in document.definitions:
        if not isinstance(definition, ObjectTypeDefinitionNode):
            continue
        for field in definition.fields or []:
            assert isinstance(field, FieldDefinitionNode)
            if (
                _named_type(field.type) not in BILLING_TYPES
                or definition.name.value in BILLING_TYPES
            ):
                continue
            directives = {d.name.value for d in field.directives or []}
            if "billingAccess" not in directives:
                unguarded.append(f"{definition.name.value}.{field.name.value}")
            # a refusal must null the field alone, never its parent (a mutation has none)
            if definition.name.value != "Mutation":
                assert field.type.kind != "non_null_type", field.name.value
    assert unguarded == []


def billing_paths(body) -> list[str]:
    return sorted(
        ".".join(str(p) for p in e["path"])
        for e in body.get("errors") or []
        if e["extensions"]["code"] == "BILLING_ACCESS_REQUIRED"
    )


async def test_without_billing_access_every_path_is_null_and_the_rest_resolves(api, world: World):
    customer = to_global_id("Customer", world.a.customers[0])
    body = await api(BY_EVERY_PATH, {"customer": customer}, token=world.token("member", world.a))
    data = body["data"]
    assert data["customers"]["edges"][0]["node"] == {"name": "Alpha Customer 1", "balance": None}
    assert data["node"] == {"name": "Alpha Customer 1", "balance": None, "paymentMethod": None}
    reseller = data["viewer"]["reseller"]
    assert reseller["name"] == "Alpha Reseller"
    assert reseller["balance"] is None
    assert reseller["customers"]["edges"][0]["node"]["balance"] is None
    assert billing_paths(body) == [
        "customers.edges.0.node.balance",
        "node.balance",
        "node.paymentMethod",
        "viewer.reseller.balance",
        "viewer.reseller.customers.edges.0.node.balance",
    ]
    assert all(e["extensions"]["code"] == "BILLING_ACCESS_REQUIRED" for e in body["errors"])


@pytest.mark.parametrize("who", ["owner", "billing_member", "billing_manager"])
async def test_with_billing_access_every_path_resolves(api, world: World, who):
    customer = to_global_id("Customer", world.a.customers[0])
    body = await api(BY_EVERY_PATH, {"customer": customer}, token=world.token(who, world.a))
    assert "errors" not in body
    assert body["data"]["node"]["balance"] == {"amount": "0.00"}
    assert body["data"]["customers"]["edges"][0]["node"]["balance"] == {
        "amount": "0.00",
        "currency": "EUR",
    }


async def test_a_grant_takes_effect_on_the_very_next_request(api, world: World):
    member = to_global_id("User", world.a.users["member"])
    member_token = world.token("member", world.a)
    query = "{ viewer { reseller { balance { amount } } } }"
    assert billing_paths(await api(query, token=member_token)) == ["viewer.reseller.balance"]

    # when a MEMBER with billing access grants it
    body = await api(
        SET, {"id": member, "enabled": True}, token=world.token("billing_member", world.a)
    )
    assert body["data"]["setBillingAccess"] == {
        "user": {"email": "member@alpha.example", "billingAccess": True},
        "errors": [],
    }
    # then the same token sees billing at once
    granted = await api(query, token=member_token)
    assert "errors" not in granted
    assert granted["data"]["viewer"]["reseller"]["balance"] == {"amount": "0.00"}

    # and a revocation is just as immediate
    await api(SET, {"id": member, "enabled": False}, token=world.token("owner", world.a))
    assert billing_paths(await api(query, token=member_token)) == ["viewer.reseller.balance"]


async def test_grant_rules(api, world: World):
    owner_token = world.token("owner", world.a)
    cases = [
        # (caller, target, enabled, expected code)
        ("member", "manager", True, "BILLING_ACCESS_REQUIRED"),  # has none to give
        ("manager", "member", True, "BILLING_ACCESS_REQUIRED"),  # ADMIN without it
        ("billing_manager", "owner", False, "OWNER_KEEPS_BILLING_ACCESS"),
        ("owner", "invited", True, "USER_NOT_ACTIVE"),
    ]
    for caller, target, enabled, code in cases:
        body = await api(
            SET,
            {"id": to_global_id("User", world.a.users[target]), "enabled": enabled},
            token=world.token(caller, world.a),
        )
        codes = [e["extensions"]["code"] for e in body.get("errors") or []]
        payload = (body.get("data") or {}).get("setBillingAccess") or {}
        codes += [e["code"] for e in payload.get("errors") or []]
        assert codes == [code], (caller, target, body)
    # another reseller's user is not found
    body = await api(
        SET,
        {"id": to_global_id("User", world.b.users["member"]), "enabled": True},
        token=owner_token,
    )
    assert body["data"]["setBillingAccess"]["errors"][0]["code"] == "NOT_FOUND"
    # nothing changed for anyone
    users = await api(
        "{ users(first: 20) { edges { node { email billingAccess } } } }", token=owner_token
    )
    access = {
        e["node"]["email"]: e["node"]["billingAccess"] for e in users["data"]["users"]["edges"]
    }
    assert access == {
        "owner@alpha.example": True,
        "manager@alpha.example": False,
        "billing-manager@alpha.example": True,
        "member@alpha.example": False,
        "billing-member@alpha.example": True,
        "invited@alpha.example": False,
    }


async def test_disabling_a_user_takes_their_billing_access_for_good(api, world: World):
    billing_member = to_global_id("User", world.a.users["billing_member"])
    owner = world.token("owner", world.a)
    disable = "mutation($id: ID!) { disableUser(input: {userId: $id}) { errors { code } } }"
    enable = """mutation($id: ID!) { enableUser(input: {userId: $id}) {
      user { status billingAccess } errors { code } } }"""
    await api(disable, {"id": billing_member}, token=owner)
    # an ADMIN without billing access lets them back in: billing access does not come back
    body = await api(enable, {"id": billing_member}, token=world.token("manager", world.a))
    assert body["data"]["enableUser"]["user"] == {"status": "ACTIVE", "billingAccess": False}


async def test_billing_access_can_be_revoked_from_a_user_who_is_not_active(api, db, world: World):
    async with db.write(TenantScope.tenant(world.a.id)) as session:
        await session.execute(
            update(User)
            .where(User.id == world.a.users["billing_member"])
            .values(status=UserStatus.DISABLED)
        )
    target = to_global_id("User", world.a.users["billing_member"])
    body = await api(SET, {"id": target, "enabled": False}, token=world.token("owner", world.a))
    assert body["data"]["setBillingAccess"]["errors"] == []
    assert body["data"]["setBillingAccess"]["user"]["billingAccess"] is False
