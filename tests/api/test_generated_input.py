"""Generated input: queries and mutations drawn from our own schema (hypothesis-graphql) with
hostile strings, numbers, dates and ids, sent to the app as a tenant OWNER, a platform admin
and anonymously. No answer may be a 5xx, a body that is not JSON, or an INTERNAL error.

Derandomized (the same documents on every run) and bounded: CHANNELBILL_GENERATED_EXAMPLES (200)
per caller and database, some 10 to 30 seconds per database. A failure prints the field and the
document that caused it.
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from functools import cache
from typing import Any

import hypothesis_graphql as hg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes

from schema.build import build_schema
from schema.errors import INTERNAL
from schema.relay import to_global_id
from tests.catalog import make_catalog
from tests.conftest import Api
from tests.factories import World

EXAMPLES = int(os.environ.get("CHANNELBILL_GENERATED_EXAMPLES", "200"))

HOSTILE_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\r\n",
    "Evil\r\nBcc: x@y.example",
    "=?utf-8?q?Evil=0D=0ABcc:_x=40y?=",
    "A" * 300,
    "x" * 5000,
    "Etc",
    "../../../../etc/passwd",
    "UTC",
    "Europe/Berlin",
    "EUR",
    "usd",
    "JPY",
    "1e30",
    "NaN",
    "-1",
    "2026-11-01",
    "0001-01-01",
    "9999-12-31T23:59:59-05:00",
    "Acme;=1+1;@SUM(9)",
    "owner@alpha.example",
    "a@b",
    "not an email",
    "\u202eevil",
    "\ufeff",
    "\U0001f680 Rocket",
    "%",
    "_",
    "\\",
    "' OR 1=1 --",
    '"',
    "<script>alert(1)</script>",
    "customers:read billing:write",
    "root",
    "https://alpha.example",
    "javascript:alert(1)",
]
TEXT = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=40))
DATES = st.one_of(
    st.sampled_from(
        ["1900-01-01", "9000-12-31", "0001-01-01", "9999-12-31", "2026-02-30", "2026-13-01", "x"]
    ),
    st.dates(min_value=date(1890, 1, 1), max_value=date(9010, 12, 31)).map(date.isoformat),
)
INSTANTS = st.one_of(
    st.sampled_from(
        [
            "0001-01-01T00:00:00+05:00",
            "9999-12-31T23:59:59-05:00",
            "2026-11-01T10:00:00",
            "2026-11-01T10:00:00Z",
            "2026-11-01T10:00:00+14:00",
            "2026-11-01",
        ]
    ),
    st.datetimes(min_value=datetime(1890, 1, 1)).map(lambda d: d.isoformat() + "+00:00"),
)
DECIMALS = st.one_of(
    st.sampled_from(
        ["1e30", "-0", "0", "0.0000001", "99999999999999999999", "1E+13", "NaN", "1_0", "-5"]
    ),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers().map(str),
)


def ids(world: World, shop: Any) -> st.SearchStrategy[str]:
    """Ids of real objects of both tenants, so mutations reach past NOT_FOUND, and garbage."""
    real = [to_global_id("Customer", c) for t in (world.a, world.b) for c in t.customers] + [
        to_global_id("User", u) for t in (world.a, world.b) for u in t.users.values()
    ]
    real += [to_global_id("Reseller", world.a.id), to_global_id("Reseller", world.b.id)]
    real += [to_global_id("Product", p) for p in shop.products.values()]
    real += [to_global_id("Vendor", v) for v in shop.vendors.values()]
    real += [to_global_id("ApiClient", c.id) for c in world.a.clients.values()]
    return st.one_of(st.sampled_from(real), TEXT)


@cache
def _schema() -> Any:
    return build_schema()._schema  # type: ignore[attr-defined]


def root_fields() -> list[str]:
    schema = _schema()
    return sorted(schema.query_type.fields) + sorted(schema.mutation_type.fields)


def documents(world: World, shop: Any) -> dict[str, st.SearchStrategy[str]]:
    """A strategy per root field: drawing the field first spreads the examples over all of them."""
    scalars = {
        "String": TEXT.map(nodes.String),
        "ID": ids(world, shop).map(nodes.String),
        "Date": DATES.map(nodes.String),
        "DateTime": INSTANTS.map(nodes.String),
        "Decimal": DECIMALS.map(nodes.String),
        # Known codes (so that a mutation gets past the scalar) and anything else.
        "CurrencyCode": st.one_of(st.sampled_from(["EUR", "usd", "JPY", "KWD"]), TEXT).map(
            nodes.String
        ),
        "JSON": TEXT.map(nodes.String),
    }
    return {
        name: hg.from_schema(_schema(), fields=[name], custom_scalars=scalars)
        for name in root_fields()
    }


GENERATED = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
# Function-scoped fixtures are made once for all the examples of a test: so is its catalog.
_made: list[tuple[World, dict[str, st.SearchStrategy[str]]]] = []


async def _documents(db: Any, world: World) -> dict[str, st.SearchStrategy[str]]:
    if not _made or _made[0][0] is not world:
        shop = await make_catalog(db)
        _made[:] = [(world, documents(world, shop))]
    return _made[0][1]


@pytest.mark.parametrize("who", ["owner", "platform", None])
@GENERATED
@given(data=st.data())
async def test_no_generated_operation_is_internal(api: Api, db, world: World, who, data):
    # given any operation of the schema, with hostile values, as this caller
    strategies = await _documents(db, world)
    field = data.draw(st.sampled_from(sorted(strategies)), label="field")
    document = data.draw(strategies[field], label="document")
    token = world.token(who, world.a) if who else None

    # when it is sent
    response = await api.raw(document, token=token)

    # then the answer is JSON, and no error is INTERNAL
    assert response.status_code < 500, document
    body = json.loads(response.content)
    codes = [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
    assert INTERNAL not in codes, body
