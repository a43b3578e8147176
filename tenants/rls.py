"""PostgreSQL row-level security: which tables it guards, and the check the server runs at start.

The policies themselves live in the migrations (history is frozen there); this module knows which
tables must have them and refuses a database where the application role could read past them.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

import events.models  # noqa: F401  (register their tables on the metadata)
import jobs.models  # noqa: F401
import limits.models  # noqa: F401
import notifications.models  # noqa: F401
import tenants.audit
import tenants.models  # noqa: F401
from db.base import Base

CURRENT_TENANT = "NULLIF(current_setting('app.reseller_id', true), '')::uuid"
ALL_TENANTS = "current_setting('app.all_tenants', true) = 'on'"


def tenant_tables() -> dict[str, str]:
    """Every table holding tenant rows, with the column that names the tenant."""
    tables = {"resellers": "id"}
    for table in Base.metadata.sorted_tables:
        if "reseller_id" in table.columns:
            tables[table.name] = "reseller_id"
    return tables


class UnsafeDatabaseRole(RuntimeError):
    """The application's database role could bypass tenant isolation."""


async def check_app_role(connection: AsyncConnection) -> None:
    """Refuse to serve unless the role we run as owns nothing and is bound by RLS everywhere."""
    role = (
        await connection.execute(
            text(
                "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles"
                " WHERE rolname = current_user"
            )
        )
    ).one()
    problems: list[str] = []
    if role.rolsuper or role.rolbypassrls:
        problems.append(f"role {role.current_user} is a superuser or has BYPASSRLS")
    owned = (
        (
            await connection.execute(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'S')"
                    " AND pg_has_role(current_user, c.relowner, 'USAGE')"
                )
            )
        )
        .scalars()
        .all()
    )
    if owned:
        problems.append(f"role {role.current_user} owns (or inherits) {', '.join(sorted(owned))}")
    with_tenant_column = (
        (
            await connection.execute(
                text(
                    "SELECT table_name FROM information_schema.columns"
                    " WHERE table_schema = current_schema() AND column_name = 'reseller_id'"
                )
            )
        )
        .scalars()
        .all()
    )
    flags = {
        row.relname: row
        for row in await connection.execute(
            text(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
                " (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
            )
        )
    }
    for table in sorted(set(tenant_tables()) | set(with_tenant_column)):
        row = flags.get(table)
        if row is None:
            problems.append(f"table {table} is missing: run `channelbill migrate`")
        elif not (row.relrowsecurity and row.relforcerowsecurity and row.policies):
            problems.append(f"table {table} lacks ENABLE + FORCE ROW LEVEL SECURITY or a policy")
    if problems:
        raise UnsafeDatabaseRole("; ".join(problems))
