"""A slow request is stopped at its time limit, a slow statement at its own, and a saturated pool
answers a quick 503: never INTERNAL, never a queue that delays every other tenant."""

from __future__ import annotations

import asyncio
import gc
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout

from db.database import Database
from db.scope import TenantScope
from server.settings import Settings
from tests.conftest import error_codes
from tests.factories import World

TIME_LIMIT = 1.5
CUSTOMERS = "{ customers { totalCount } }"
VIEWER = "{ viewer { kind } }"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(
        request_timeout_seconds=TIME_LIMIT,
        db_statement_timeout_seconds=0.5,
        db_pool_timeout_seconds=0.3,
    )


async def test_a_request_past_its_time_limit_is_stopped_and_others_answer(
    api, world: World, monkeypatch
):
    # given customers that take far longer than the time limit to read
    from tenants.repositories import CustomerRepository

    async def slow(self, *args, **kwargs):
        await asyncio.sleep(60)

    monkeypatch.setattr(CustomerRepository, "page", slow)

    async def timed(query: str, token: str) -> tuple[float, object]:
        started = time.perf_counter()
        response = await api.raw(query, token=token)
        return time.perf_counter() - started, response

    # when another tenant asks something cheap meanwhile
    (slow_time, stopped), (quick_time, quick) = await asyncio.gather(
        timed(CUSTOMERS, world.token("owner", world.a)),
        timed(VIEWER, world.token("owner", world.b)),
    )
    # then the slow one is stopped at its limit with a clean error
    assert stopped.status_code == 503
    assert stopped.headers["retry-after"] == "2"
    assert error_codes(stopped.json()) == ["TIMEOUT"]
    assert stopped.json()["data"] is None
    assert TIME_LIMIT <= slow_time < TIME_LIMIT + 3
    # and the other tenant was not kept waiting
    assert quick.status_code == 200
    assert quick.json()["data"]["viewer"]["kind"] == "USER"
    assert quick_time < TIME_LIMIT


async def test_a_statement_past_its_timeout_is_a_timeout_error(
    api, db: Database, world: World, backend: str, monkeypatch
):
    if backend != "postgresql":
        pytest.skip("statement_timeout is PostgreSQL's; SQLite has no server to stop a statement")
    # given the app's connections carry the statement timeout
    async with db.read(TenantScope.system()) as session:
        assert await session.scalar(text("SHOW statement_timeout")) == "500ms"
    # and customers that take longer than it to read, in the database itself
    from tenants.repositories import CustomerRepository

    async def slow(self, *args, **kwargs):
        await self.session.execute(text("SELECT pg_sleep(5)"))

    monkeypatch.setattr(CustomerRepository, "page", slow)
    # when
    started = time.perf_counter()
    body = await api(CUSTOMERS + " ", token=world.token("owner", world.a))
    # then PostgreSQL stopped it, and the error says so, without SQL
    assert time.perf_counter() - started < TIME_LIMIT
    assert error_codes(body) == ["TIMEOUT"]
    assert "pg_sleep" not in str(body) and "SELECT" not in str(body)


async def test_a_saturated_pool_answers_503_quickly(api, db: Database, world: World):
    # given every connection of the pool is held
    token = world.token("owner", world.a)
    held = []
    try:
        while True:
            held.append(await db.read_engine.connect())
    except PoolTimeout:
        pass
    try:
        # when
        started = time.perf_counter()
        response = await api.raw(VIEWER, token=token)
        elapsed = time.perf_counter() - started
    finally:
        for connection in held:
            await connection.close()
    # then the caller is told at once to come back, in a GraphQL shape
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json() == {
        "data": None,
        "errors": [
            {
                "message": "The service is busy; try again shortly.",
                "extensions": {"code": "SERVICE_UNAVAILABLE"},
            }
        ],
    }
    assert elapsed < 0.3 + 1.0
    # and once connections are free again it answers
    assert (await api(VIEWER, token=token))["data"]["viewer"]["kind"] == "USER"


async def test_a_pool_exhausted_during_execution_is_503_not_internal(
    api, world: World, monkeypatch
):
    # given the pool gives out while a resolver waits for a connection
    from tenants.repositories import CustomerRepository

    async def exhausted(self, *args, **kwargs):
        raise PoolTimeout("QueuePool limit of size 5 overflow 5 reached, connection timed out")

    monkeypatch.setattr(CustomerRepository, "page", exhausted)
    # when
    response = await api.raw(CUSTOMERS, token=world.token("owner", world.a))
    # then
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert error_codes(response.json()) == ["SERVICE_UNAVAILABLE"]
    assert "QueuePool" not in response.text


def test_the_time_limit_settings_are_read_and_checked():
    settings = Settings.from_env(
        {
            "REQUEST_TIMEOUT_SECONDS": "10",
            "DB_STATEMENT_TIMEOUT_SECONDS": "0",
            "DB_POOL_TIMEOUT_SECONDS": "0.5",
        }
    )
    assert settings.request_timeout_seconds == 10.0
    assert settings.db_statement_timeout_seconds == 0.0  # off
    assert settings.db_pool_timeout_seconds == 0.5
    with pytest.raises(ValueError, match="must be positive"):
        Settings.from_env({"REQUEST_TIMEOUT_SECONDS": "0"})


async def test_start_up_freezes_what_it_made(app):
    assert gc.get_freeze_count() > 0
