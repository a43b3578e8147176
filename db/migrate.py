"""Applying the Alembic history, and granting the application role what it needs afterwards.

Migrations run as the *owner* role (MIGRATION_DATABASE_URL); the server runs as an application
role that owns nothing, so row-level security binds it.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from db.database import Database

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _config() -> Config:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def _upgrade(connection: Connection) -> None:
    config = _config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _grant(connection: Connection, role: str) -> None:
    quoted = connection.dialect.identifier_preparer.quote(role)
    for statement in (
        f"GRANT USAGE ON SCHEMA public TO {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
        f"REVOKE ALL ON alembic_version FROM {quoted}",
        f"GRANT SELECT ON alembic_version TO {quoted}",
    ):
        connection.execute(text(statement))


def _upgrade_sqlite(connection: Connection) -> None:
    """SQLite rebuilds a table to change a constraint; a rebuilt table that others reference
    needs foreign keys off meanwhile, which only works outside a transaction (SQLite's own
    procedure for ALTER TABLE). Every key is checked before the migration commits."""
    cursor = connection.connection.cursor()
    cursor.execute("PRAGMA foreign_keys = OFF")
    try:
        with connection.begin():
            _upgrade(connection)
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
    finally:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()


async def upgrade(migration_url: str, app_url: str | None = None) -> None:
    """Bring the schema to head as the owner, then grant the app role (if another) its rights."""
    db = Database(migration_url, pool_size=1)
    try:
        if not db.is_postgresql:
            async with db.engine.connect() as connection:
                await connection.run_sync(_upgrade_sqlite)
            return
        async with db.engine.begin() as connection:
            await connection.run_sync(_upgrade)
            app_role = make_url(app_url).username if app_url else None
            owner_role = db.url.username
            if db.is_postgresql and app_role and app_role != owner_role:
                await connection.run_sync(_grant, app_role)
    finally:
        await db.dispose()


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
