"""The demo data: a month of billing, always the month before today, seen through the API as a
newcomer in GraphiQL would see it."""

from __future__ import annotations

import time
from datetime import date

from sqlalchemy import select

from db.database import Database
from db.scope import TenantScope
from notifications.models import OutboxMessage
from server.demo import demo_month, seed_demo
from server.settings import Settings
from tests.conftest import Api

TODAY = date(2027, 1, 14)  # the demo then bills December 2026: the year turns in between
LOGIN = """mutation($email: String!) {
  login(input: {email: $email, password: "channelbill-demo"}) { accessToken errors { code } }
}"""
INVOICES = """query($filter: InvoiceFilter) {
  invoices(first: 100, filter: $filter) { totalCount edges { node {
    number status periodStart periodEnd currency customer { name } buyer { name } vendor { name }
    customFields { key value }
    lines { description quantity priceSource serviceStart serviceEnd }
  } } }
}"""
CATALOG = """{
  vendors { name }
  products(first: 100) { totalCount edges { node { sku kind } } }
}"""
BRANDING = """{ effectiveNotificationSettings { senderName logoDataUri controlPanelUrl } }"""
PRICE = """query($customer: ID!, $product: ID!) {
  effectivePrice(customerId: $customer, productId: $product) { price { amount currency } source }
}"""
IDS = """{
  customers(first: 10, search: "north") { edges { node { id } } }
  products(first: 100) { edges { node { id sku } } }
}"""


async def sign_in(api: Api, email: str) -> str:
    body = await api(LOGIN, {"email": email})
    assert body["data"]["login"]["errors"] == [], body
    token: str = body["data"]["login"]["accessToken"]
    return token


async def invoices(api: Api, token: str, **filter_: object) -> list[dict]:
    body = await api(INVOICES, {"filter": filter_ or None}, token=token)
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"]["invoices"]["edges"]]


def test_the_demo_month_is_the_calendar_month_before_today():
    assert demo_month(date(2026, 12, 1)) == (date(2026, 11, 1), date(2026, 11, 30))
    assert demo_month(date(2027, 1, 14)) == (date(2026, 12, 1), date(2026, 12, 31))
    assert demo_month(date(2028, 3, 31)) == (date(2028, 2, 1), date(2028, 2, 29))


async def test_the_demo_shows_last_months_retail_invoices(api: Api, db: Database, settings):
    # given the demo data, loaded on TODAY
    assert await seed_demo(db, settings, today=TODAY)
    # when Acme's owner lists its invoices
    owner = await sign_in(api, "owner@acme.example")
    found = await invoices(api, owner)
    # then they are December's, one per customer and vendor, in every state an invoice has
    assert {(i["periodStart"], i["periodEnd"]) for i in found} == {("2026-12-01", "2026-12-31")}
    by_key = {(i["customer"]["name"], i["vendor"]["name"]): i for i in found}
    assert by_key[("Northwind Traders", "Microsoft")]["status"] == "CLOSED"
    assert by_key[("Contoso Pharmaceuticals", "AWS")]["status"] == "VOID"
    assert by_key[("Tailspin Toys", "AWS")]["status"] == "DRAFT"
    assert by_key[("Tailspin Toys", "AWS")]["number"] is None
    posted = [i for i in found if i["status"] == "OPEN"]
    assert len(posted) >= 2
    assert all(i["number"].startswith("ACME-") for i in found if i["number"])
    # and a customer in another currency than the reseller's is billed in its own
    assert by_key[("Fabrikam Logistics", "Microsoft")]["currency"] == "GBP"
    # and the PO number custom field has values
    po = by_key[("Northwind Traders", "Microsoft")]["customFields"]
    assert {"key": "po_number", "value": "PO-4711"} in po


async def test_the_demo_invoices_show_proration_usage_and_own_prices(api: Api, db, settings):
    # given the demo data
    await seed_demo(db, settings, today=TODAY)
    owner = await sign_in(api, "owner@acme.example")
    # when the owner reads Northwind's invoice
    (northwind,) = [
        i
        for i in await invoices(api, owner)
        if i["customer"]["name"] == "Northwind Traders" and i["vendor"]["name"] == "Microsoft"
    ]
    lines = {line["description"]: line for line in northwind["lines"]}
    # then Teams, subscribed mid-month, is billed from its first day on (prorated)
    teams = next(line for name, line in lines.items() if "Teams" in name)
    assert teams["serviceStart"] == "2026-12-15"
    # and Microsoft 365 comes at Northwind's own price, Azure from the usage records
    m365 = next(line for name, line in lines.items() if "365" in name)
    assert m365["priceSource"] == "CUSTOMER_OVERRIDE"
    azure = next(line for name, line in lines.items() if "Azure" in name)
    assert azure["quantity"] == "170"  # 4 records of 42.5
    # and the reseller-wide markup applies to another customer
    ids = (await api(IDS, token=owner))["data"]
    products = {e["node"]["sku"]: e["node"]["id"] for e in ids["products"]["edges"]}
    contoso = [
        i
        for i in await invoices(api, owner)
        if i["customer"]["name"] == "Contoso Pharmaceuticals" and i["vendor"]["name"] == "Microsoft"
    ]
    assert any(line["priceSource"] == "RESELLER_OVERRIDE" for line in contoso[0]["lines"])
    price = await api(
        PRICE,
        {"customer": ids["customers"]["edges"][0]["node"]["id"], "product": products["MS-M365-BP"]},
        token=owner,
    )
    assert price["data"]["effectivePrice"]["price"] == {"amount": "19.90", "currency": "EUR"}


async def test_the_demo_has_the_platforms_wholesale_invoices_posted(api: Api, db, settings):
    # given the demo data
    await seed_demo(db, settings, today=TODAY)
    # when the platform admin and a reseller's owner look at the bills to resellers
    admin = await sign_in(api, "admin@example.com")
    wholesale = await invoices(api, admin, billTo="RESELLER")
    own_bills = await invoices(api, await sign_in(api, "owner@globex.example"), billTo="RESELLER")
    # then each reseller has one posted bill per vendor, in its own currency: Acme's card paid
    # its two by autopay, Globex's was declined and its two are still open
    assert len(wholesale) == 4
    assert sorted((i["buyer"]["name"], i["status"]) for i in wholesale) == [
        ("Acme Cloud", "CLOSED"),
        ("Acme Cloud", "CLOSED"),
        ("Globex IT", "OPEN"),
        ("Globex IT", "OPEN"),
    ]
    assert all(i["number"].startswith("CB-") for i in wholesale)
    assert {i["currency"] for i in own_bills} == {"USD"}
    assert len(own_bills) == 2
    globex = await api(
        "{ viewer { reseller { status dunning { state nextRetryAt lastFailureReason } } } }",
        token=await sign_in(api, "owner@globex.example"),
    )
    standing = globex["data"]["viewer"]["reseller"]
    assert standing["status"] == "PAST_DUE"
    assert standing["dunning"]["lastFailureReason"] == "Your card was declined."
    assert standing["dunning"]["nextRetryAt"]


async def test_the_demo_has_a_catalog_branding_and_sends_one_email(api: Api, db, settings):
    # given the demo data
    await seed_demo(db, settings, today=TODAY)
    owner = await sign_in(api, "owner@acme.example")
    # when the owner reads the catalog and its branding
    catalog = (await api(CATALOG, token=owner))["data"]
    branding = (await api(BRANDING, token=owner))["data"]["effectiveNotificationSettings"]
    # then there are two vendors, with recurring and usage products
    assert {v["name"] for v in catalog["vendors"]} == {"AWS", "Microsoft"}
    assert {e["node"]["kind"] for e in catalog["products"]["edges"]} == {"RECURRING", "USAGE"}
    # and Acme's emails carry its own logo and name
    assert branding["senderName"] == "Acme Cloud Billing"
    assert branding["logoDataUri"].startswith("data:image/png;base64,")
    # and seeding queued one email to a customer (the one posting that notifies), not one per
    # invoice; and the platform's mail of collecting: Acme's two receipts, Globex's failed charge
    async with db.read(TenantScope.system()) as session:
        events = sorted(await session.scalars(select(OutboxMessage.event)))
    assert events == ["INVOICE_PAID", "INVOICE_PAID", "INVOICE_POSTED", "PAYMENT_FAILED"]


async def test_seeding_runs_once_and_quickly(db: Database, settings: Settings, backend: str):
    # given an empty database
    # when the demo is loaded twice
    started = time.perf_counter()
    first = await seed_demo(db, settings)
    elapsed = time.perf_counter() - started
    second = await seed_demo(db, settings)
    # then the second time loads nothing, and the first took a few seconds at most (about 2.5 s
    # on SQLite on a busy 2-core machine, most of it hashing the demo password once)
    assert (first, second) == (True, False)
    assert elapsed < 10, f"seeding took {elapsed:.1f} s"
