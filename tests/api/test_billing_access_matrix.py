"""Every billing operation as every kind of caller (see test_access_matrix for the callers), with
the outcome access.md gives each. Every object named belongs to reseller A: a draft invoice of its
first customer, a subscription, a price override for its second customer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from billing.generation import BillingRun, RunRequest
from billing.prices import NewOverride, set_price
from billing.subscriptions import NewSubscription, create_subscription
from db.database import Database
from db.scope import TenantScope
from tenants.audit import Actor
from tests.api.test_access_matrix import (
    BILLING_WRITERS,
    CALLERS,
    CUSTOMER_WRITERS,
    UNAUTH,
    gid,
    outcome,
    token,
)
from tests.catalog import Shop, make_catalog
from tests.factories import World


@dataclass
class Billing:
    world: World
    shop: Shop
    invoice_id: uuid.UUID
    subscription_id: uuid.UUID

    @property
    def a(self):  # type: ignore[no-untyped-def]
        return self.world.a


@pytest.fixture
async def billing(db: Database, world: World) -> Billing:
    shop = await make_catalog(db)
    scope = TenantScope.tenant(world.a.id)
    async with db.write(scope) as session:
        subscription = await create_subscription(
            session,
            scope,
            NewSubscription(world.a.customers[0], shop.products["m365"], 2, date(2026, 11, 1)),
        )
        await set_price(
            session,
            scope,
            NewOverride(
                shop.products["m365"], "EUR", customer_id=world.a.customers[1], price=Decimal(9)
            ),
        )
        run = await BillingRun(session, scope, Actor.system(), "Platform").run(
            RunRequest(date(2026, 11, 1), date(2026, 11, 30))
        )
    return Billing(world, shop, run.created[0], subscription.id)


# Reading billing data: users with billing access, billing:read clients, platform admins; a portal
# only its own customer's posted invoices (the invoice here is a draft).
BILLING_READERS = {
    **UNAUTH,
    "member": "BILLING_ACCESS_REQUIRED",
    "client_read": "BILLING_ACCESS_REQUIRED",
    "other_tenant": "NOT_FOUND",
    "*": "ok",
}
# The reseller's own prices and costs: never a portal.
PRICE_READERS = {**BILLING_READERS, "portal": "BILLING_ACCESS_REQUIRED"}
CATALOG_READERS = {
    **UNAUTH,
    "client_billing": "FORBIDDEN",
    "portal": "FORBIDDEN",
    "*": "ok",
}
PLATFORM_ONLY = {**UNAUTH, "platform": "ok", "*": "FORBIDDEN"}
OPERATIONS: dict[str, tuple[str, Any, dict[str, str]]] = {
    "invoice node": (
        "query($id: ID!) { node(id: $id) { ... on Invoice { total { amount } } } }",
        lambda b: {"id": gid("Invoice", b.invoice_id)},
        {**BILLING_READERS, "portal": "NOT_FOUND"},
    ),
    "invoice notifications": (
        """query($id: ID!) { node(id: $id) { ... on Invoice {
             notifications { status recipient } } } }""",
        lambda b: {"id": gid("Invoice", b.invoice_id)},
        {**BILLING_READERS, "portal": "NOT_FOUND"},
    ),
    "invoices": (
        "{ invoices { edges { node { id } } } }",
        lambda b: {},
        {**BILLING_READERS, "other_tenant": "ok"},
    ),
    "effectivePrice": (
        """query($p: ID!, $c: ID!) { effectivePrice(productId: $p, customerId: $c) {
             price { amount } } }""",
        lambda b: {
            "p": gid("Product", b.shop.products["m365"]),
            "c": gid("Customer", b.a.customers[1]),
        },
        PRICE_READERS,
    ),
    "priceOverrides": (
        "{ priceOverrides { id } }",
        lambda b: {},
        {**PRICE_READERS, "other_tenant": "ok"},
    ),
    "products": ("{ products { totalCount } }", lambda b: {}, CATALOG_READERS),
    "vendors": ("{ vendors { name } }", lambda b: {}, CATALOG_READERS),
    "subscriptions": (
        "query($c: ID!) { subscriptions(customerId: $c) { totalCount } }",
        lambda b: {"c": gid("Customer", b.a.customers[0])},
        {**UNAUTH, "client_billing": "FORBIDDEN", "*": "ok"},
    ),
    "subscription node": (
        "query($id: ID!) { node(id: $id) { ... on CustomerSubscription { quantity } } }",
        lambda b: {"id": gid("CustomerSubscription", b.subscription_id)},
        {**UNAUTH, "client_billing": "FORBIDDEN", "other_tenant": "NOT_FOUND", "*": "ok"},
    ),
    "setPrice": (
        """mutation($input: SetPriceInput!) { setPrice(input: $input) { errors { code } } }""",
        lambda b: {
            "input": {
                "productId": gid("Product", b.shop.products["m365"]),
                "customerId": gid("Customer", b.a.customers[0]),
                "currency": "EUR",
                "price": "10",
            }
        },
        BILLING_WRITERS,
    ),
    "removePrice": (
        """mutation($input: RemovePriceInput!) { removePrice(input: $input) { errors { code } } }""",
        lambda b: {
            "input": {
                "productId": gid("Product", b.shop.products["m365"]),
                "customerId": gid("Customer", b.a.customers[1]),
                "currency": "EUR",
            }
        },
        BILLING_WRITERS,
    ),
    "createCustomerSubscription": (
        """mutation($input: CreateCustomerSubscriptionInput!) {
             createCustomerSubscription(input: $input) { errors { code } } }""",
        lambda b: {
            "input": {
                "customerId": gid("Customer", b.a.customers[1]),
                "productId": gid("Product", b.shop.products["teams"]),
                "quantity": 3,
                "startDate": "2026-11-01",
            }
        },
        CUSTOMER_WRITERS,
    ),
    "updateCustomerSubscription": (
        """mutation($input: UpdateCustomerSubscriptionInput!) {
             updateCustomerSubscription(input: $input) { errors { code } } }""",
        lambda b: {
            "input": {
                "subscriptionId": gid("CustomerSubscription", b.subscription_id),
                "quantity": 5,
            }
        },
        CUSTOMER_WRITERS,
    ),
    "endCustomerSubscription": (
        """mutation($input: EndCustomerSubscriptionInput!) {
             endCustomerSubscription(input: $input) { errors { code } } }""",
        lambda b: {
            "input": {
                "subscriptionId": gid("CustomerSubscription", b.subscription_id),
                "endDate": "2026-12-31",
            }
        },
        CUSTOMER_WRITERS,
    ),
    "recordUsage": (
        """mutation($input: RecordUsageInput!) { recordUsage(input: $input) { errors { code } } }""",
        lambda b: {
            "input": {
                "customerId": gid("Customer", b.a.customers[0]),
                "productId": gid("Product", b.shop.products["s3"]),
                "quantity": "1.5",
                "occurredAt": "2026-11-02T10:00:00Z",
            }
        },
        CUSTOMER_WRITERS,
    ),
    "generateInvoices": (
        """mutation($input: GenerateInvoicesInput!) {
             generateInvoices(input: $input) { errors { code } } }""",
        lambda b: {
            "input": {
                "periodStart": "2026-12-01",
                "periodEnd": "2026-12-31",
                "customerIds": [gid("Customer", b.a.customers[0])],
            }
        },
        BILLING_WRITERS,
    ),
    "generateInvoices wholesale": (
        """mutation { generateInvoices(input: {periodStart: "2026-11-01",
             periodEnd: "2026-11-30", billTo: RESELLER}) { errors { code } } }""",
        lambda b: {},
        {**BILLING_WRITERS, "other_tenant": "FORBIDDEN", "platform": "ok", "*": "FORBIDDEN"},
    ),
    "updateInvoiceStatus": (
        """mutation($input: UpdateInvoiceStatusInput!) {
             updateInvoiceStatus(input: $input) { errors { code } } }""",
        lambda b: {"input": {"invoiceId": gid("Invoice", b.invoice_id), "status": "OPEN"}},
        BILLING_WRITERS,
    ),
    "sendInvoice": (
        """mutation($id: ID!) { sendInvoice(input: {invoiceId: $id, to: "a@x.example"}) {
             recipients errors { code } } }""",
        lambda b: {"id": gid("Invoice", b.invoice_id)},
        # every caller allowed reaches the rule that a draft is not sent
        {**BILLING_WRITERS, "*": "INVOICE_NOT_POSTED"},
    ),
    "discardInvoice": (
        """mutation($id: ID!) { discardInvoice(input: {invoiceId: $id}) { errors { code } } }""",
        lambda b: {"id": gid("Invoice", b.invoice_id)},
        BILLING_WRITERS,
    ),
    "setInvoiceCustomFields": (
        """mutation($input: SetInvoiceCustomFieldsInput!) {
             setInvoiceCustomFields(input: $input) { errors { code } } }""",
        lambda b: {"input": {"invoiceId": gid("Invoice", b.invoice_id), "values": []}},
        BILLING_WRITERS,
    ),
    "defineInvoiceCustomField": (
        """mutation($input: DefineInvoiceCustomFieldInput!) {
             defineInvoiceCustomField(input: $input) { errors { code } } }""",
        lambda b: {
            "input": {
                "key": "po",
                "label": "PO",
                "type": "TEXT",
                "resellerId": gid("Reseller", b.a.id),
            }
        },
        BILLING_WRITERS,  # another tenant naming A is refused, not turned into its own change
    ),
    "createVendor": (
        """mutation { createVendor(input: {name: "Google"}) { errors { code } } }""",
        lambda b: {},
        PLATFORM_ONLY,
    ),
    "setExchangeRate": (
        """mutation { setExchangeRate(input: {base: "USD", quote: "JPY", rate: "150",
             date: "2026-11-01"}) { errors { code } } }""",
        lambda b: {},
        PLATFORM_ONLY,
    ),
}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("operation", OPERATIONS)
async def test_billing_access(api, billing: Billing, operation: str, caller: str):
    document, variables, expected = OPERATIONS[operation]
    body = await api(document, variables(billing), token=token(billing.world, caller))
    assert outcome(body) == expected.get(caller, expected["*"]), body
