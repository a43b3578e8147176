"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

import auth.models  # noqa: F401  (every model on the metadata)
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
from server.settings import Settings


def _diff(connection) -> list:  # type: ignore[no-untyped-def]
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


# The one expression index (lower(name)) cannot be reflected; it is declared in both places.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
async def test_models_and_migrations_agree(settings: Settings, app):  # type: ignore[no-untyped-def]
    engine = create_async_engine(settings.owner_database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_diff)
    finally:
        await engine.dispose()
    assert differences == []
