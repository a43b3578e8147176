"""Alembic environment: one history for SQLite and PostgreSQL, run on an async engine.

``db.migrate.upgrade`` hands a live connection in through ``config.attributes``; the plain
``alembic`` command (for writing new revisions) builds its own from MIGRATION_DATABASE_URL.
"""

import asyncio
import os

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

import auth.models  # noqa: F401
import billing.models  # noqa: F401
import documents.models  # noqa: F401
import events.models  # noqa: F401
import jobs.models  # noqa: F401
import limits.models  # noqa: F401
import notifications.models  # noqa: F401
import payments.models  # noqa: F401
import tenants.audit
import tenants.models  # noqa: F401
from db.base import Base

target_metadata = Base.metadata


def run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_environment() -> None:
    url = os.environ.get("MIGRATION_DATABASE_URL") or os.environ.get(
        "DATABASE_URL", "sqlite+aiosqlite:///./data/channelbill.sqlite3"
    )
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(run)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    asyncio.run(run_from_environment())
