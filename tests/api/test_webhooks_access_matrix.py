"""Every webhook operation as every kind of caller (see test_access_matrix for the callers), and
an ADMIN without billing access: the OWNER, an ADMIN with billing access and API clients with
settings:write manage endpoints; another tenant's endpoint and delivery are NOT_FOUND. A refused
operation changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select, update
from starlette.applications import Starlette

from db.database import Database
from db.scope import TenantScope
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
