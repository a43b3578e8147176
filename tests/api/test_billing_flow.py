"""A month of billing over HTTP, as a reseller's control panel does it: price products, subscribe a
customer, record usage, generate the month's invoices, fill a draft's required custom field, post
it, void another, discard a third, list them by customer and period, view one in another currency,
read the customer's statement. Then the same reads without billing access, and through a portal.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event

from billing.generation import BillingRun, RunRequest
from billing.subscriptions import NewSubscription, create_subscription
from core.clock import utcnow
from db.database import Database
from db.scope import TenantScope
from schema.relay import to_global_id
from tenants import services
from tenants.audit import Actor
from tests.catalog import Shop, make_catalog
from tests.conftest import Api, error_codes
from tests.factories import World

SET_PRICE = """mutation($input: SetPriceInput!) {
  setPrice(input: $input) { priceOverride { currency price { amount } markupPercent }
    errors { code field message } }
}"""
EFFECTIVE = """query($p: ID!, $c: ID!) {
  effectivePrice(productId: $p, customerId: $c) { price { amount currency } source
    cost { amount } margin { amount } }
}"""
SUBSCRIBE = """mutation($input: CreateCustomerSubscriptionInput!) {
  createCustomerSubscription(input: $input) { subscription { id quantity } errors { code field } }
}"""
USAGE = """mutation($input: RecordUsageInput!) {
  recordUsage(input: $input) { usageRecord { id quantity } duplicate errors { code field } }
}"""
GENERATE = """mutation($input: GenerateInvoicesInput!) {
  generateInvoices(input: $input) {
    invoices { id status number documentId customer { id } vendor { name } total { amount } }
    skipped { reason invoice { id } }
    errors { code field message }
  }
}"""
DEFINE_FIELD = """mutation($input: DefineInvoiceCustomFieldInput!) {
  defineInvoiceCustomField(input: $input) { customField { key required } errors { code } }
}"""
SET_FIELDS = """mutation($input: SetInvoiceCustomFieldsInput!) {
  setInvoiceCustomFields(input: $input) {
    invoice { customFields { key value } } errors { code field message }
  }
}"""
UPDATE_STATUS = """mutation($input: UpdateInvoiceStatusInput!) {
  updateInvoiceStatus(input: $input) {
    invoice { status number issuedAt dueDate allowedTransitions total { amount } }
    errors { code field message }
  }
}"""
DISCARD = """mutation($id: ID!) {
  discardInvoice(input: {invoiceId: $id}) { discardedInvoiceId errors { code message } }
}"""
LIST = """query($filter: InvoiceFilter, $first: Int) {
  invoices(first: $first, filter: $filter) {
    totalCount
    edges { node { id status number periodStart periodEnd currency
      lines { description quantity unitPrice { amount } amount { amount } priceSource
        product { sku } }
      subtotal { amount } tax { amount } total { amount } amountDue { amount }
      seller { kind name } buyer { kind name } vendor { name } } }
  }
}"""
CONVERTED = """query($id: ID!) {
  node(id: $id) { ... on Invoice { total { amount currency }
    convertedTotal(currency: "USD") { amount currency rate rateDate } } }
}"""
STATEMENT = """query($id: ID!) {
  node(id: $id) { ... on Customer { balance { amount }
    statement(from: "2026-01-01", to: "2099-12-31") {
      currency openingBalance { amount } closingBalance { amount }
      entries { kind reference debit { amount } credit { amount } balance { amount } }
      aging { asOf total { amount } }
    } } }
}"""
NOVEMBER = {"periodStart": "2026-11-01", "periodEnd": "2026-11-30"}


def gid(type_name: str, id_: Any) -> str:
    return to_global_id(type_name, id_)


async def ok(api: Api, document: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
    body = await api(document, variables, token)
    assert "errors" not in body, body
    payload = next(iter(body["data"].values()))
    if isinstance(payload, dict) and "errors" in payload:
        assert payload["errors"] == [], payload
    return body["data"]


@pytest.fixture
async def shop(db: Database, world: World) -> Shop:
    return await make_catalog(db)


async def test_a_month_of_billing_over_http(api: Api, world: World, shop: Shop):
    # given a reseller user with billing access, and three customers billed in EUR
    token = world.token("billing_manager", world.a)
    c1, c2, c3 = (gid("Customer", c) for c in world.a.customers)
    m365, support, s3 = (gid("Product", shop.products[k]) for k in ("m365", "support", "s3"))

    # prices: 25 % over cost for every customer, a fixed price for one
    await ok(
        api,
        SET_PRICE,
        {"input": {"productId": m365, "currency": "EUR", "markupPercent": "25"}},
        token,
    )
    fixed = await ok(
        api,
        SET_PRICE,
        {"input": {"productId": support, "customerId": c2, "currency": "EUR", "price": "80"}},
        token,
    )
    assert fixed["setPrice"]["priceOverride"]["price"]["amount"] == "80.00"
    price = (await ok(api, EFFECTIVE, {"p": m365, "c": c1}, token))["effectivePrice"]
    assert price == {
        "price": {"amount": "20.625", "currency": "EUR"},  # 16.50 * 1.25
        "source": "RESELLER_OVERRIDE",
        "cost": {"amount": "16.50"},
        "margin": {"amount": "4.125"},
    }

    # subscriptions and usage; a re-sent usage record is recorded once
    for customer, product, quantity in ((c1, m365, 4), (c2, support, 1), (c3, m365, 2)):
        await ok(
            api,
            SUBSCRIBE,
            {
                "input": {
                    "customerId": customer,
                    "productId": product,
                    "quantity": quantity,
                    "startDate": "2026-11-01",
                }
            },
            token,
        )
    usage = {
        "customerId": c1,
        "productId": s3,
        "quantity": "250.5",
        "occurredAt": "2026-11-10T12:00:00+00:00",
        "reference": "s3-2026-11-10",
    }
    first = await ok(api, USAGE, {"input": usage}, token)
    again = await ok(api, USAGE, {"input": usage}, token)
    assert first["recordUsage"]["duplicate"] is False
    assert again["recordUsage"]["duplicate"] is True
    assert again["recordUsage"]["usageRecord"]["id"] == first["recordUsage"]["usageRecord"]["id"]

    # when the month is billed, twice
    run = (await ok(api, GENERATE, {"input": NOVEMBER}, token))["generateInvoices"]
    rerun = (await ok(api, GENERATE, {"input": NOVEMBER}, token))["generateInvoices"]

    # then: c1 gets a Microsoft and an AWS invoice, c2 and c3 one each; the rerun makes nothing
    made = {(i["customer"]["id"], i["vendor"]["name"]): i for i in run["invoices"]}
    assert set(made) == {(c1, "Microsoft"), (c1, "AWS"), (c2, "AWS"), (c3, "Microsoft")}
    assert all(i["status"] == "DRAFT" and i["number"] is None for i in run["invoices"])
    assert rerun["invoices"] == []
    assert sorted(s["invoice"]["id"] for s in rerun["skipped"]) == sorted(
        i["id"] for i in run["invoices"]
    )
    assert {s["reason"] for s in rerun["skipped"]} == {"EXISTS"}
    to_post, to_void, to_discard = (
        made[(c1, "Microsoft")]["id"],
        made[(c2, "AWS")]["id"],
        made[(c3, "Microsoft")]["id"],
    )
    # 4 seats x 20.625 = 82.50, plus 19 % tax
    assert made[(c1, "Microsoft")]["total"]["amount"] == "98.18"

    # a required custom field blocks posting until it has a value
    await ok(
        api,
        DEFINE_FIELD,
        {"input": {"key": "po_number", "label": "PO number", "type": "TEXT", "required": True}},
        token,
    )
    refused = (
        await api(UPDATE_STATUS, {"input": {"invoiceId": to_post, "status": "OPEN"}}, token)
    )["data"]["updateInvoiceStatus"]
    assert refused["invoice"] is None
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [
        ("CUSTOM_FIELD_REQUIRED", "customFields.po_number")
    ]
    filled = await ok(
        api,
        SET_FIELDS,
        {"input": {"invoiceId": to_post, "values": [{"key": "po_number", "value": "PO-77"}]}},
        token,
    )
    assert filled["setInvoiceCustomFields"]["invoice"]["customFields"] == [
        {"key": "po_number", "value": "PO-77"}
    ]
    posted = (
        await ok(api, UPDATE_STATUS, {"input": {"invoiceId": to_post, "status": "OPEN"}}, token)
    )["updateInvoiceStatus"]["invoice"]
    assert posted["status"] == "OPEN"
    assert posted["number"].startswith("ALPHA-") and posted["number"].endswith("-000001")
    assert posted["allowedTransitions"] == ["CLOSED", "VOID"]

    # void another (posted first: only an OPEN invoice can be voided), discard a third
    await ok(
        api,
        SET_FIELDS,
        {"input": {"invoiceId": to_void, "values": [{"key": "po_number", "value": "PO-78"}]}},
        token,
    )
    await ok(
        api,
        UPDATE_STATUS,
        {"input": {"invoiceId": to_void, "status": "OPEN", "notifyCustomer": False}},
        token,
    )
    voided = (
        await ok(api, UPDATE_STATUS, {"input": {"invoiceId": to_void, "status": "VOID"}}, token)
    )["updateInvoiceStatus"]["invoice"]
    assert voided["status"] == "VOID" and voided["allowedTransitions"] == []
    back = (await api(UPDATE_STATUS, {"input": {"invoiceId": to_void, "status": "OPEN"}}, token))[
        "data"
    ]["updateInvoiceStatus"]
    assert [e["code"] for e in back["errors"]] == ["INVALID_TRANSITION"]
    discarded = await ok(api, DISCARD, {"id": to_discard}, token)
    assert discarded["discardInvoice"]["discardedInvoiceId"] == to_discard
    not_twice = (await api(DISCARD, {"id": to_post}, token))["data"]["discardInvoice"]
    assert [e["code"] for e in not_twice["errors"]] == ["INVALID_TRANSITION"]

    # list by customer and period
    listed = await ok(
        api,
        LIST,
        {"filter": {"customerId": c1, "periodFrom": "2026-11-15", "periodTo": "2026-12-15"}},
        token,
    )
    nodes = [e["node"] for e in listed["invoices"]["edges"]]
    assert listed["invoices"]["totalCount"] == 2
    assert {n["vendor"]["name"] for n in nodes} == {"Microsoft", "AWS"}
    aws = next(n for n in nodes if n["vendor"]["name"] == "AWS")
    assert aws["lines"] == [
        {
            "description": aws["lines"][0]["description"],
            "quantity": "250.5",
            "unitPrice": {"amount": "0.021296"},  # 0.023 USD at 1 / 1.08
            "amount": {"amount": "5.33"},
            "priceSource": "CONVERTED_MSRP",
            "product": {"sku": "AWS-S3-GB"},
        }
    ]
    assert aws["seller"] == {"kind": "RESELLER", "name": "Alpha Reseller"}
    assert aws["buyer"] == {"kind": "CUSTOMER", "name": "Alpha Customer 1"}
    outside = await ok(api, LIST, {"filter": {"customerId": c1, "periodFrom": "2026-12-01"}}, token)
    assert outside["invoices"]["totalCount"] == 0

    # view the posted invoice in USD
    converted = (await ok(api, CONVERTED, {"id": to_post}, token))["node"]
    rate = Decimal(converted["convertedTotal"]["rate"])
    assert converted["convertedTotal"]["currency"] == "USD"
    assert Decimal(converted["convertedTotal"]["amount"]) == (
        Decimal(converted["total"]["amount"]) * rate
    ).quantize(Decimal("0.01"))

    # the customer's statement: the posted invoice, nothing of drafts
    account = (await ok(api, STATEMENT, {"id": c1}, token))["node"]
    statement = account["statement"]
    assert account["balance"] == {"amount": "98.18"}
    assert statement["openingBalance"] == {"amount": "0.00"}
    assert statement["entries"] == [
        {
            "kind": "INVOICE",
            "reference": posted["number"],
            "debit": {"amount": "98.18"},
            "credit": {"amount": "0.00"},
            "balance": {"amount": "98.18"},
        }
    ]
    assert statement["closingBalance"] == {"amount": "98.18"}
    assert statement["aging"]["total"] == {"amount": "98.18"}
    aged_on = date.fromisoformat(statement["aging"]["asOf"])  # today in the customer's zone
    assert abs((aged_on - utcnow().date()).days) <= 1  # not 2099-12-31
    # a VOID invoice is there as the invoice and its reversal, netting to zero
    voided_customer = (await ok(api, STATEMENT, {"id": c2}, token))["node"]["statement"]
    total = voided["total"]
    assert voided_customer["entries"] == [
        {
            "kind": "INVOICE",
            "reference": voided["number"],
            "debit": total,
            "credit": {"amount": "0.00"},
            "balance": total,
        },
        {
            "kind": "VOID",
            "reference": voided["number"],
            "debit": {"amount": "0.00"},
            "credit": total,
            "balance": {"amount": "0.00"},
        },
    ]
    assert voided_customer["closingBalance"]["amount"] == "0.00"

    # without billing access: every billing field is refused, the rest resolves
    member = world.token("member", world.a)
    body = await api(
        """query($c: ID!, $p: ID!, $i: ID!) {
          invoices { totalCount }
          effectivePrice(productId: $p, customerId: $c) { source }
          node(id: $i) { id }
          customer: node(id: $c) { ... on Customer { name balance { amount }
            statement(from: "2026-01-01", to: "2026-12-31") { currency } } }
        }""",
        {"c": c1, "p": m365, "i": to_post},
        member,
    )
    assert body["data"]["invoices"] is None
    assert body["data"]["effectivePrice"] is None
    assert body["data"]["node"] is None
    assert body["data"]["customer"] == {
        "name": "Alpha Customer 1",
        "balance": None,
        "statement": None,
    }
    assert set(error_codes(body)) == {"BILLING_ACCESS_REQUIRED"}
    assert len(error_codes(body)) == 5
    for document, variables in (
        (GENERATE, {"input": NOVEMBER}),
        (UPDATE_STATUS, {"input": {"invoiceId": to_post, "status": "CLOSED"}}),
        (DISCARD, {"id": made[(c1, "AWS")]["id"]}),
        (SET_PRICE, {"input": {"productId": m365, "currency": "EUR", "price": "1"}}),
    ):
        refused_body = await api(document, variables, member)
        assert error_codes(refused_body) == ["BILLING_ACCESS_REQUIRED"], document

    # a portal token of c1 sees its posted invoice, never its draft
    portal = await api(LIST, {}, world.token("portal", world.a))
    seen = [e["node"] for e in portal["data"]["invoices"]["edges"]]
    assert [(n["id"], n["status"]) for n in seen] == [(to_post, "OPEN")]
    draft = await api(CONVERTED, {"id": made[(c1, "AWS")]["id"]}, world.token("portal", world.a))
    assert draft["data"]["node"] is None and error_codes(draft) == ["NOT_FOUND"]

    # and another reseller sees none of it
    other = await api(LIST, {}, world.token("owner", world.b))
    assert other["data"]["invoices"]["totalCount"] == 0
    foreign = await api(
        UPDATE_STATUS,
        {"input": {"invoiceId": to_post, "status": "CLOSED"}},
        world.token("owner", world.b),
    )
    assert [e["code"] for e in foreign["data"]["updateInvoiceStatus"]["errors"]] == ["NOT_FOUND"]


PAGE = """query($first: Int) { invoices(first: $first) { edges { node {
  number total { amount } vendor { name } customer { name }
  lines { amount { amount } product { sku } } } } } }"""


async def test_an_invoices_page_costs_the_same_number_of_statements_at_any_size(
    api: Api, db: Database, world: World, shop: Shop
):
    # given 100 customers with two subscriptions each, billed: 100 invoices of two lines
    scope = TenantScope.tenant(world.a.id)
    async with db.write(scope) as session:
        customers = list(world.a.customers)
        for n in range(100 - len(customers)):
            new = services.NewCustomer(name=f"Bulk {n}", email=f"bulk{n}@x.example", currency="EUR")
            customers.append((await services.create_customer(session, scope, new)).id)
        for customer in customers:
            for product in ("m365", "teams"):
                await create_subscription(
                    session,
                    scope,
                    NewSubscription(customer, shop.products[product], 1, date(2026, 11, 1)),
                )
        await BillingRun(session, scope, Actor.system(), "Platform").run(
            RunRequest(date(2026, 11, 1), date(2026, 11, 30))
        )
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    # when pages of 10, 50 and 100 are read with lines, products, vendors and customers
    counts = {}
    for engine in db.engines:
        event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        for size in (10, 50, 100):
            statements.clear()
            body = await api(PAGE, {"first": size}, world.token("owner", world.a))
            assert "errors" not in body, body
            assert len(body["data"]["invoices"]["edges"]) == size
            assert all(len(e["node"]["lines"]) == 2 for e in body["data"]["invoices"]["edges"])
            # (on PostgreSQL each unit of work also starts with BEGIN and its set_config for RLS)
            counts[size] = len(
                [s for s in statements if s.startswith("SELECT") and "set_config" not in s]
            )
    finally:
        for engine in db.engines:
            event.remove(engine.sync_engine, "before_cursor_execute", count)

    # then the same number of statements for all three
    assert counts[10] == counts[50] == counts[100], counts
    assert counts[10] <= 8, counts
