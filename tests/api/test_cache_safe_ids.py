"""A normalized client cache (Apollo, Relay, urql) keys objects by __typename and id: two objects
with the same key must never disagree, or the cache shows one where the other belongs. Snapshots
(an invoice's parties, an audit entry's actor) carry no `id`; settings objects carry one, so a
cached copy is updated by the mutation that changes them."""

from __future__ import annotations

from typing import Any

from db.scope import TenantScope
from schema.relay import to_global_id
from tests.billing.drafts import month, retail_drafts, run_billing
from tests.catalog import make_catalog
from tests.factories import World

INVOICES = """{ invoices(first: 10) { edges { node { __typename id
  seller { __typename kind accountId name } buyer { __typename kind accountId name }
  customer { __typename id name } } } } }"""
RENAME = """mutation($id: ID!) { updateCustomer(input: {customerId: $id, name: "Renamed GmbH"}) {
  customer { __typename id name } errors { code } } }"""
SETTINGS = """mutation { updateNotificationSettings(input: {senderName: "Alpha Billing"}) {
  notificationSettings { __typename id senderName } effective { __typename id senderName }
  errors { code } } }"""
READ_SETTINGS = """{ notificationSettings { __typename id senderName }
  effectiveNotificationSettings { __typename id senderName } }"""


def _normalize(value: Any, cache: dict[tuple[str, str], dict[str, Any]], clashes: list) -> None:
    """Merge every identified object into ``cache`` as a normalized cache would."""
    if isinstance(value, list):
        for item in value:
            _normalize(item, cache, clashes)
    elif isinstance(value, dict):
        if "__typename" in value and "id" in value:
            key = (value["__typename"], value["id"])
            stored = cache.setdefault(key, {})
            for field, field_value in value.items():
                if not isinstance(field_value, dict | list):
                    if field in stored and stored[field] != field_value:
                        clashes.append((key, field, stored[field], field_value))
                    stored[field] = field_value
        for field_value in value.values():
            _normalize(field_value, cache, clashes)


async def test_an_invoice_keeps_its_buyers_name_and_the_cache_its_customers(api, db, world: World):
    # given invoices of a customer, which is then renamed, and billed once more
    shop = await make_catalog(db)
    await retail_drafts(db, world.a.id, world.a.customers[:1], [shop.products["m365"]], periods=2)
    owner = world.token("owner", world.a)
    customer = to_global_id("Customer", world.a.customers[0])
    renamed = await api(RENAME, {"id": customer}, token=owner)
    assert renamed["data"]["updateCustomer"]["errors"] == []
    await run_billing(db, TenantScope.tenant(world.a.id), month(8))
    # when a page of invoices is read after the renaming
    page = await api(INVOICES, token=owner)
    invoices = [edge["node"] for edge in page["data"]["invoices"]["edges"]]
    # then each names the buyer as invoiced, and the live customer by its new name
    assert sorted(i["buyer"]["name"] for i in invoices) == [
        "Alpha Customer 1",
        "Alpha Customer 1",
        "Renamed GmbH",
    ]
    assert {i["customer"]["name"] for i in invoices} == {"Renamed GmbH"}
    assert {i["buyer"]["accountId"] for i in invoices} == {customer}
    # and a normalized cache holding both answers never sees one object disagree with itself
    cache: dict[tuple[str, str], dict[str, Any]] = {}
    clashes: list = []
    for answer in (renamed, page):
        _normalize(answer["data"], cache, clashes)
    assert clashes == []
    assert cache[("Customer", customer)]["name"] == "Renamed GmbH"


async def test_settings_objects_have_stable_ids_so_an_update_refreshes_the_cached_copy(
    api, world: World
):
    owner = world.token("owner", world.a)
    before = (await api(READ_SETTINGS, token=owner))["data"]
    changed = (await api(SETTINGS, token=owner))["data"]["updateNotificationSettings"]
    assert changed["errors"] == []
    assert changed["notificationSettings"]["id"] == before["notificationSettings"]["id"]
    assert changed["effective"]["id"] == before["effectiveNotificationSettings"]["id"]
    # another seller's settings are another object
    other = (await api(READ_SETTINGS, token=world.token("owner", world.b)))["data"]
    assert other["notificationSettings"]["id"] != before["notificationSettings"]["id"]
