"""Billing fixtures: a small catalog (two vendors, recurring and usage products, USD and EUR
prices, rates) on top of the two-tenant world, and the services that act on invoices."""

from __future__ import annotations

import decimal

import pytest

from billing.lifecycle import BillingPolicy, InvoiceLifecycle
from db.database import Database
from notifications.emails import Composer
from tests.catalog import Shop, make_catalog
from tests.factories import World


@pytest.fixture(autouse=True)
def no_floats():
    """Any float mixed into Decimal arithmetic raises instead of rounding silently."""
    context = decimal.getcontext()
    trapped = context.traps[decimal.FloatOperation]
    context.traps[decimal.FloatOperation] = True
    yield
    context.traps[decimal.FloatOperation] = trapped


@pytest.fixture
async def shop(db: Database, world: World) -> Shop:
    return await make_catalog(db)


@pytest.fixture
def lifecycle() -> InvoiceLifecycle:
    return InvoiceLifecycle(Composer("Billing <billing@platform.example>"), BillingPolicy())
