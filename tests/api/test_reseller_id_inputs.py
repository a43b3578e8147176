"""A resellerId naming another reseller than the caller's own is refused as NOT_FOUND, like any
other tenant's object, and changes nothing of either: prices and custom invoice fields."""

from __future__ import annotations

import pytest

from db.database import Database
from schema.relay import to_global_id
from tests.catalog import Shop, make_catalog
from tests.conftest import Api
from tests.factories import World

SET_PRICE = """mutation($input: SetPriceInput!) {
  setPrice(input: $input) { priceOverride { id } errors { code field } }
}"""
REMOVE_PRICE = """mutation($input: RemovePriceInput!) {
  removePrice(input: $input) { removedPriceOverrideId errors { code field } }
}"""
OVERRIDES = "{ priceOverrides { id } }"
DEFINE = """mutation($input: DefineInvoiceCustomFieldInput!) {
  defineInvoiceCustomField(input: $input) { customField { key } errors { code field } }
}"""
REMOVE_FIELD = """mutation($input: RemoveInvoiceCustomFieldInput!) {
  removeInvoiceCustomField(input: $input) { removedKey errors { code field } }
}"""
FIELDS = "{ invoiceCustomFields { key } }"


@pytest.fixture
async def shop(db: Database, world: World) -> Shop:
    return await make_catalog(db)


def price_input(shop: Shop, reseller: str | None, **more) -> dict:
    named = {"resellerId": reseller} if reseller else {}
    return {
        "productId": to_global_id("Product", shop.products["m365"]),
        "currency": "EUR",
        **named,
        **more,
    }


async def test_a_price_for_another_reseller_is_refused(api: Api, world: World, shop: Shop):
    owner = world.token("owner", world.a)
    other = to_global_id("Reseller", world.b.id)
    # when A's owner sets, then removes, a reseller-wide price naming B
    body = await api(SET_PRICE, {"input": price_input(shop, other, price="1")}, owner)
    # then it is refused as not found, and A's own prices are untouched
    assert body["data"]["setPrice"] == {
        "priceOverride": None,
        "errors": [{"code": "NOT_FOUND", "field": "resellerId"}],
    }
    assert (await api(OVERRIDES, token=owner))["data"]["priceOverrides"] == []
    # and with a price of A's own in place, removing "B's" leaves it
    await api(SET_PRICE, {"input": price_input(shop, None, price="2")}, owner)
    removed = await api(REMOVE_PRICE, {"input": price_input(shop, other)}, owner)
    assert removed["data"]["removePrice"]["errors"] == [
        {"code": "NOT_FOUND", "field": "resellerId"}
    ]
    assert len((await api(OVERRIDES, token=owner))["data"]["priceOverrides"]) == 1
    # a customer of A with B named beside it is refused too
    customer = to_global_id("Customer", world.a.customers[0])
    mixed = await api(
        SET_PRICE, {"input": price_input(shop, other, price="1", customerId=customer)}, owner
    )
    assert mixed["data"]["setPrice"]["errors"] == [{"code": "NOT_FOUND", "field": "resellerId"}]
    # naming one's own reseller is fine
    own = to_global_id("Reseller", world.a.id)
    mine = await api(SET_PRICE, {"input": price_input(shop, own, price="3")}, owner)
    assert mine["data"]["setPrice"]["errors"] == []


async def test_a_platform_admin_naming_no_such_reseller_gets_not_found(
    api: Api, world: World, shop: Shop
):
    missing = to_global_id("Reseller", world.admin_id)  # a real id, of no reseller
    body = await api(
        SET_PRICE, {"input": price_input(shop, missing, price="1")}, world.token("platform")
    )
    assert body["data"]["setPrice"]["errors"] == [{"code": "NOT_FOUND", "field": "resellerId"}]


async def test_a_custom_field_for_another_reseller_is_refused(api: Api, world: World):
    owner = world.token("owner", world.a)
    other = to_global_id("Reseller", world.b.id)
    field = {"key": "po_number", "label": "PO number", "type": "TEXT"}
    # when A's owner defines a field naming B
    body = await api(DEFINE, {"input": {**field, "resellerId": other}}, owner)
    # then it is refused, and neither A nor B has the field
    assert body["data"]["defineInvoiceCustomField"] == {
        "customField": None,
        "errors": [{"code": "NOT_FOUND", "field": "resellerId"}],
    }
    assert (await api(FIELDS, token=owner))["data"]["invoiceCustomFields"] == []
    b_owner = world.token("owner", world.b)
    assert (await api(FIELDS, token=b_owner))["data"]["invoiceCustomFields"] == []
    # and removing A's own field while naming B leaves it
    await api(DEFINE, {"input": field}, owner)
    removed = await api(REMOVE_FIELD, {"input": {"key": "po_number", "resellerId": other}}, owner)
    assert removed["data"]["removeInvoiceCustomField"]["errors"] == [
        {"code": "NOT_FOUND", "field": "resellerId"}
    ]
    assert (await api(FIELDS, token=owner))["data"]["invoiceCustomFields"] == [{"key": "po_number"}]
