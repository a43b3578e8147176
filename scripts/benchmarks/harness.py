"""What every benchmark shares: a fresh, migrated database per backend, timing, medians, tables.

A benchmark gets a ``Target``: the SQLAlchemy URL the application would use (on PostgreSQL a
non-superuser role that row-level security binds, as in production and in tests/conftest.py) and
the owner's URL (migrations, VACUUM). It returns a ``Report``: one row of the results table, and
the machine-independent facts (rows written, statements run) that must match on every backend.
"""

from __future__ import annotations

import gc
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from db import migrate
from db.database import Database
from db.scope import TenantScope

BACKENDS = ("sqlite", "postgresql")
OWNER_ROLE = "channelbill_bench_owner"
APP_ROLE = "channelbill_bench_app"
ROLE_PASSWORD = "channelbill-bench"  # noqa: S105 (a throwaway role of a throwaway database)


@dataclass(frozen=True)
class Target:
    backend: str
    url: str  # what the application connects with
    owner_url: str  # what migrations (and maintenance) connect with

    @property
    def is_postgresql(self) -> bool:
        return self.backend == "postgresql"

    async def maintain(self, *tables: str) -> None:
        """After bulk writes or a rolled-back run: VACUUM ANALYZE on PostgreSQL, so that every
        repeat starts from the same table state and fresh statistics; ANALYZE on SQLite."""
        if self.is_postgresql:
            connection = await asyncpg.connect(plain_url(self.owner_url))
            try:
                for table in tables:
                    await connection.execute(f'VACUUM (ANALYZE) "{table}"')
            finally:
                await connection.close()
            return
        database = Database(self.url)
        try:
            async with database.engine.begin() as connection:
                await connection.exec_driver_sql("ANALYZE")
        finally:
            await database.dispose()


@dataclass
class Report:
    """What one benchmark measured on one backend."""

    row: dict[str, str]
    facts: dict[str, str] = field(default_factory=dict)
    # Further rows of the same columns on the same backend (another page size, say).
    more: list[dict[str, str]] = field(default_factory=list)


def plain_url(url: str) -> str:
    """asyncpg wants postgresql://, SQLAlchemy postgresql+asyncpg://."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlalchemy_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


@asynccontextmanager
async def fresh_database(backend: str, admin_url: str | None) -> AsyncIterator[Target]:
    """A new database migrated to head, removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="channelbill-bench-") as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}"
            await migrate.upgrade(url)
            yield Target(backend, url, url)
        return
    if admin_url is None:
        raise RuntimeError("PostgreSQL needs TEST_DATABASE_URL (a superuser URL)")
    name = f"channelbill_bench_{os.getpid()}"
    admin = await asyncpg.connect(plain_url(admin_url))
    try:
        for role, extra in ((OWNER_ROLE, "CREATEDB"), (APP_ROLE, "NOCREATEDB")):
            exists = await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
            verb = "ALTER" if exists else "CREATE"
            await admin.execute(
                f"{verb} ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS {extra}"
                f" PASSWORD '{ROLE_PASSWORD}'"
            )
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name} OWNER {OWNER_ROLE}")
    finally:
        await admin.close()
    base = make_url(_sqlalchemy_url(admin_url)).set(database=name, password=ROLE_PASSWORD)
    owner = base.set(username=OWNER_ROLE).render_as_string(hide_password=False)
    app = base.set(username=APP_ROLE).render_as_string(hide_password=False)
    try:
        await migrate.upgrade(owner, app)
        yield Target(backend, app, owner)
    finally:
        admin = await asyncpg.connect(plain_url(admin_url))
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()


class _Discard(Exception):
    pass


@asynccontextmanager
async def rolled_back(db: Database, scope: TenantScope) -> AsyncIterator[AsyncSession]:
    """A write transaction, as ``db.write`` opens it, that is rolled back at the end: what is
    measured in it can be measured again on the same data."""
    try:
        async with db.write(scope) as session:
            yield session
            raise _Discard
    except _Discard:
        pass


async def timed(action: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    """Seconds ``action`` took, and its result. Garbage from before is collected first, and what
    survives is frozen: the collector does not walk the benchmark's own data (the seed rows,
    which a server would not hold) while the action runs."""
    gc.collect()
    gc.freeze()
    try:
        start = time.perf_counter()
        result = await action()
        return time.perf_counter() - start, result
    finally:
        gc.unfreeze()


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """min-max of the repeats, to see how noisy the machine was."""
    return f"{min(values):.2f}-{max(values):.2f}"


def number(value: float, places: int = 0) -> str:
    return f"{value:,.{places}f}"


def render_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [columns, *rows]) for i in range(len(columns))]

    def line(cells: Sequence[str]) -> str:
        out = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(columns), rule, *(line(r) for r in rows)])
