"""Every webhook operation as every kind of caller (see test_access_matrix for the callers), and
an ADMIN without billing access: the OWNER, an ADMIN with billing access and API clients with
settings:write manage endpoints; another tenant's endpoint and delivery are NOT_FOUND. A refused
operation changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select, update
from starlette.applications import Starlette

from auth.models import ApiClient
from auth.repositories import digest
from auth.tokens import USER_AUDIENCE
from core.ids import new_id
from db.database import Database
from db.scope import TenantScope
from events import log as events
from events.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from tenants import services
from tenants.audit import Actor
from tests.api.test_access_matrix import CALLERS, UNAUTH, gid, outcome, token
from tests.factories import World


@dataclass
class Hooks:
    endpoint_id: str
    delivery_id: str


@pytest.fixture
async def hooks(app: Starlette, db: Database, world: World) -> Hooks:
    scope = TenantScope.tenant(world.a.id)
    async with db.write(scope) as session:
        endpoint, _ = await app.state.services.webhooks.create(
            session, scope, Actor.system(), "https://8.8.8.8/hooks", ["customer.created"]
        )
        await services.create_customer(
            session,
            scope,
            services.NewCustomer(name="Hooked", email="h@hooked.example", currency="EUR"),
        )
    async with db.write(TenantScope.system()) as session:
        await session.execute(update(WebhookDelivery).values(status=WebhookDeliveryStatus.FAILED))
        delivery = await session.scalar(select(WebhookDelivery))
    assert delivery is not None
    return Hooks(gid("WebhookEndpoint", endpoint.id), gid("WebhookDelivery", delivery.id))


MANAGERS = {
    **UNAUTH,
    "member": "FORBIDDEN",
    "manager": "FORBIDDEN",  # an ADMIN without billing access
    "client_read": "FORBIDDEN",
    "client_billing": "FORBIDDEN",
    "portal": "FORBIDDEN",
    "platform": "FORBIDDEN",  # endpoints are a reseller's own
    "*": "ok",
}
ON_AN_ENDPOINT = {**MANAGERS, "other_tenant": "NOT_FOUND"}
ENDPOINT_INPUT = "($id: ID!) { %s(input: { endpointId: $id }) { errors { code } } }"

OPERATIONS = {
    "webhookEndpoints": ("{ webhookEndpoints { totalCount } }", lambda h: {}, MANAGERS),
    "webhookEndpoint": (
        "query($id: ID!) { webhookEndpoint(id: $id) { url deliveries { totalCount } } }",
        lambda h: {"id": h.endpoint_id},
        ON_AN_ENDPOINT,
    ),
    "node(webhookEndpoint)": (
        "query($id: ID!) { node(id: $id) { ... on WebhookEndpoint { url status } } }",
        lambda h: {"id": h.endpoint_id},
        ON_AN_ENDPOINT,
    ),
    "createWebhookEndpoint": (
        'mutation { createWebhookEndpoint(input: { url: "https://8.8.4.4/in",'
        ' events: ["invoice.paid"] }) { secret errors { code } } }',
        lambda h: {},
        MANAGERS,
    ),
    "updateWebhookEndpoint": (
        "mutation($id: ID!) { updateWebhookEndpoint(input: { endpointId: $id, events:"
        ' ["invoice.paid"] }) { errors { code } } }',
        lambda h: {"id": h.endpoint_id},
        ON_AN_ENDPOINT,
    ),
    **{
        name: ("mutation" + ENDPOINT_INPUT % name, lambda h: {"id": h.endpoint_id}, ON_AN_ENDPOINT)
        for name in (
            "disableWebhookEndpoint",
            "enableWebhookEndpoint",
            "rotateWebhookEndpointSecret",
            "deleteWebhookEndpoint",
        )
    },
    "redeliverWebhook": (
        "mutation($id: ID!) { redeliverWebhook(input: { deliveryId: $id }) { errors { code } } }",
        lambda h: {"id": h.delivery_id},
        ON_AN_ENDPOINT,
    ),
}


async def _state(db: Database) -> list[tuple]:  # type: ignore[type-arg]
    async with db.read(TenantScope.system()) as session:
        endpoints = await session.execute(
            select(
                WebhookEndpoint.id,
                WebhookEndpoint.url,
                WebhookEndpoint.event_types,
                WebhookEndpoint.status,
                WebhookEndpoint.secret,
            ).order_by(WebhookEndpoint.id)
        )
        deliveries = await session.execute(
            select(WebhookDelivery.id, WebhookDelivery.status).order_by(WebhookDelivery.id)
        )
        return [tuple(r) for r in endpoints] + [tuple(r) for r in deliveries]


@pytest.mark.parametrize("caller", [*CALLERS, "manager"])
@pytest.mark.parametrize("operation", OPERATIONS)
async def test_access(api, db: Database, world: World, hooks: Hooks, operation, caller):  # type: ignore[no-untyped-def]
    document, variables, expected = OPERATIONS[operation]
    who = world.token("manager", world.a) if caller == "manager" else token(world, caller)
    before = await _state(db)
    body = await api(document, variables(hooks), token=who)
    result = outcome(body)
    assert result == expected.get(caller, expected["*"]), body
    if result != "ok":
        assert await _state(db) == before


async def test_a_settings_client_without_billing_access_has_no_billing_events_sent_or_shown(
    api, app: Starlette, db: Database, world: World, hooks: Hooks
):  # type: ignore[no-untyped-def]
    # given an API client of A with settings:write and no billing scope
    async with db.write(TenantScope.tenant(world.a.id)) as session:
        client = ApiClient(
            reseller_id=world.a.id,
            id=new_id(),
            name="settings only",
            client_id="cb_alpha_settings",
            secret_hash=digest("s3cret-settings-only-0123456789"),
            scopes="settings:write",
        )
        session.add(client)
    who = world.signer.issue(
        f"client:{client.id}", USER_AUDIENCE, 900, rid=str(world.a.id), scope=client.scopes
    ).token
    create = """mutation($events: [String!]!) { createWebhookEndpoint(input: {
        url: "https://8.8.4.4/in", events: $events }) { secret errors { code field } } }"""
    # then it may have customer events sent, not invoice events
    body = await api(create, {"events": ["customer.created"]}, who)
    assert body["data"]["createWebhookEndpoint"]["errors"] == []
    body = await api(create, {"events": ["customer.created", "invoice.paid"]}, who)
    made = body["data"]["createWebhookEndpoint"]
    assert made["errors"] == [{"code": "BILLING_ACCESS_REQUIRED", "field": "events"}]
    assert made["secret"] is None
    # and an endpoint's deliveries show it no billing event's payload
    scope = TenantScope.tenant(world.a.id)
    async with db.write(scope) as session:
        endpoint, _ = await app.state.services.webhooks.create(
            session, scope, Actor.system(), "https://8.8.8.8/billing", ["invoice.created"]
        )
        await record_invoice_event_for(session, world)
    query = """query($id: ID!) { webhookEndpoint(id: $id) {
        deliveries { edges { node { status event { type payload } } } } } }"""
    variables = {"id": gid("WebhookEndpoint", endpoint.id)}
    shown = await api(query, variables, who)
    [edge] = shown["data"]["webhookEndpoint"]["deliveries"]["edges"]
    assert edge["node"]["event"] is None
    owner = await api(query, variables, world.token("owner", world.a))
    [edge] = owner["data"]["webhookEndpoint"]["deliveries"]["edges"]
    assert edge["node"]["event"]["type"] == "invoice.created"


async def record_invoice_event_for(session, world: World) -> None:  # type: ignore[no-untyped-def]
    await events.record(
        session,
        "invoice.created",
        reseller_id=world.a.id,
        object_type="Invoice",
        object_id=new_id(),
        payload={"status": "DRAFT"},
    )
