"""Payments are customer-keyed like invoices: a customer portal sees its own customer's payments
and nobody else's, by any path (node, nodes, an invoice), nor the reseller's own payments to the
platform; on PostgreSQL the row-level security policy says the same."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from sqlalchemy import select

from billing.lifecycle import BillingPolicy, InvoiceLifecycle
from billing.models import InvoiceKind, InvoiceStatus, Payment
from db.database import Database
from db.scope import TenantScope
from notifications.emails import Composer
from schema.relay import to_global_id
from tenants.audit import Actor
from tests.billing.drafts import retail_drafts, run_billing
from tests.catalog import make_catalog
from tests.conftest import Postgres
from tests.factories import World

NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Payment { amount { amount } } } }"


async def _paid_invoices(db: Database, world: World) -> dict[str, uuid.UUID]:
    """A's two first customers each with a paid invoice, and A's own paid bill from the
    platform: which -> payment id."""
    shop = await make_catalog(db)
    lifecycle = InvoiceLifecycle(Composer("Billing <billing@platform.example>"), BillingPolicy())
    retail = await retail_drafts(db, world.a.id, world.a.customers[:2], [shop.products["m365"]])
    wholesale = await run_billing(db, TenantScope.system(), kind=InvoiceKind.WHOLESALE)
    paid: dict[str, uuid.UUID] = {}
    async with db.write(TenantScope.system()) as session:
        for invoice_id in [*retail, *wholesale]:
            for status in (InvoiceStatus.OPEN, InvoiceStatus.CLOSED):
                await lifecycle.update_status(
                    session, TenantScope.system(), Actor.system(), invoice_id, status
                )
        for payment in await session.scalars(select(Payment)):
            if payment.customer_id == world.a.customers[0]:
                paid["own"] = payment.id
            elif payment.customer_id == world.a.customers[1]:
                paid["other customer"] = payment.id
            elif payment.reseller_id == world.a.id:
                paid["reseller's own"] = payment.id
    assert set(paid) == {"own", "other customer", "reseller's own"}
    return paid


async def test_a_portal_sees_only_its_own_customers_payments(api, db: Database, world: World):
    # given payments of the portal's customer, another customer, and the reseller itself
    paid = await _paid_invoices(db, world)
    ids = {key: to_global_id("Payment", value) for key, value in paid.items()}
    # when the portal asks for each of them
    as_portal = await api(NODES, {"ids": list(ids.values())}, token=world.token("portal", world.a))
    # then only its own answers; the others are as if they did not exist
    found = [node["id"] if node else None for node in as_portal["data"]["nodes"]]
    assert found == [ids["own"], None, None]
    # and the reseller's billing users see all three
    as_owner = await api(NODES, {"ids": list(ids.values())}, token=world.token("owner", world.a))
    assert [node["id"] for node in as_owner["data"]["nodes"]] == list(ids.values())


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgresql)])
async def test_row_level_security_keys_payments_by_customer(postgres: Postgres, db, world: World):
    paid = await _paid_invoices(db, world)
    connection = await asyncpg.connect(Postgres.plain(postgres.app_url))
    try:
        async with connection.transaction():
            await connection.execute(
                "SELECT set_config('app.reseller_id', $1, true),"
                " set_config('app.customer_id', $2, true)",
                str(world.a.id),
                str(world.a.customers[0]),
            )
            visible = await connection.fetch("SELECT id FROM payments")
    finally:
        await connection.close()
    assert [row["id"] for row in visible] == [paid["own"]]
