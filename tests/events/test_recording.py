"""Each event type is recorded by the operation that makes the change, in its transaction: a
change that fails or rolls back records nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.models import InvoiceKind
from core.global_ids import to_global_id
from db.database import Database
from db.scope import TenantScope
from jobs.runner import JobRunner
from tenants import services
from tests.billing.drafts import load, retail_drafts, run_billing, subscribe
from tests.catalog import Shop, make_catalog
from tests.conftest import Api
from tests.events import EVENTS, nodes, stored
from tests.factories import World
from tests.notifications import Outbox, SmtpServer, free_port
from tests.payments.harness import OWNER, Payments, build

CREATE_CUSTOMER = """mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id } errors { code field } }
}"""
UPDATE_CUSTOMER = """mutation($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) { customer { id } errors { code field } }
}"""
SUBSCRIBE = """mutation($input: CreateCustomerSubscriptionInput!) {
  createCustomerSubscription(input: $input) { subscription { id } errors { code field } }
}"""
END = """mutation($input: EndCustomerSubscriptionInput!) {
  endCustomerSubscription(input: $input) { subscription { id endDate } errors { code field } }
}"""
USAGE = """mutation($input: RecordUsageBatchInput!) {
  recordUsageBatch(input: $input) { usageRecords { id } errors { code field } }
}"""
STATUS = """mutation($input: UpdateInvoiceStatusInput!) {
  updateInvoiceStatus(input: $input) { invoice { id status } errors { code field } }
}"""
DISCARD = """mutation($input: DiscardInvoiceInput!) {
  discardInvoice(input: $input) { discardedInvoiceId errors { code field } }
}"""
RECORD_PAYMENT = """mutation($input: RecordPaymentInput!) {
  recordPayment(input: $input) { payment { id status } errors { code field } }
}"""


@pytest.fixture
async def shop(db: Database, world: World) -> Shop:
    return await make_catalog(db)


def _errors(body: dict, field: str) -> list:  # type: ignore[type-arg]
    assert "errors" not in body, body
    return body["data"][field]["errors"]


async def test_customer_subscription_and_usage_events_come_from_their_mutations(
    api: Api, db: Database, world: World, shop: Shop
):
    owner = world.token("owner", world.a)
    before = len(await stored(db))
    # when a customer is created, changed, subscribed, its subscription ended, usage recorded
    body = await api(
        CREATE_CUSTOMER,
        {"input": {"name": "Initech", "email": "ap@initech.example", "currency": "EUR"}},
        owner,
    )
    assert _errors(body, "createCustomer") == []
    customer_id = body["data"]["createCustomer"]["customer"]["id"]
    body = await api(
        UPDATE_CUSTOMER, {"input": {"customerId": customer_id, "name": "Initech GmbH"}}, owner
    )
    assert _errors(body, "updateCustomer") == []
    body = await api(
        SUBSCRIBE,
        {
            "input": {
                "customerId": customer_id,
                "productId": to_global_id("Product", shop.products["m365"]),
                "quantity": 3,
                "startDate": "2026-11-01",
            }
        },
        owner,
    )
    assert _errors(body, "createCustomerSubscription") == []
    subscription_id = body["data"]["createCustomerSubscription"]["subscription"]["id"]
    body = await api(
        END, {"input": {"subscriptionId": subscription_id, "endDate": "2026-12-31"}}, owner
    )
    assert _errors(body, "endCustomerSubscription") == []
    record = {
        "customerId": customer_id,
        "productId": to_global_id("Product", shop.products["azure"]),
        "occurredAt": "2026-11-05T10:00:00+01:00",
    }
    body = await api(
        USAGE,
        {"input": {"records": [{**record, "quantity": q} for q in ("1.5", "2", "0.25")]}},
        owner,
    )
    assert _errors(body, "recordUsageBatch") == []
    # then each change is one event, in order, with a snapshot in the API's spelling
    seen = nodes(await api(EVENTS, {"first": 100}, owner))
    mine = [e for e in seen if e["type"] != "invoice.created"][-5:]
    assert [e["type"] for e in mine] == [
        "customer.created",
        "customer.updated",
        "subscription.created",
        "subscription.ended",
        "usage.recorded",  # one event for the batch of three
    ]
    assert [e["objectId"] for e in mine[:2]] == [customer_id, customer_id]
    assert mine[0]["payload"]["name"] == "Initech" and mine[1]["payload"]["name"] == "Initech GmbH"
    assert mine[1]["payload"]["id"] == customer_id
    assert mine[2]["objectId"] == subscription_id == mine[3]["objectId"]
    assert mine[2]["payload"]["quantity"] == 3 and mine[3]["payload"]["endDate"] == "2026-12-31"
    assert mine[3]["payload"]["customer"] == {"id": customer_id}
    usage = mine[4]["payload"]["records"]
    assert all(isinstance(r["quantity"], str) for r in usage)  # decimals as strings
    assert [Decimal(r["quantity"]) for r in usage] == [Decimal("1.5"), Decimal(2), Decimal("0.25")]
    assert len(await stored(db)) == before + 5


async def test_a_failing_mutation_records_nothing(api: Api, db: Database, world: World, shop: Shop):
    owner = world.token("owner", world.a)
    before = [e.id for e in await stored(db)]
    customer = to_global_id("Customer", world.a.customers[0])
    # a bad email, an unknown customer, a batch with one bad record, a subscription to a
    # usage product, an ending before the start
    bad = [
        (CREATE_CUSTOMER, {"input": {"name": "X", "email": "not-an-email", "currency": "EUR"}}),
        (UPDATE_CUSTOMER, {"input": {"customerId": customer, "email": "nope"}}),
        (
            USAGE,
            {
                "input": {
                    "records": [
                        {
                            "customerId": customer,
                            "productId": to_global_id("Product", shop.products["azure"]),
                            "occurredAt": "2026-11-05T10:00:00+01:00",
                            "quantity": "1",
                        },
                        {
                            "customerId": customer,
                            "productId": to_global_id("Product", shop.products["m365"]),
                            "occurredAt": "2026-11-05T10:00:00+01:00",
                            "quantity": "1",
                        },
                    ]
                }
            },
        ),
        (
            SUBSCRIBE,
            {
                "input": {
                    "customerId": customer,
                    "productId": to_global_id("Product", shop.products["azure"]),
                    "quantity": 1,
                    "startDate": "2026-11-01",
                }
            },
        ),
    ]
    for document, variables in bad:
        body = await api(document, variables, owner)
        payload = next(iter(body["data"].values()))
        assert payload["errors"], body
    assert [e.id for e in await stored(db)] == before


async def test_an_event_rolls_back_with_its_transaction(db: Database, world: World):
    scope = TenantScope.tenant(world.a.id)
    before = len(await stored(db))
    with pytest.raises(RuntimeError):
        async with db.write(scope) as session:
            await services.create_customer(
                session,
                scope,
                services.NewCustomer(name="Gone", email="gone@example.com", currency="EUR"),
            )
            raise RuntimeError("the rest of the change failed")
    assert len(await stored(db)) == before


async def test_invoice_events_from_generation_to_payment(
    api: Api, db: Database, world: World, shop: Shop
):
    owner = world.token("owner", world.a)
    a = world.a
    # when a billing run makes drafts
    drafts = await retail_drafts(db, a.id, a.customers[:3], [shop.products["m365"]])
    created = await stored(db, "invoice.created")
    assert sorted(e.object_id for e in created) == sorted(
        to_global_id("Invoice", i) for i in drafts
    )
    first = next(e for e in created if e.object_id == to_global_id("Invoice", drafts[0]))
    invoice = await load(db, drafts[0])
    assert invoice is not None
    assert first.payload["status"] == "DRAFT" and first.billing is True
    assert first.payload["total"] == {
        "amount": str(invoice.total.quantize(Decimal("0.01"))),
        "currency": "EUR",
    }
    assert first.customer_id == a.customers[0]
    # and an invalid transition is refused and records nothing
    ids = [to_global_id("Invoice", i) for i in drafts]
    count = len(await stored(db))
    body = await api(STATUS, {"input": {"invoiceId": ids[0], "status": "CLOSED"}}, owner)
    assert [e["code"] for e in _errors(body, "updateInvoiceStatus")]
    assert len(await stored(db)) == count
    # when one is posted and paid in full, one posted and voided, one discarded
    for n in (0, 1):
        body = await api(
            STATUS,
            {"input": {"invoiceId": ids[n], "status": "OPEN", "notifyCustomer": False}},
            owner,
        )
        assert _errors(body, "updateInvoiceStatus") == []
    posted = await load(db, drafts[0])
    assert posted is not None
    body = await api(
        RECORD_PAYMENT,
        {
            "input": {
                "invoiceId": ids[0],
                "amount": str(posted.total),
                "method": "BANK_TRANSFER",
                "reference": "TRF-1",
            }
        },
        owner,
    )
    assert _errors(body, "recordPayment") == []
    payment_id = body["data"]["recordPayment"]["payment"]["id"]
    body = await api(
        STATUS, {"input": {"invoiceId": ids[1], "status": "VOID", "notifyCustomer": False}}, owner
    )
    assert _errors(body, "updateInvoiceStatus") == []
    body = await api(DISCARD, {"input": {"invoiceId": ids[2]}}, owner)
    assert _errors(body, "discardInvoice") == []
    # then the log tells it in order
    later = [(e.type, e.object_id) for e in await stored(db)][count:]
    assert later == [
        ("invoice.posted", ids[0]),
        ("invoice.posted", ids[1]),
        ("payment.succeeded", payment_id),
        ("invoice.paid", ids[0]),
        ("invoice.voided", ids[1]),
        ("invoice.discarded", ids[2]),
    ]
    paid = (await stored(db, "invoice.paid"))[0].payload
    assert paid["status"] == "CLOSED" and paid["amountDue"]["amount"] == "0.00"
    assert paid["number"] == posted.number
    payment = (await stored(db, "payment.succeeded"))[0].payload
    assert payment["invoice"] == {"id": ids[0]} and payment["reference"] == "TRF-1"
    assert payment["method"] == "BANK_TRANSFER" and payment["status"] == "SUCCEEDED"


async def _autopay_declined(
    db: Database, world: World, shop: Shop, *, retries: int
) -> tuple[Payments, int]:
    """A's platform invoice posted with a declining card on file and its autopay run; the
    services, and how many events were stored before."""
    payments = build(db, retries=retries)
    a = world.a.id
    await payments.cards.update(a, "pm_card_chargeCustomerFail", OWNER)
    invoice_id = await payments.wholesale_invoice(shop, a, world.a.customers[0])
    start = len(await stored(db))
    await payments.post(invoice_id)
    assert await payments.run_due() == 1
    return payments, start


async def test_dunning_records_failed_payments_and_the_accounts_standing(
    db: Database, world: World, shop: Shop
):
    # when autopay fails, then its one retry, then a new card reactivates and pays
    payments, start = await _autopay_declined(db, world, shop, retries=1)
    a = world.a.id
    [retry] = await payments.retries(a)
    payments.clock.now = retry.run_at
    assert await payments.run_due() == 1
    payments.clock.advance(hours=1)
    change = await payments.cards.reactivate(a, "pm_card_visa", OWNER)
    assert change.retry_at is not None
    payments.clock.now = change.retry_at
    assert await payments.run_due() == 1
    # then
    later = [e for e in await stored(db)][start:]
    assert [e.type for e in later] == [
        "invoice.posted",
        "payment.failed",
        "account.past_due",
        "payment.failed",
        "account.deactivated",
        "account.reactivated",
        "payment.succeeded",
        "invoice.paid",
    ]
    reseller = to_global_id("Reseller", a)
    accounts = [e for e in later if e.type.startswith("account.")]
    assert {e.object_id for e in accounts} == {reseller}
    assert [e.payload["status"] for e in accounts] == ["PAST_DUE", "DEACTIVATED", "ACTIVE"]
    failed = next(e for e in later if e.type == "payment.failed").payload
    assert failed["status"] == "FAILED" and failed["failureReason"] == "Your card was declined."
    assert all(e.reseller_id == a and e.billing for e in later)
    assert all(e.customer_id is None for e in later)  # the platform's invoice: no customer


async def test_a_past_due_account_settled_before_deactivation_records_that_it_is_paid_up(
    db: Database, world: World, shop: Shop
):
    # when autopay fails, then a new card pays at the retry it moved
    payments, start = await _autopay_declined(db, world, shop, retries=3)
    a = world.a.id
    assert (await payments.reseller(a)).status == "PAST_DUE"
    await payments.cards.update(a, "pm_card_visa", OWNER)
    [retry] = await payments.retries(a)
    payments.clock.now = retry.run_at
    assert await payments.run_due() == 1
    # then the account's recovery is an event of its own, after the payment that settled it
    later = [e for e in await stored(db)][start:]
    assert (await payments.reseller(a)).status == "ACTIVE"
    accounts = [e for e in later if e.type.startswith("account.")]
    assert [e.type for e in accounts] == ["account.past_due", "account.paid_up"]
    assert [e.payload["status"] for e in accounts] == ["PAST_DUE", "ACTIVE"]
    types = [e.type for e in later]
    assert types.index("payment.succeeded") < types.index("account.paid_up")
    assert {e.object_id for e in accounts} == {to_global_id("Reseller", a)}


async def test_a_notification_given_up_is_an_event(db: Database, world: World):
    smtp = SmtpServer(free_port())
    smtp.start()
    try:
        smtp.inbox.reject["gone@example.com"] = "550 5.1.1 no such user"
        outbox = Outbox(db)
        [row_id] = await outbox.queue(world.a.id, to="gone@example.com", subject="Hello")
        await outbox.queue(world.b.id, to="fine@example.com", subject="Hello")
        assert await outbox.dispatcher(smtp.transport()).run_once() == 2
    finally:
        smtp.stop()
    [event] = await stored(db, "notification.failed")
    assert event.reseller_id == world.a.id and event.billing is False
    assert event.payload["recipient"] == "gone@example.com"
    assert event.payload["status"] == "FAILED"
    assert event.payload["error"].startswith("all recipients refused: 550")
    assert event.object_id == to_global_id("Notification", row_id)


async def test_a_wholesale_run_records_events_under_each_buyer(
    db: Database, world: World, shop: Shop
):
    await subscribe(db, world.a.id, world.a.customers[:1], [shop.products["m365"]])
    await subscribe(db, world.b.id, world.b.customers[:1], [shop.products["m365"]])
    made = await run_billing(db, TenantScope.system(), kind=InvoiceKind.WHOLESALE)
    created = await stored(db, "invoice.created")
    assert sorted(e.reseller_id for e in created) == sorted([world.a.id, world.b.id])
    assert {e.object_id for e in created} == {to_global_id("Invoice", i) for i in made}
    assert all(e.payload["billTo"] == "RESELLER" for e in created)


async def test_housekeeping_deletes_events_past_retention(db: Database, world: World):
    from datetime import timedelta

    from core.clock import utcnow
    from events.retention import forget_events_older_than
    from jobs.housekeeping import Housekeeping, schedule_housekeeping

    assert await stored(db, "customer.created")  # the world's customers
    # noon: the run it queues for the next day (03:00) is due by the next noon, whatever the hour
    later = (utcnow() + timedelta(days=31)).replace(hour=12)
    await schedule_housekeeping(db, later)
    runner = JobRunner(
        db,
        {
            "housekeeping": Housekeeping(
                db, clock=lambda: later, steps=[forget_events_older_than(30)]
            )
        },
        clock=lambda: later,
    )
    assert await runner.run_due() == 1
    assert await stored(db) == []
    # and a retention longer than their age keeps them
    async with db.write(TenantScope.tenant(world.a.id)) as session:
        await services.create_customer(
            session,
            TenantScope.tenant(world.a.id),
            services.NewCustomer(name="Kept", email="kept@example.com", currency="EUR"),
        )
    keep = Housekeeping(db, clock=lambda: later, steps=[forget_events_older_than(32)])
    await schedule_housekeeping(db, later + timedelta(days=1))
    runner = JobRunner(db, {"housekeeping": keep}, clock=lambda: later + timedelta(days=1))
    assert await runner.run_due() == 1
    assert len(await stored(db, "customer.created")) == 1
