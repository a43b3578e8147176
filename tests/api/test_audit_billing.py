"""The audit log and billing access: events about billing (billing runs, invoices posted, paid or
discarded, with their numbers and totals, the reseller's own bills included) are billing data. An
ADMIN without billing access reads the rest of the log, with a totalCount and pages that agree,
and node(id:) on a billing event answers BILLING_ACCESS_REQUIRED; every caller, as access.md says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import select

from billing.subscriptions import NewSubscription, create_subscription
from db.database import Database
from db.scope import TenantScope
from schema.relay import to_global_id
from tenants.audit import AuditEvent
from tests.api.test_access_matrix import outcome, token
from tests.catalog import make_catalog
from tests.conftest import Api, error_codes
from tests.factories import World

EVENTS = """query($first: Int, $after: String, $action: String, $objectId: ID) {
  auditEvents(first: $first, after: $after, action: $action, objectId: $objectId) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id action objectType objectId details } }
  }
}"""
NODE = "query($id: ID!) { node(id: $id) { ... on AuditEvent { action details } } }"
GENERATE = """mutation($input: GenerateInvoicesInput!) {
  generateInvoices(input: $input) { invoices { id } errors { code } } }"""
STATUS = """mutation($id: ID!, $status: InvoiceStatus!) {
  updateInvoiceStatus(input: {invoiceId: $id, status: $status, notifyCustomer: false}) {
    errors { code } } }"""
DISCARD = "mutation($id: ID!) { discardInvoice(input: {invoiceId: $id}) { errors { code } } }"
SET = """mutation($id: ID!) {
  setBillingAccess(input: {userId: $id, enabled: true}) { errors { code } } }"""
CLIENT = """mutation { createApiClient(input: {name: "ERP", scopes: ["customers:read"]}) {
  errors { code } } }"""
NOVEMBER = {"periodStart": "2026-11-01", "periodEnd": "2026-11-30"}

BILLING_ACTIONS = [
    "invoices.generated",  # retail run
    "invoice.posted",
    "invoice.closed",
    "invoice.discarded",
    "invoices.generated",  # the platform's run: A's own bill
]
OTHER_ACTIONS = ["user.billing_access_granted", "api_client.created"]


@dataclass
class Log:
    world: World
    billing_event: str  # global id of invoice.discarded (with the draft's total)
    other_event: str  # global id of user.billing_access_granted
    invoice: str  # global id of the posted and paid invoice


async def _ok(api: Api, document: str, variables: dict, token: str) -> dict:
    body = await api(document, variables, token=token)
    assert "errors" not in body, body
    (payload,) = body["data"].values()
    assert payload["errors"] == [], body
    return payload


@pytest.fixture
async def log(api: Api, db: Database, world: World) -> Log:
    """A's log: a user change, a retail run, a draft posted then paid, one discarded, an API
    client made, and the platform's wholesale run (A's own bill); B's log: one user change."""
    shop = await make_catalog(db)
    scope = TenantScope.tenant(world.a.id)
    async with db.write(scope) as session:
        for customer in world.a.customers[:2]:
            await create_subscription(
                session,
                scope,
                NewSubscription(customer, shop.products["m365"], 1, date(2026, 1, 1)),  # type: ignore[arg-type]
            )
    owner = world.token("owner", world.a)
    await _ok(api, SET, {"id": to_global_id("User", world.a.users["member"])}, owner)
    made = await _ok(api, GENERATE, {"input": NOVEMBER}, owner)
    kept, dropped = (i["id"] for i in made["invoices"])
    await _ok(api, STATUS, {"id": kept, "status": "OPEN"}, owner)
    await _ok(api, STATUS, {"id": kept, "status": "CLOSED"}, owner)
    await _ok(api, DISCARD, {"id": dropped}, owner)
    await _ok(api, CLIENT, {}, owner)
    await _ok(api, GENERATE, {"input": {**NOVEMBER, "billTo": "RESELLER"}}, world.token("platform"))
    await _ok(
        api,
        SET,
        {"id": to_global_id("User", world.b.users["member"])},
        world.token("owner", world.b),
    )
    async with db.read(TenantScope.system()) as session:
        ids = {
            row.action: row.id
            for row in await session.scalars(
                select(AuditEvent).where(AuditEvent.reseller_id == world.a.id)
            )
        }
    return Log(
        world,
        to_global_id("AuditEvent", ids["invoice.discarded"]),
        to_global_id("AuditEvent", ids["user.billing_access_granted"]),
        kept,
    )


async def actions(api: Api, who: str, world: World, **variables: object) -> tuple[list, int]:
    body = await api(EVENTS, {"first": 50, **variables}, token=token(world, who))
    assert "errors" not in body, body
    connection = body["data"]["auditEvents"]
    return [e["node"]["action"] for e in connection["edges"]], connection["totalCount"]


@pytest.mark.parametrize("who", ["owner", "billing_manager"])
async def test_with_billing_access_the_whole_log_is_read(api: Api, log: Log, who: str):
    # when
    seen, total = await actions(api, who, log.world)
    # then
    assert sorted(seen) == sorted(BILLING_ACTIONS + OTHER_ACTIONS)
    assert total == len(seen) == 7


async def test_an_admin_without_billing_access_reads_no_billing_event_by_any_path(
    api: Api, log: Log
):
    # given an ADMIN without billing access
    world = log.world
    # when / then: the list leaves them out, and totalCount agrees
    assert await actions(api, "manager", world) == (OTHER_ACTIONS, 2)
    # filters find nothing of them
    assert await actions(api, "manager", world, action="invoice.discarded") == ([], 0)
    assert await actions(api, "manager", world, action="invoices.generated") == ([], 0)
    assert await actions(api, "manager", world, objectId=log.invoice) == ([], 0)
    # pages of one walk the same two events, and no more
    walked, after = [], None
    while True:
        body = await api(EVENTS, {"first": 1, "after": after}, token=token(world, "manager"))
        connection = body["data"]["auditEvents"]
        assert connection["totalCount"] == 2
        walked += [e["node"]["action"] for e in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert walked == OTHER_ACTIONS
    # node(id:) and nodes(ids:) of a billing event are refused, of another event answered
    body = await api(NODE, {"id": log.billing_event}, token=token(world, "manager"))
    assert body["data"]["node"] is None
    assert error_codes(body) == ["BILLING_ACCESS_REQUIRED"]
    many = await api(
        "query($ids: [ID!]!) { nodes(ids: $ids) { ... on AuditEvent { action } } }",
        {"ids": [log.billing_event, log.other_event]},
        token=token(world, "manager"),
    )
    assert many["data"]["nodes"] == [None, {"action": "user.billing_access_granted"}]
    assert error_codes(many) == ["BILLING_ACCESS_REQUIRED"]


async def test_billing_access_granted_shows_the_billing_events_on_the_next_request(
    api: Api, log: Log
):
    # given the ADMIN without billing access is granted it
    world = log.world
    manager = to_global_id("User", world.a.users["manager"])
    await _ok(api, SET, {"id": manager}, world.token("owner", world.a))
    # when
    seen, total = await actions(api, "manager", world)
    # then
    assert total == 8 and seen.count("invoices.generated") == 2


async def test_the_platform_reads_every_log_and_another_tenant_none_of_it(api: Api, log: Log):
    world = log.world
    seen, total = await actions(api, "platform", world)
    assert total == 8 and sorted(seen) == sorted(
        BILLING_ACTIONS + OTHER_ACTIONS + OTHER_ACTIONS[:1]
    )
    assert await actions(api, "other_tenant", world) == (["user.billing_access_granted"], 1)


# Every caller: the list, a billing event and another event by id ----------------------------------

CALLERS = [
    "anonymous",
    "member",
    "billing_member",
    "manager",
    "billing_manager",
    "owner",
    "client_all",
    "client_read",
    "client_billing",
    "portal",
    "other_tenant",
    "platform",
]
NOT_MANAGERS = {
    "anonymous": "UNAUTHENTICATED",
    "member": "FORBIDDEN",
    "billing_member": "FORBIDDEN",
    "client_all": "FORBIDDEN",
    "client_read": "FORBIDDEN",
    "client_billing": "FORBIDDEN",
    "portal": "FORBIDDEN",
}
OPERATIONS: dict[str, tuple[str, object, dict[str, str]]] = {
    "auditEvents": (
        "{ auditEvents { totalCount edges { node { action details } } } }",
        lambda log: {},
        {**NOT_MANAGERS, "*": "ok"},
    ),
    "node(billing event)": (
        NODE,
        lambda log: {"id": log.billing_event},
        {
            **NOT_MANAGERS,
            "manager": "BILLING_ACCESS_REQUIRED",
            "other_tenant": "NOT_FOUND",
            "*": "ok",
        },
    ),
    "nodes(billing event)": (
        "query($ids: [ID!]!) { nodes(ids: $ids) { ... on AuditEvent { action } } }",
        lambda log: {"ids": [log.billing_event]},
        {
            **NOT_MANAGERS,
            "manager": "BILLING_ACCESS_REQUIRED",
            "other_tenant": "NOT_FOUND",
            "*": "ok",
        },
    ),
    "node(other event)": (
        NODE,
        lambda log: {"id": log.other_event},
        {**NOT_MANAGERS, "other_tenant": "NOT_FOUND", "*": "ok"},
    ),
}
# How many events the list holds for those who may read it: A's seven, or the two of them not
# about billing; B's one; the platform all eight.
LISTED = {"manager": 2, "other_tenant": 1, "platform": 8, "*": 7}


@pytest.mark.parametrize("caller", CALLERS)
async def test_audit_access(api: Api, log: Log, caller: str):
    # given the log (made once per caller: it takes a dozen requests)
    for operation, (document, variables, expected) in OPERATIONS.items():
        # when
        body = await api(document, variables(log), token=token(log.world, caller))  # type: ignore[operator]
        # then
        assert outcome(body) == expected.get(caller, expected["*"]), (operation, body)
        if operation == "auditEvents" and outcome(body) == "ok":
            listed = body["data"]["auditEvents"]
            count = LISTED.get(caller, LISTED["*"])
            assert listed["totalCount"] == len(listed["edges"]) == count, body
