"""Every table is distributable by reseller_id (as Citus would shard it) or small reference data.

Checked over the models and over the migrated schema of each database: a distributed table's
primary key and every unique constraint lead with reseller_id (NOT NULL), every foreign key
between two of them includes it, and the reference tables never point into a tenant table.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import inspect
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

# Replicated to every node: the platform's catalog and rates, its staff, and the directory of
# tenants (resellers, small: one row a reseller) that tenant tables reference.
REFERENCE = {
    "vendors",
    "products",
    "product_prices",
    "exchange_rates",
    "platform_admins",
    "resellers",
}
TENANT_KEY = "reseller_id"


def _problems(tables: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    distributed = {name for name, t in tables.items() if TENANT_KEY in t["columns"]}
    for name, table in sorted(tables.items()):
        if name == "alembic_version":
            continue
        if name not in distributed:
            if name not in REFERENCE:
                problems.append(f"{name}: no {TENANT_KEY} and not reference data")
            for fk in table["fks"]:
                if fk["table"] in distributed:
                    problems.append(
                        f"{name}: reference table points into tenant table {fk['table']}"
                    )
            continue
        if name in REFERENCE:
            problems.append(f"{name}: reference data with a {TENANT_KEY}")
        if table["columns"][TENANT_KEY]:
            problems.append(f"{name}.{TENANT_KEY} is nullable")
        if table["pk"][:1] != [TENANT_KEY]:
            problems.append(f"{name}: primary key {table['pk']} does not lead with {TENANT_KEY}")
        for unique in table["uniques"]:
            if unique[:1] != [TENANT_KEY]:
                problems.append(f"{name}: unique {unique} does not lead with {TENANT_KEY}")
        for fk in table["fks"]:
            if fk["table"] in distributed and TENANT_KEY not in fk["local"]:
                problems.append(f"{name}: foreign key {fk['local']} into {fk['table']} lacks it")
            if fk["table"] in distributed:
                paired = dict(zip(fk["local"], fk["remote"], strict=True))
                if paired.get(TENANT_KEY) != TENANT_KEY:
                    problems.append(f"{name}: foreign key {fk['local']} pairs {TENANT_KEY} wrong")
    return problems


def _from_models() -> dict[str, dict[str, Any]]:
    tables: dict[str, dict[str, Any]] = {}
    for table in Base.metadata.sorted_tables:
        uniques = [
            [c.name for c in constraint.columns]
            for constraint in table.constraints
            if constraint.__class__.__name__ == "UniqueConstraint"
        ]
        uniques += [[c.name] for c in table.columns if c.unique]
        uniques += [
            [getattr(e, "name", str(e)) for e in index.expressions]
            for index in table.indexes
            if index.unique
        ]
        tables[table.name] = {
            "columns": {c.name: c.nullable for c in table.columns},
            "pk": [c.name for c in table.primary_key.columns],
            "uniques": uniques,
            "fks": [
                {
                    "table": fk.referred_table.name,
                    "local": [e.parent.name for e in fk.elements],
                    "remote": [e.column.name for e in fk.elements],
                }
                for fk in table.foreign_key_constraints
            ],
        }
    return tables


def _reflect(connection) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    inspector = inspect(connection)
    tables: dict[str, dict[str, Any]] = {}
    for name in inspector.get_table_names():
        uniques = [u["column_names"] for u in inspector.get_unique_constraints(name)]
        uniques += [i["column_names"] for i in inspector.get_indexes(name) if i["unique"]]
        tables[name] = {
            "columns": {c["name"]: c["nullable"] for c in inspector.get_columns(name)},
            "pk": inspector.get_pk_constraint(name)["constrained_columns"],
            "uniques": uniques,
            "fks": [
                {
                    "table": fk["referred_table"],
                    "local": fk["constrained_columns"],
                    "remote": fk["referred_columns"],
                }
                for fk in inspector.get_foreign_keys(name)
            ],
        }
    return tables


def test_the_models_are_distributable_by_reseller():
    tables = _from_models()
    assert _problems(tables) == []
    # and the rule is not vacuous: the tables that hold tenant rows are held to it
    assert {"invoices", "audit_events", "outbox_messages", "notification_settings"} <= {
        name for name, t in tables.items() if TENANT_KEY in t["columns"]
    }


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
async def test_the_migrated_schema_is_distributable_by_reseller(settings: Settings, app):  # type: ignore[no-untyped-def]
    engine = create_async_engine(settings.owner_database_url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(_reflect)
    finally:
        await engine.dispose()
    assert _problems(tables) == []
    assert set(tables) - {"alembic_version"} == set(_from_models())


def test_the_checker_finds_what_breaks_the_rules():
    # given tables as they stood before tenant keys were put everywhere
    broken = {
        "audit_events": {
            "columns": {"id": False, TENANT_KEY: True},
            "pk": ["id"],
            "uniques": [],
            "fks": [],
        },
        "users": {
            "columns": {"id": False, TENANT_KEY: False, "email": False},
            "pk": [TENANT_KEY, "id"],
            "uniques": [["email"]],
            "fks": [],
        },
        "payments": {
            "columns": {"id": False, TENANT_KEY: False, "invoice_id": False},
            "pk": [TENANT_KEY, "id"],
            "uniques": [],
            "fks": [{"table": "users", "local": ["invoice_id"], "remote": ["id"]}],
        },
        "vendors": {
            "columns": {"id": False, "user_id": False},
            "pk": ["id"],
            "uniques": [],
            "fks": [{"table": "users", "local": ["user_id"], "remote": ["id"]}],
        },
        "scratch": {"columns": {"id": False}, "pk": ["id"], "uniques": [], "fks": []},
    }
    found = "\n".join(_problems(broken))
    for expected in (
        "audit_events.reseller_id is nullable",
        "audit_events: primary key ['id']",
        "users: unique ['email']",
        "payments: foreign key ['invoice_id'] into users lacks it",
        "vendors: reference table points into tenant table users",
        "scratch: no reseller_id and not reference data",
    ):
        assert expected in found
