"""Payments over the API: a deactivated reseller reaches billing only and reactivates in one
request; idempotency keys repeat nothing; recorded and partial payments close an invoice once
fully paid; a card number is never taken."""

from __future__ import annotations

import asyncio
import json
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update
from starlette.applications import Starlette

from billing.models import InvoiceKind, InvoiceStatus
from db.database import Database
from db.scope import TenantScope
from payments.models import SandboxCharge
from tenants.models import AccountStatus, Reseller
from tests.api.test_access_matrix import gid
from tests.billing.drafts import SYSTEM, load, run_billing, subscribe
from tests.catalog import make_catalog
from tests.conftest import error_codes
from tests.factories import World
from tests.payments.harness import OWNER

PAY = """mutation($id: ID!, $key: String) { payInvoice(input: {invoiceId: $id, idempotencyKey: $key}) {
  payment { id status trigger attempt amount { amount } gatewayReference }
  invoice { status amountPaid { amount } amountDue { amount } }
  errors { code message field } } }"""
RECORD = """mutation($input: RecordPaymentInput!) { recordPayment(input: $input) {
  payment { id status method trigger reference amount { amount } }
  invoice { status amountPaid { amount } amountDue { amount } payments { amount { amount } } }
  errors { code message field } } }"""
REACTIVATE = """mutation($token: String!) { reactivateAccount(input: {paymentToken: $token}) {
  reseller { status dunning { state attempts nextRetryAt } } paymentMethod { brand last4 }
  nextRetryAt errors { code message field } } }"""
UPDATE_CARD = """mutation($token: String!) { updatePaymentMethod(input: {paymentToken: $token}) {
  paymentMethod { brand last4 expYear } errors { code message field } } }"""


async def _invoices(app: Starlette, db: Database, world: World) -> tuple[uuid.UUID, uuid.UUID]:
    """The platform's OPEN invoice to A (autopay off), and an OPEN invoice of A's customer."""
    shop = await make_catalog(db)
    services = app.state.services
    await services.payments.cards.set_autopay(world.a.id, False, OWNER)
    a0 = world.a.customers[0]
    await subscribe(db, world.a.id, [a0], [shop.products["m365"]], 2)
    [wholesale] = await run_billing(db, TenantScope.system(), kind=InvoiceKind.WHOLESALE)
    [retail] = await run_billing(db, TenantScope.tenant(world.a.id), customer_ids=[a0])
    async with db.write(TenantScope.system()) as session:
        for invoice_id in (wholesale, retail):
            await services.lifecycle.update_status(
                session, TenantScope.system(), SYSTEM, invoice_id, InvoiceStatus.OPEN, False
            )
    return wholesale, retail


async def _charges(db: Database, reseller_id: uuid.UUID) -> int:
    async with db.read(TenantScope.system()) as session:
        count = await session.scalar(
            select(func.count()).where(SandboxCharge.reseller_id == reseller_id)
        )
    return int(count or 0)


async def _deactivate(db: Database, reseller_id: uuid.UUID) -> None:
    async with db.write(TenantScope.system()) as session:
        await session.execute(
            update(Reseller)
            .where(Reseller.id == reseller_id)
            .values(status=AccountStatus.DEACTIVATED, dunning_retries=3)
        )


async def test_a_deactivated_reseller_reaches_billing_only(api, app, db: Database, world: World):
    wholesale, _retail = await _invoices(app, db, world)
    await _deactivate(db, world.a.id)
    owner = world.token("owner", world.a)
    # billing stays reachable: who it is, its own bills, its card
    body = await api(
        "{ viewer { reseller { status paymentMethod { last4 } } }"
        " invoices { edges { node { id buyer { name } } } } }",
        token=owner,
    )
    assert "errors" not in body, body
    assert body["data"]["viewer"]["reseller"]["status"] == "DEACTIVATED"
    ids = [e["node"]["id"] for e in body["data"]["invoices"]["edges"]]
    assert ids == [gid("Invoice", wholesale)]  # its own bills from the platform, no customer's
    # everything else is refused before it runs, saying how to reactivate and who can
    refused = await api("{ customers { totalCount } }", token=owner)
    assert error_codes(refused) == ["ACCOUNT_DEACTIVATED"] and refused["data"] is None
    message = refused["errors"][0]["message"]
    assert "reactivateAccount" in message and "billing access" in message
    assert refused["errors"][0]["extensions"]["fields"] == ["customers"]
    mixed = await api("{ viewer { kind } customers { totalCount } }", token=owner)
    assert error_codes(mixed) == ["ACCOUNT_DEACTIVATED"]
    created = await api(
        'mutation { createCustomer(input: {name: "N", email: "n@x.example", currency: "EUR"})'
        " { errors { code } } }",
        token=world.token("client_all", world.a),
    )
    assert error_codes(created) == ["ACCOUNT_DEACTIVATED"]
    # another reseller, its customers' portals and platform admins are not held back
    assert "errors" not in await api(
        "{ customers { totalCount } }", token=world.token("owner", world.b)
    )
    portal = await api("{ invoices { totalCount } }", token=world.token("portal", world.a))
    assert "errors" not in portal and portal["data"]["invoices"]["totalCount"] == 1
    assert "errors" not in await api("{ customers { totalCount } }", token=world.token("platform"))


async def test_reactivation_is_immediate_and_a_refused_card_changes_nothing(
    api, app, db: Database, world: World
):
    wholesale, _ = await _invoices(app, db, world)
    await app.state.services.payments.cards.update(world.a.id, "pm_card_chargeCustomerFail", OWNER)
    owner = world.token("owner", world.a)
    failed = (await api(PAY, {"id": gid("Invoice", wholesale)}, owner))["data"]["payInvoice"]
    assert failed["payment"]["status"] == "FAILED"
    await _deactivate(db, world.a.id)
    # a card the gateway refuses: still DEACTIVATED, with the gateway's reason
    refused = await api(
        REACTIVATE, {"token": "pm_card_visa_chargeDeclinedInsufficientFunds"}, owner
    )
    [error] = refused["data"]["reactivateAccount"]["errors"]
    assert (error["code"], error["field"]) == ("CARD_DECLINED", "paymentToken")
    assert error["message"] == "Your card has insufficient funds."
    assert (await api("{ customers { totalCount } }", token=owner))["errors"]
    # a member without billing access may not reactivate
    member = await api(REACTIVATE, {"token": "pm_card_visa"}, world.token("member", world.a))
    assert error_codes(member) == ["BILLING_ACCESS_REQUIRED"]
    # a good card: ACTIVE in that same answer, the retry the upcoming evening
    done = (await api(REACTIVATE, {"token": "pm_card_visa"}, owner))["data"]["reactivateAccount"]
    assert done["errors"] == []
    assert done["reseller"]["status"] == "ACTIVE" and done["paymentMethod"]["last4"] == "4242"
    assert done["nextRetryAt"] and done["reseller"]["dunning"]["nextRetryAt"] == done["nextRetryAt"]
    # and the next request reaches everything again
    assert "errors" not in await api("{ customers { totalCount } }", token=owner)


async def test_pay_invoice_with_a_key_charges_once(api, app, db: Database, world: World):
    wholesale, _ = await _invoices(app, db, world)
    await app.state.services.payments.cards.update(world.a.id, "pm_card_visa", OWNER)
    owner = world.token("owner", world.a)
    key = f"pay-{uuid.uuid4()}"
    first = (await api(PAY, {"id": gid("Invoice", wholesale), "key": key}, owner))["data"][
        "payInvoice"
    ]
    assert first["errors"] == [] and first["payment"]["status"] == "SUCCEEDED"
    assert first["payment"]["trigger"] == "MANUAL" and first["payment"]["gatewayReference"]
    assert (
        first["invoice"]["status"] == "CLOSED" and first["invoice"]["amountDue"]["amount"] == "0.00"
    )
    # the same key again: the first result, nothing charged
    again = (await api(PAY, {"id": gid("Invoice", wholesale), "key": key}, owner))["data"][
        "payInvoice"
    ]
    assert again["errors"] == [] and again["payment"]["id"] == first["payment"]["id"]
    assert await _charges(db, world.a.id) == 1
    # without a key, a paid invoice cannot be paid again
    repeat = (await api(PAY, {"id": gid("Invoice", wholesale)}, owner))["data"]["payInvoice"]
    assert repeat["errors"][0]["code"] == "PAYMENT_NOT_POSSIBLE"
    assert await _charges(db, world.a.id) == 1


async def test_a_reused_key_with_other_input_is_refused(api, app, db: Database, world: World):
    _, retail = await _invoices(app, db, world)
    owner = world.token("owner", world.a)
    base = {"invoiceId": gid("Invoice", retail), "method": "BANK_TRANSFER", "idempotencyKey": "k1"}
    first = (await api(RECORD, {"input": {**base, "amount": "1.00"}}, owner))["data"][
        "recordPayment"
    ]
    assert first["errors"] == []
    again = (await api(RECORD, {"input": {**base, "amount": "1.00"}}, owner))["data"][
        "recordPayment"
    ]
    assert again["payment"]["id"] == first["payment"]["id"]
    assert len(again["invoice"]["payments"]) == 1  # recorded once
    changed = (await api(RECORD, {"input": {**base, "amount": "2.00"}}, owner))["data"][
        "recordPayment"
    ]
    assert [e["code"] for e in changed["errors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    assert changed["errors"][0]["field"] == "idempotencyKey"
    # keys are the tenant's own: B's same key is a different request
    other = await api(RECORD, {"input": {**base, "amount": "1.00"}}, world.token("owner", world.b))
    assert other["data"]["recordPayment"]["errors"][0]["code"] == "NOT_FOUND"


@pytest.mark.postgresql
async def test_two_concurrent_pay_invoice_with_one_key_charge_once(
    api, app, db: Database, world: World, backend: str
):
    wholesale, _ = await _invoices(app, db, world)
    await app.state.services.payments.cards.update(world.a.id, "pm_card_visa", OWNER)
    owner = world.token("owner", world.a)
    variables = {"id": gid("Invoice", wholesale), "key": "same"}
    answers = await asyncio.gather(*(api(PAY, variables, owner) for _ in range(4)))
    payments = {a["data"]["payInvoice"]["payment"]["id"] for a in answers}
    assert len(payments) == 1, answers
    assert all(a["data"]["payInvoice"]["errors"] == [] for a in answers)
    assert await _charges(db, world.a.id) == 1


async def test_partial_payments_add_up_and_close_the_invoice(api, app, db: Database, world: World):
    _, retail = await _invoices(app, db, world)
    invoice = await load(db, retail)
    assert invoice is not None
    owner = world.token("owner", world.a)
    due = invoice.total.quantize(Decimal("0.01"))
    part = (due / 2).quantize(Decimal("0.01"))
    base = {"invoiceId": gid("Invoice", retail), "method": "CHEQUE", "reference": "CHQ 0042"}
    first = (await api(RECORD, {"input": {**base, "amount": str(part)}}, owner))["data"][
        "recordPayment"
    ]
    assert first["errors"] == [] and first["invoice"]["status"] == "OPEN"
    assert first["payment"]["reference"] == "CHQ 0042" and first["payment"]["method"] == "CHEQUE"
    assert first["invoice"]["amountDue"]["amount"] == str(due - part)
    # more than what is left is refused and changes nothing
    over = (await api(RECORD, {"input": {**base, "amount": str(due)}}, owner))["data"][
        "recordPayment"
    ]
    assert [(e["code"], e["field"]) for e in over["errors"]] == [("AMOUNT_EXCEEDS_DUE", "amount")]
    # the rest closes it
    rest = (await api(RECORD, {"input": {**base, "amount": str(due - part)}}, owner))["data"][
        "recordPayment"
    ]
    assert (
        rest["invoice"]["status"] == "CLOSED" and rest["invoice"]["amountDue"]["amount"] == "0.00"
    )
    assert len(rest["invoice"]["payments"]) == 2
    # a CLOSED invoice takes no more
    late = (await api(RECORD, {"input": {**base, "amount": "1.00"}}, owner))["data"][
        "recordPayment"
    ]
    assert late["errors"][0]["code"] == "INVOICE_NOT_OPEN"


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"amount": "0"}, "BAD_USER_INPUT", "amount"),
        ({"amount": "-5"}, "BAD_USER_INPUT", "amount"),
        ({"amount": "1.001"}, "BAD_USER_INPUT", "amount"),
        ({"method": "CARD"}, "BAD_USER_INPUT", "method"),
        ({"currency": "USD"}, "BAD_USER_INPUT", "currency"),
        ({"receivedAt": "2099-01-01T00:00:00Z"}, "BAD_USER_INPUT", "receivedAt"),
        ({"reference": "x" * 201}, "BAD_USER_INPUT", "reference"),
    ],
)
async def test_bad_recorded_payments_change_nothing(
    api, app, db: Database, world: World, changes, code, field
):
    _, retail = await _invoices(app, db, world)
    owner = world.token("owner", world.a)
    base = {"invoiceId": gid("Invoice", retail), "method": "BANK_TRANSFER", "amount": "1.00"}
    body = await api(RECORD, {"input": {**base, **changes}}, owner)
    assert [(e["code"], e["field"]) for e in body["data"]["recordPayment"]["errors"]] == [
        (code, field)
    ]
    invoice = await load(db, retail)
    assert invoice is not None and invoice.amount_paid == 0


async def test_a_card_number_is_refused_and_never_echoed(api, app, db: Database, world: World):
    owner = world.token("owner", world.a)
    body = await api(UPDATE_CARD, {"token": "4242 4242 4242 4242"}, owner)
    [error] = body["data"]["updatePaymentMethod"]["errors"]
    assert error["field"] == "paymentToken" and "4242" not in error["message"]
    good = (await api(UPDATE_CARD, {"token": "pm_card_visa"}, owner))["data"]["updatePaymentMethod"]
    assert good["errors"] == [] and good["paymentMethod"]["brand"] == "visa"
    declined = await api(UPDATE_CARD, {"token": "pm_card_visa_chargeDeclined"}, owner)
    assert declined["data"]["updatePaymentMethod"]["errors"][0]["code"] == "CARD_DECLINED"
    # the refused card did not replace the good one
    body = await api("{ viewer { reseller { paymentMethod { last4 } } } }", token=owner)
    assert body["data"]["viewer"]["reseller"]["paymentMethod"]["last4"] == "4242"


async def test_generate_invoices_with_a_key_runs_once(api, app, db: Database, world: World):
    shop = await make_catalog(db)
    await subscribe(db, world.a.id, [world.a.customers[0]], [shop.products["m365"]], 2)
    owner = world.token("owner", world.a)
    run = """mutation($key: String) { generateInvoices(input: {periodStart: "2026-11-01",
      periodEnd: "2026-11-30", idempotencyKey: $key}) { invoices { id } skipped { reason } errors { code } } }"""
    first = (await api(run, {"key": "nov"}, owner))["data"]["generateInvoices"]
    again = (await api(run, {"key": "nov"}, owner))["data"]["generateInvoices"]
    assert first["invoices"] and again == first  # the first answer, not "skipped: EXISTS"
    fresh = (await api(run, {}, owner))["data"]["generateInvoices"]
    assert fresh["invoices"] == [] and {s["reason"] for s in fresh["skipped"]} == {"EXISTS"}


async def test_on_the_sandbox_a_card_setup_names_the_gateway_even_while_deactivated(
    api, db: Database, world: World
):
    # given a deactivated reseller on the sandbox gateway
    await _deactivate(db, world.a.id)
    owner = world.token("owner", world.a)
    # when its owner starts adding a card from the card page
    body = await api(
        "mutation { createCardSetup(input: {}) { gateway clientSecret publishableKey jsUrl"
        " errors { code } } }",
        token=owner,
    )
    # then it is open to a deactivated account, and the sandbox takes no card from a browser
    assert body["data"]["createCardSetup"] == {
        "gateway": "sandbox",
        "clientSecret": None,
        "publishableKey": None,
        "jsUrl": None,
        "errors": [],
    }, body


@pytest.mark.parametrize(
    "changes",
    [
        {"idempotencyKey": "k\u0000"},
        {"reference": "\ud800"},
        {"amount": "1" + "0" * 40},
        {"receivedAt": "9999-12-31T00:00:00Z"},
    ],
)
async def test_hostile_payment_input_gets_a_clear_error(
    api, app, db: Database, world: World, changes
):
    _, retail = await _invoices(app, db, world)
    base = {"invoiceId": gid("Invoice", retail), "method": "BANK_TRANSFER", "amount": "1.00"}
    # ASCII-escaped JSON, as a client sends a lone surrogate (it has no UTF-8 form)
    payload = json.dumps({"query": RECORD, "variables": {"input": {**base, **changes}}})
    response = await api.client.post(
        "/graphql",
        content=payload,
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {world.token('owner', world.a)}",
        },
    )
    assert response.status_code == 200
    body = response.json()
    codes = error_codes(body) or [e["code"] for e in body["data"]["recordPayment"]["errors"]]
    assert codes and set(codes) <= {"BAD_USER_INPUT"}, body
    invoice = await load(db, retail)
    assert invoice is not None and invoice.amount_paid == 0
