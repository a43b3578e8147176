"""generateInvoices over HTTP when a buyer cannot be invoiced: the others are, and the payload names
the one left out and why; periods at the edges of the calendar are BAD_USER_INPUT on the field."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from billing.subscriptions import NewSubscription, NewUsage, create_subscription, record_usage
from db.database import Database
from db.scope import TenantScope
from schema.relay import to_global_id
from tenants import services
from tests.catalog import Shop, make_catalog
from tests.conftest import Api
from tests.factories import World

GENERATE = """mutation($input: GenerateInvoicesInput!) {
  generateInvoices(input: $input) {
    invoices { id buyer { kind accountId name } vendor { name } total { amount } }
    skipped { reason message buyer { kind accountId name } vendor { name } invoice { id } }
    errors { code field message }
  }
}"""
NOVEMBER = {"periodStart": "2026-11-01", "periodEnd": "2026-11-30"}


@pytest.fixture
async def shop(db: Database, world: World) -> Shop:
    return await make_catalog(db)


async def chf_customer(db: Database, world: World, shop: Shop) -> str:
    """A customer billed in CHF on Teams, priced in USD only: no USD/CHF rate is published."""
    scope = TenantScope.tenant(world.a.id)
    async with db.write(scope) as session:
        customer = await services.create_customer(
            session,
            scope,
            services.NewCustomer(name="Zurich AG", email="ap@zurich.example", currency="CHF"),
        )
        await create_subscription(
            session,
            scope,
            NewSubscription(customer.id, shop.products["teams"], 1, date(2026, 1, 1)),  # type: ignore[arg-type]
        )
    return to_global_id("Customer", customer.id)


async def subscribe_first_customer(db: Database, world: World, shop: Shop) -> None:
    scope = TenantScope.tenant(world.a.id)
    async with db.write(scope) as session:
        await create_subscription(
            session,
            scope,
            NewSubscription(world.a.customers[0], shop.products["m365"], 1, date(2026, 1, 1)),  # type: ignore[arg-type]
        )


async def test_a_customer_without_a_rate_is_skipped_by_name_and_the_others_are_invoiced(
    api: Api, db: Database, world: World, shop: Shop
):
    # given
    zurich = await chf_customer(db, world, shop)
    await subscribe_first_customer(db, world, shop)
    owner = world.token("owner", world.a)
    # when
    body = await api(GENERATE, {"input": NOVEMBER}, token=owner)
    # then
    assert "errors" not in body, body
    payload = body["data"]["generateInvoices"]
    assert payload["errors"] == []
    [made] = payload["invoices"]
    assert made["buyer"]["accountId"] == to_global_id("Customer", world.a.customers[0])
    assert payload["skipped"] == [
        {
            "reason": "RATE_UNAVAILABLE",
            "message": 'customer "Zurich AG" (MS-TEAMS-ESS):'
            " no exchange rate from USD to CHF on or before 2026-11-30",
            "buyer": {"kind": "CUSTOMER", "accountId": zurich, "name": "Zurich AG"},
            "vendor": {"name": "Microsoft"},
            "invoice": None,
        }
    ]
    # and a second run reports the invoice made as EXISTS, and the customer still without a rate
    again = (await api(GENERATE, {"input": NOVEMBER}, token=owner))["data"]["generateInvoices"]
    assert again["invoices"] == []
    assert sorted((s["reason"], (s["invoice"] or {}).get("id")) for s in again["skipped"]) == [
        ("EXISTS", made["id"]),
        ("RATE_UNAVAILABLE", None),
    ]


async def test_a_reseller_with_usage_too_large_to_store_is_skipped_in_the_wholesale_run(
    api: Api, db: Database, world: World, shop: Shop
):
    # given B's customer with 300 records of the largest usage a record may have, A's ordinary
    scope = TenantScope.tenant(world.b.id)
    moment = datetime(2026, 11, 10, 12, tzinfo=UTC)
    most = Decimal("9999999999999")
    async with db.write(scope) as session:
        await record_usage(
            session,
            scope,
            [NewUsage(world.b.customers[0], shop.products["azure"], most, moment)] * 300,  # type: ignore[arg-type]
        )
    await subscribe_first_customer(db, world, shop)
    # when the platform bills the resellers
    body = await api(
        GENERATE, {"input": {**NOVEMBER, "billTo": "RESELLER"}}, token=world.token("platform")
    )
    # then
    payload = body["data"]["generateInvoices"]
    assert payload["errors"] == []
    assert [i["buyer"]["name"] for i in payload["invoices"]] == ["Alpha Reseller"]
    [skipped] = payload["skipped"]
    assert skipped["reason"] == "AMOUNT_OUT_OF_RANGE"
    assert skipped["buyer"] == {
        "kind": "RESELLER",
        "accountId": to_global_id("Reseller", world.b.id),
        "name": "Bravo Reseller",
    }
    assert skipped["message"].startswith('reseller "Bravo Reseller": the quantity of line 1')


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        pytest.param("0001-01-01", "0001-01-31", "periodStart", id="year-1"),
        pytest.param("9999-12-01", "9999-12-31", "periodStart", id="year-9999"),
        pytest.param("9998-12-01", "9999-01-31", "periodEnd", id="into-9999"),
        pytest.param("0001-01-01", "9999-12-31", "periodStart", id="everything"),
        pytest.param("2026-01-01", "2099-12-31", "periodEnd", id="huge-range"),
        pytest.param("2026-11-30", "2026-11-01", "periodEnd", id="backwards"),
    ],
)
@pytest.mark.parametrize("caller", ["owner", "platform"])
async def test_a_period_at_the_edges_is_bad_user_input_on_the_field(
    api: Api, world: World, shop: Shop, start: str, end: str, field: str, caller: str
):
    # given
    token = world.token("platform") if caller == "platform" else world.token(caller, world.a)
    bill_to = "RESELLER" if caller == "platform" else "CUSTOMER"
    # when
    body = await api(
        GENERATE,
        {"input": {"periodStart": start, "periodEnd": end, "billTo": bill_to}},
        token=token,
    )
    # then a date past what a Date takes is refused before anything runs, naming the field; a
    # period that is wrong as a whole is refused by the run, in its payload
    if "errors" in body:
        assert body["data"] is None
        assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}, body
        fields = [e["extensions"]["field"] for e in body["errors"]]
        assert f"input.{field}" in fields and set(fields) <= {
            "input.periodStart",
            "input.periodEnd",
        }
        return
    payload = body["data"]["generateInvoices"]
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("BAD_USER_INPUT", field)]
    assert payload["invoices"] == payload["skipped"] == []
