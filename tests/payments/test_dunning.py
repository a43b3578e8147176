"""Dunning on the sandbox gateway with a clock the test moves (issue: payments and dunning):
a failed autopay is retried the upcoming evening in the account's own time zone, the last
failed retry deactivates, a new card reactivates at once and is charged that evening."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from billing.models import InvoiceStatus, PaymentStatus, PaymentTrigger
from payments.schedule import RetryPolicy, upcoming_evening
from tenants.models import AccountStatus
from tests.billing.drafts import load, payments_of
from tests.catalog import Shop
from tests.factories import World
from tests.payments.harness import OWNER, Payments, build


def local(timezone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(timezone))  # type: ignore[misc]


def at_local(moment: datetime, timezone: str) -> tuple[int, int, int, int, int]:
    shown = moment.astimezone(ZoneInfo(timezone))
    return (shown.year, shown.month, shown.day, shown.hour, shown.minute)


@pytest.mark.parametrize(
    ("timezone", "failed_at", "expected"),
    [
        # the same evening when the failure is early enough, else the next day's
        ("Europe/Berlin", (2027, 3, 2, 14, 0), (2027, 3, 2, 20, 0)),
        ("Europe/Berlin", (2027, 3, 2, 19, 30), (2027, 3, 3, 20, 0)),
        ("Europe/Berlin", (2027, 3, 2, 23, 0), (2027, 3, 3, 20, 0)),
        ("Europe/Berlin", (2027, 3, 2, 18, 0), (2027, 3, 2, 20, 0)),  # exactly two hours
        ("Europe/Berlin", (2027, 3, 2, 18, 1), (2027, 3, 3, 20, 0)),
        # daylight saving time ends overnight (a 25-hour day): still 20:00 local
        ("Europe/Berlin", (2027, 10, 30, 19, 30), (2027, 10, 31, 20, 0)),
        # and begins (a 23-hour day)
        ("America/New_York", (2027, 3, 13, 23, 0), (2027, 3, 14, 20, 0)),
        ("Asia/Kolkata", (2027, 3, 2, 14, 0), (2027, 3, 2, 20, 0)),
        ("Pacific/Auckland", (2027, 4, 3, 19, 30), (2027, 4, 4, 20, 0)),  # DST ends there
    ],
)
def test_the_upcoming_evening(timezone: str, failed_at: tuple[int, ...], expected: tuple[int, ...]):
    retry = upcoming_evening(local(timezone, *failed_at), timezone)
    assert at_local(retry, timezone) == expected


def test_a_25_hour_day_is_one_calendar_day():
    berlin = "Europe/Berlin"
    before = upcoming_evening(local(berlin, 2027, 10, 30, 14, 0), berlin)
    after = upcoming_evening(local(berlin, 2027, 10, 30, 19, 30), berlin)
    assert (after - before).total_seconds() == 25 * 3600  # 20:00 CEST to 20:00 CET


def test_the_retry_hour_is_a_setting():
    retry = upcoming_evening(
        local("Asia/Kolkata", 2027, 3, 2, 14, 0), "Asia/Kolkata", RetryPolicy(hour=18)
    )
    assert at_local(retry, "Asia/Kolkata") == (2027, 3, 2, 18, 0)


EVENINGS = [
    ("Europe/Berlin", (2027, 10, 29, 14, 0)),  # the third retry falls after DST ends
    ("America/New_York", (2027, 3, 12, 14, 0)),  # and here after it begins
    ("Asia/Kolkata", (2027, 3, 2, 14, 0)),
    ("Pacific/Auckland", (2027, 4, 2, 14, 0)),
]


@pytest.mark.parametrize(("timezone", "failed_at"), EVENINGS)
async def test_three_evenings_then_deactivated_then_reactivated_and_paid(
    payments: Payments, world: World, shop: Shop, timezone: str, failed_at: tuple[int, ...]
):
    a = world.a.id
    # given a reseller in its time zone whose saved card now declines every charge
    await payments.set_timezone(a, timezone)
    await payments.cards.update(a, "pm_card_chargeCustomerFail", OWNER)
    invoice_id = await payments.wholesale_invoice(shop, a, world.a.customers[0])
    # when the platform posts its invoice at 14:00 local and autopay runs
    payments.clock.at(local(timezone, *failed_at))
    await payments.post(invoice_id)
    assert await payments.run_due() == 1
    # then the account is PAST_DUE and the retry is at 20:00 the same day
    reseller = await payments.reseller(a)
    assert (reseller.status, reseller.dunning_retries) == (AccountStatus.PAST_DUE, 0)
    assert reseller.last_failure_reason == "Your card was declined."
    [retry] = await payments.retries(a)
    day = failed_at[:3]
    assert at_local(retry.run_at, timezone) == (*day, 20, 0)
    billing_users = {world.a.emails[k] for k in ("owner", "billing_manager", "billing_member")}
    told = await payments.mail(a, "PAYMENT_FAILED")
    assert {m.recipient for m in told} == billing_users and len(told) == 3
    # when three evenings pass, each retry failing
    for n in range(1, 4):
        [retry] = await payments.retries(a)
        assert at_local(retry.run_at, timezone)[3:] == (20, 0)
        payments.clock.now = retry.run_at
        assert await payments.run_due() == 1
        reseller = await payments.reseller(a)
        assert reseller.dunning_retries == n
        if n < 3:
            assert reseller.status is AccountStatus.PAST_DUE
            [following] = await payments.retries(a)
            assert (following.run_at - retry.run_at).total_seconds() in {
                23 * 3600,
                24 * 3600,
                25 * 3600,
            }
    # then after the third the account is DEACTIVATED, its owner told
    assert reseller.status is AccountStatus.DEACTIVATED
    assert await payments.retries(a) == []
    assert len(await payments.mail(a, "ACCOUNT_DEACTIVATED")) == len(billing_users)
    attempts = await payments_of(payments.db, invoice_id)
    assert [(p.trigger, p.status) for p in sorted(attempts, key=lambda p: p.attempt)] == [
        (PaymentTrigger.AUTOPAY, PaymentStatus.FAILED),
        *[(PaymentTrigger.RETRY, PaymentStatus.FAILED)] * 3,
    ]
    # when the owner reactivates with a good card an hour later
    payments.clock.advance(hours=1)
    change = await payments.cards.reactivate(a, "pm_card_visa", OWNER)
    # then the account is ACTIVE in that same request, the payment due that evening
    assert change.reseller.status is AccountStatus.ACTIVE
    assert (await payments.reseller(a)).status is AccountStatus.ACTIVE
    assert len(await payments.mail(a, "ACCOUNT_REACTIVATED")) == len(billing_users)
    assert change.retry_at is not None
    assert at_local(change.retry_at, timezone)[3:] == (20, 0)
    assert change.retry_at > payments.clock.now
    # when that evening comes
    payments.clock.now = change.retry_at
    assert await payments.run_due() == 1
    # then the invoice is paid with the new card and CLOSED, and a receipt is queued
    invoice = await load(payments.db, invoice_id)
    assert invoice is not None
    assert invoice.status is InvoiceStatus.CLOSED and invoice.amount_paid == invoice.total
    last = max(await payments_of(payments.db, invoice_id), key=lambda p: p.attempt)
    assert (last.status, last.trigger) == (PaymentStatus.SUCCEEDED, PaymentTrigger.RETRY)
    assert {m.recipient for m in await payments.mail(a, "INVOICE_PAID")} == billing_users
    assert (await payments.reseller(a)).dunning_retries == 0
    assert await payments.gateway.count_charges(str(a)) == 5


async def test_with_no_retries_a_declined_charge_deactivates_at_once(db, world: World, shop: Shop):
    payments = build(db, retries=0)
    a = world.a.id
    await payments.cards.update(a, "pm_card_chargeCustomerFail", OWNER)
    invoice_id = await payments.wholesale_invoice(shop, a, world.a.customers[0])
    payments.clock.at(local("UTC", 2027, 3, 2, 10, 0))
    await payments.post(invoice_id)
    await payments.run_due()
    reseller = await payments.reseller(a)
    assert reseller.status is AccountStatus.DEACTIVATED
    assert await payments.retries(a) == []
    assert len(await payments.mail(a, "ACCOUNT_DEACTIVATED")) == 3  # each billing user


async def test_a_new_card_while_past_due_moves_the_retry_to_the_upcoming_evening(
    payments: Payments, world: World, shop: Shop
):
    a = world.a.id
    await payments.set_timezone(a, "Europe/Berlin")
    await payments.cards.update(a, "pm_card_chargeCustomerFail", OWNER)
    invoice_id = await payments.wholesale_invoice(shop, a, world.a.customers[0])
    payments.clock.at(local("Europe/Berlin", 2027, 3, 2, 14, 0))
    await payments.post(invoice_id)
    await payments.run_due()
    [retry] = await payments.retries(a)
    payments.clock.now = retry.run_at
    await payments.run_due()  # retry 1 fails; retry 2 is tomorrow 20:00
    # when the owner gives a new card the next morning
    payments.clock.at(local("Europe/Berlin", 2027, 3, 3, 9, 0))
    change = await payments.cards.update(a, "pm_card_visa", OWNER)
    # then the retry is this evening, with the new card, and it pays
    assert change.retry_at is not None
    assert at_local(change.retry_at, "Europe/Berlin") == (2027, 3, 3, 20, 0)
    [moved] = await payments.retries(a)
    assert moved.run_at == change.retry_at
    payments.clock.now = moved.run_at
    await payments.run_due()
    assert (await payments.reseller(a)).status is AccountStatus.ACTIVE
    invoice = await load(payments.db, invoice_id)
    assert invoice is not None and invoice.status is InvoiceStatus.CLOSED


async def test_a_hard_decline_is_not_retried_with_the_same_card(
    payments: Payments, world: World, shop: Shop
):
    a = world.a.id
    await payments.cards.update(a, "pm_card_chargeCustomerFailLostCard", OWNER)
    invoice_id = await payments.wholesale_invoice(shop, a, world.a.customers[0])
    payments.clock.at(local("UTC", 2027, 3, 2, 10, 0))
    await payments.post(invoice_id)
    await payments.run_due()
    [retry] = await payments.retries(a)
    payments.clock.now = retry.run_at
    await payments.run_due()
    # the evening came, but the lost card was not charged again; the retry counted
    assert await payments.gateway.count_charges(str(a)) == 1
    reseller = await payments.reseller(a)
    assert reseller.dunning_retries == 1
    assert "add another card" in (reseller.last_failure_reason or "")


async def test_paying_by_hand_ends_dunning_and_does_not_count(
    payments: Payments, world: World, shop: Shop
):
    a = world.a.id
    await payments.cards.update(a, "pm_card_chargeCustomerFail", OWNER)
    invoice_id = await payments.wholesale_invoice(shop, a, world.a.customers[0])
    payments.clock.at(local("UTC", 2027, 3, 2, 10, 0))
    await payments.post(invoice_id)
    await payments.run_due()
    # a manual charge with the failing card does not count toward the retries
    failed = await payments.collector.pay(a, invoice_id, OWNER)
    assert (failed.status, failed.trigger) == (PaymentStatus.FAILED, PaymentTrigger.MANUAL)
    assert (await payments.reseller(a)).dunning_retries == 0
    # a good card paid by hand closes the invoice and the account is ACTIVE, retries off
    await payments.cards.update(a, "pm_card_visa", OWNER)
    paid = await payments.collector.pay(a, invoice_id, OWNER)
    assert paid.status is PaymentStatus.SUCCEEDED
    assert (await payments.reseller(a)).status is AccountStatus.ACTIVE
    assert await payments.retries(a) == []
