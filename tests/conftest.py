"""Fixtures: a real database per test (SQLite, and PostgreSQL with RLS when one is available), the
real app over ASGI, and two tenants to tell apart."""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

import server.app
from auth.tokens import TokenSigner
from db import migrate
from db.database import Database
from server.app import create_app
from server.settings import Settings
from tests.factories import World, build_world

TEST_SECRET = "test-signing-secret-0123456789-abcdefghijklmnop"
OWNER_ROLE = "channelbill_test_owner"
APP_ROLE = "channelbill_test_app"
ROLE_PASSWORD = "channelbill-test"


@dataclass(frozen=True)
class Postgres:
    admin_url: str
    owner_url: str
    app_url: str

    @staticmethod
    def plain(url: str) -> str:
        """asyncpg wants postgresql://, SQLAlchemy postgresql+asyncpg://."""
        return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlalchemy_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


async def _create_postgres(admin_url: str, database: str) -> Postgres:
    admin = await asyncpg.connect(Postgres.plain(admin_url))
    try:
        for role, extra in ((OWNER_ROLE, "CREATEDB"), (APP_ROLE, "NOCREATEDB")):
            options = f"LOGIN NOSUPERUSER NOBYPASSRLS {extra} PASSWORD '{ROLE_PASSWORD}'"
            try:
                await admin.execute(f"CREATE ROLE {role} {options}")
            except (asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
                # Made before, or by the other half of the suite running at the same moment.
                await admin.execute(f"ALTER ROLE {role} {options}")
        await admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {database} OWNER {OWNER_ROLE}")
    finally:
        await admin.close()
    base = make_url(_sqlalchemy_url(admin_url)).set(database=database, password=ROLE_PASSWORD)
    owner = base.set(username=OWNER_ROLE).render_as_string(hide_password=False)
    app = base.set(username=APP_ROLE).render_as_string(hide_password=False)
    return Postgres(admin_url=admin_url, owner_url=owner, app_url=app)


@pytest.fixture(scope="session", autouse=True)
def _schemas_built_once() -> Iterator[None]:
    """Each test makes an app, and each app the same schema (40 ms): here one per set of build
    options, as a server process builds it once. Tests of the schema itself call build_schema."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(server.app, "build_schema", functools.cache(server.app.build_schema))
        yield


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    admin_url = os.environ.get("TEST_DATABASE_URL")
    if not admin_url:
        pytest.skip("no PostgreSQL server: set TEST_DATABASE_URL (scripts/test starts one)")
    database = f"channelbill_test_{os.getpid()}"
    pg = asyncio.run(_create_postgres(admin_url, database))
    asyncio.run(migrate.upgrade(pg.owner_url, pg.app_url))
    yield pg

    async def drop() -> None:
        admin = await asyncpg.connect(Postgres.plain(admin_url))
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        finally:
            await admin.close()

    asyncio.run(drop())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "channelbill.sqlite3"
    asyncio.run(migrate.upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


async def empty_database(pg: Postgres) -> None:
    """Every table emptied, as TRUNCATE would, in a few milliseconds instead of ~140: TRUNCATE
    makes new files for each of the ~35 tables and their indexes, where a DELETE of a test's few
    rows touches only those. As the superuser, with triggers off (replica role), so that neither
    the foreign keys' order nor the guard on posted invoices stands in the way."""
    admin = make_url(pg.admin_url).set(database=make_url(pg.owner_url).database)
    connection = await asyncpg.connect(Postgres.plain(admin.render_as_string(hide_password=False)))
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'alembic_version'"
        )
        deletes = "".join(f'DELETE FROM "{row["tablename"]}";' for row in tables)
        async with connection.transaction():
            await connection.execute("SET LOCAL session_replication_role = replica;" + deletes)
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    common: dict[str, Any] = {
        "environment": "test",
        "secret_key": TEST_SECRET,
        "migrate_on_start": False,
        "seed_demo": False,
        "data_dir": tmp_path / "data",
        "db_pool_size": 5,
        "outbox_dispatch": False,  # tests that send mail run a dispatcher of their own
        "jobs_run": False,  # and tests of due jobs run a job runner of their own
        "pdf_workers": 0,  # PDFs in a thread; tests/documents/test_renderer.py tests the pool
    }
    if backend == "postgresql":
        pg: Postgres = request.getfixturevalue("postgres")
        asyncio.run(empty_database(pg))
        return Settings(
            database_url=pg.app_url, migration_database_url=pg.owner_url, **common
        ).validate()
    path = tmp_path / "channelbill.sqlite3"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    return Settings(database_url=f"sqlite+aiosqlite:///{path}", **common).validate()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
def db(app: Starlette) -> Database:
    return app.state.services.db


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


class Api:
    """POST /graphql as a control panel would."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def raw(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        response = await self.raw(query, variables, token)
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def api(client: httpx.AsyncClient) -> Api:
    return Api(client)


@pytest.fixture
def signer(settings: Settings) -> TokenSigner:
    return TokenSigner(settings.secret_key, settings.issuer)


@pytest.fixture
async def world(db: Database, signer: TokenSigner) -> World:
    return await build_world(db, signer)


def error_codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
