"""PostgreSQL is the wall: the application role sees only the tenant set for its transaction."""

import asyncpg
import pytest

from db.database import Database
from db.scope import PLATFORM_TENANT_ID
from server.app import prepare_database
from tenants.rls import UnsafeDatabaseRole, check_app_role, tenant_tables
from tests.conftest import Postgres
from tests.factories import World

pytestmark = pytest.mark.usefixtures("world")


@pytest.fixture
def backend() -> str:
    return "postgresql"


async def app_connection(pg: Postgres) -> asyncpg.Connection:
    return await asyncpg.connect(Postgres.plain(pg.app_url))


async def test_app_role_sees_none_of_bs_rows_when_as_tenant_is_set(
    postgres: Postgres, world: World
):
    connection = await app_connection(postgres)
    try:
        async with connection.transaction():
            await connection.execute(
                "SELECT set_config('app.reseller_id', $1, true)", str(world.a.id)
            )
            for table in ("customers", "users", "api_clients", "portal_tokens"):
                of_b = await connection.fetchval(
                    f"SELECT count(*) FROM {table} WHERE reseller_id = $1", world.b.id
                )
                everything = await connection.fetchval(f"SELECT count(*) FROM {table}")
                of_a = await connection.fetchval(
                    f"SELECT count(*) FROM {table} WHERE reseller_id = $1", world.a.id
                )
                assert of_b == 0
                assert everything == of_a > 0
            assert await connection.fetchval("SELECT count(*) FROM resellers") == 1
    finally:
        await connection.close()


async def test_no_tenant_set_means_no_rows(postgres: Postgres, world: World):
    connection = await app_connection(postgres)
    try:
        for table in tenant_tables():
            assert await connection.fetchval(f"SELECT count(*) FROM {table}") == 0
    finally:
        await connection.close()


async def test_writing_into_another_tenant_is_refused(postgres: Postgres, world: World):
    connection = await app_connection(postgres)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            async with connection.transaction():
                await connection.execute(
                    "SELECT set_config('app.reseller_id', $1, true)", str(world.a.id)
                )
                await connection.execute(
                    "INSERT INTO customers (reseller_id, id, name, email, currency, timezone,"
                    " tax_rate, status, created_at) VALUES ($1, gen_random_uuid(), 'x', 'x@x', 'EUR',"
                    " 'UTC', 0, 'ACTIVE', now())",
                    world.b.id,
                )
        async with connection.transaction():
            await connection.execute(
                "SELECT set_config('app.reseller_id', $1, true)", str(world.a.id)
            )
            updated = await connection.execute(
                "UPDATE customers SET name = 'hijacked' WHERE reseller_id = $1", world.b.id
            )
            assert updated == "UPDATE 0"
    finally:
        await connection.close()


async def test_tenant_setting_does_not_outlive_its_transaction(postgres: Postgres, world: World):
    connection = await app_connection(postgres)
    try:
        async with connection.transaction():
            await connection.execute(
                "SELECT set_config('app.reseller_id', $1, true)", str(world.a.id)
            )
            assert await connection.fetchval("SELECT count(*) FROM customers") == 3
        assert await connection.fetchval("SELECT count(*) FROM customers") == 0
    finally:
        await connection.close()


async def test_every_tenant_table_has_forced_rls(postgres: Postgres, world: World):
    connection = await asyncpg.connect(Postgres.plain(postgres.owner_url))
    try:
        rows = await connection.fetch(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
            " WHERE relname = ANY($1::text[])",
            list(tenant_tables()),
        )
    finally:
        await connection.close()
    assert (
        {r["relname"] for r in rows} == set(tenant_tables()) >= {"resellers", "users", "customers"}
    )
    assert all(r["relrowsecurity"] and r["relforcerowsecurity"] for r in rows)


async def test_server_refuses_to_run_as_the_owner_role(postgres: Postgres, settings):
    # given the server pointed at the role that owns the tables
    owner = settings.with_(database_url=postgres.owner_url)
    db = Database(owner.database_url)
    # when / then
    try:
        with pytest.raises(UnsafeDatabaseRole, match="owns"):
            await prepare_database(owner, db)
    finally:
        await db.dispose()


async def test_server_refuses_a_superuser(postgres: Postgres):
    db = Database(postgres.admin_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with db.engine.connect() as connection:
            with pytest.raises(UnsafeDatabaseRole, match="superuser"):
                await check_app_role(connection)
    finally:
        await db.dispose()


async def test_app_role_passes_the_check(db):
    async with db.engine.connect() as connection:
        await check_app_role(connection)


async def test_a_portal_session_sees_one_customer(postgres: Postgres, world: World):
    connection = await app_connection(postgres)
    try:
        async with connection.transaction():
            await connection.execute(
                "SELECT set_config('app.reseller_id', $1, true),"
                " set_config('app.customer_id', $2, true)",
                str(world.a.id),
                str(world.a.customers[1]),
            )
            ids = await connection.fetch("SELECT id FROM customers")
            assert [row["id"] for row in ids] == [world.a.customers[1]]
            updated = await connection.execute(
                "UPDATE customers SET name = 'x' WHERE id = $1", world.a.customers[0]
            )
            assert updated == "UPDATE 0"
    finally:
        await connection.close()


async def test_platform_rows_are_seen_only_across_all_tenants(postgres: Postgres, world: World):
    owner = await asyncpg.connect(Postgres.plain(postgres.owner_url))
    try:
        # the owner is bound by FORCE too: it writes platform rows with all_tenants on
        async with owner.transaction():
            await owner.execute("SELECT set_config('app.all_tenants', 'on', true)")
            await owner.execute(
                "INSERT INTO audit_events (id, reseller_id, created_at, actor_kind, actor_name,"
                " action, object_type, details) VALUES (gen_random_uuid(), $1, now(), 'SYSTEM',"
                " 'channelbill', 'vendor.created', 'Vendor', '{}')",
                PLATFORM_TENANT_ID,
            )
    finally:
        await owner.close()
    connection = await app_connection(postgres)
    try:
        async with connection.transaction():
            await connection.execute(
                "SELECT set_config('app.reseller_id', $1, true)", str(world.a.id)
            )
            assert await connection.fetchval("SELECT count(*) FROM audit_events") == 0
        async with connection.transaction():
            await connection.execute("SELECT set_config('app.all_tenants', 'on', true)")
            assert await connection.fetchval("SELECT count(*) FROM audit_events") == 1
        # the platform's own scope sees its rows, and no reseller's
        async with connection.transaction():
            await connection.execute(
                "SELECT set_config('app.reseller_id', $1, true)", str(PLATFORM_TENANT_ID)
            )
            assert await connection.fetchval("SELECT count(*) FROM audit_events") == 1
            assert await connection.fetchval("SELECT count(*) FROM customers") == 0
    finally:
        await connection.close()
