"""The session's tenant criteria (the ORM safety net behind every repository's own filter) hold
for pages read as rows of columns, as for pages of ORM instances: a statement that forgot its
tenant filter still reads only the session's tenant (on SQLite, where no row-level security
stands behind it)."""

from __future__ import annotations

from sqlalchemy import select

from db.base import column_attributes
from db.database import Database
from db.pagination import PageRequest, keyset_page
from db.scope import TenantScope
from tenants.models import Customer
from tests.factories import World


async def test_rows_of_columns_are_filtered_by_the_sessions_tenant(db: Database, world: World):
    request = PageRequest(first=100)
    for tenant in (world.a, world.b):
        async with db.read(TenantScope.tenant(tenant.id)) as session:
            # a statement with no tenant filter of its own
            instances = await keyset_page(session, select(Customer), Customer.id, request)
            rows = await keyset_page(
                session,
                select(Customer),
                Customer.id,
                request,
                columns=column_attributes(Customer),
            )
        assert {c.id for c in instances.items} == set(tenant.customers)
        assert [r.id for r in rows.items] == [c.id for c in instances.items]
        assert {r.reseller_id for r in rows.items} == {tenant.id}
        assert [r.name for r in rows.items] == [c.name for c in instances.items]
