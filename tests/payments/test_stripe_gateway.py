"""The Stripe adapter against a real Stripe-compatible server: localstripe, in its own process.

These do not touch our database, so they run once rather than per backend. The counts are taken
at the gateway, because what matters is what it charged, not what we believe it did.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from payments.gateway import (
    Card,
    CardRefused,
    ChargeRequest,
    ChargeStatus,
    GatewayUnavailable,
)
from payments.stripe_gateway import StripeGateway, to_minor_units
from tests.payments.localstripe import SECRET_KEY, LocalStripe


def _request(card: Card, account: str, key: str | None = None) -> ChargeRequest:
    return ChargeRequest(
        key=key or f"inv-{uuid.uuid4()}-1",
        card=card,
        amount=Decimal("12.34"),
        currency="EUR",
        description="Invoice CB-0001",
        metadata={"account": account},
    )


@pytest.fixture
def account() -> str:
    return str(uuid.uuid4())


async def test_verify_saves_a_good_card_on_the_accounts_customer(
    stripe_gateway: StripeGateway, localstripe: LocalStripe, account: str
) -> None:
    # when
    card = await stripe_gateway.verify("pm_card_visa", account=account, email="billing@a.test")

    # then
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == ("visa", "4242", 12, 2030)
    assert card.ref.startswith("pm_") and card.ref != "pm_card_visa"
    [customer] = localstripe.objects("customers")
    assert card.customer_ref == customer["id"]
    assert customer["metadata"] == {"account": account}


async def test_a_second_card_for_the_same_account_and_email_reuses_its_customer(
    stripe_gateway: StripeGateway, localstripe: LocalStripe, account: str
) -> None:
    # given
    first = await stripe_gateway.verify("pm_card_visa", account=account, email="billing@a.test")

    # when
    second = await stripe_gateway.verify("pm_card_visa", account=account, email="billing@a.test")
    other = await stripe_gateway.verify(
        "pm_card_visa", account=str(uuid.uuid4()), email="billing@a.test"
    )

    # then
    assert second.customer_ref == first.customer_ref
    assert other.customer_ref != first.customer_ref
    assert localstripe.count("customers") == 2


async def test_a_card_the_gateway_declines_is_refused_with_its_message(
    stripe_gateway: StripeGateway, account: str
) -> None:
    # when
    with pytest.raises(CardRefused) as refused:
        await stripe_gateway.verify("pm_card_visa_chargeDeclined", account=account, email=None)

    # then
    assert refused.value.reason == "Your card was declined."
    assert refused.value.decline_code == "card_declined"  # localstripe gives no decline_code


async def test_an_unknown_token_is_refused_not_raised(
    stripe_gateway: StripeGateway, account: str
) -> None:
    with pytest.raises(CardRefused):
        await stripe_gateway.verify("pm_no_such_card", account=account, email=None)


async def test_a_3d_secure_card_cannot_be_saved_without_its_holder(
    stripe_gateway: StripeGateway, localstripe: LocalStripe, account: str
) -> None:
    # given: a card that asks for 3-D Secure (localstripe's 4000 0025 0000 3155)
    method = localstripe.create_card("4000002500003155")

    # when
    with pytest.raises(CardRefused) as refused:
        await stripe_gateway.verify(method, account=account, email=None)

    # then
    assert refused.value.decline_code == "authentication_required"
    assert "card page" in refused.value.reason


async def test_a_setup_intent_the_browser_confirmed_is_accepted(
    stripe_gateway: StripeGateway, localstripe: LocalStripe, account: str
) -> None:
    # given: what Elements does in the browser, with the publishable key and the client secret
    intent = localstripe.confirmed_setup_intent("4242424242424242", account)

    # when
    card = await stripe_gateway.verify(intent, account=account, email="billing@a.test")

    # then
    assert (card.brand, card.last4) == ("visa", "4242")
    assert card.customer_ref is not None
    [customer] = localstripe.objects("customers")
    assert customer["metadata"] == {"account": account}


async def test_a_card_setup_is_a_setup_intent_for_the_account_that_verify_then_takes(
    localstripe: LocalStripe, account: str
) -> None:
    # given a gateway with the keys and the script the browser needs
    gateway = StripeGateway(
        SECRET_KEY,
        api_base=localstripe.url,
        timeout_seconds=2.0,
        publishable_key="pk_test_channelbill",
        js_url=f"{localstripe.url}/js.stripe.com/v3/",
    )
    try:
        # when a setup is made, then confirmed the way Elements does it, with the client secret
        setup = await gateway.setup(account=account, email="billing@a.test")
        assert setup is not None
        assert setup.publishable_key == "pk_test_channelbill"
        assert setup.js_url == f"{localstripe.url}/js.stripe.com/v3/"
        intent_id = setup.client_secret.split("_secret_")[0]
        localstripe.confirm_setup_intent(setup.client_secret, "4242424242424242")
        card = await gateway.verify(intent_id, account=account, email=None)
        # then the card is saved on the account's customer, and a second setup reuses it
        [customer] = localstripe.objects("customers")
        assert customer["metadata"] == {"account": account}
        assert (card.last4, card.customer_ref) == ("4242", customer["id"])
        again = await gateway.setup(account=account, email=None, customer=card.customer_ref)
        assert again is not None and again.client_secret != setup.client_secret
        assert localstripe.count("customers") == 1
        [intent] = [i for i in localstripe.objects("setup_intents") if i["id"] == intent_id]
        assert intent["usage"] == "off_session"
    finally:
        await gateway.aclose()


async def test_a_card_setup_without_a_publishable_key_is_unavailable(
    stripe_gateway: StripeGateway, localstripe: LocalStripe, account: str
) -> None:
    # when the browser would have no key to talk to Stripe with
    with pytest.raises(GatewayUnavailable):
        await stripe_gateway.setup(account=account, email=None)
    # then no intent is left behind
    assert localstripe.count("setup_intents") == 0


async def test_a_setup_intent_made_for_another_account_is_refused(
    stripe_gateway: StripeGateway, localstripe: LocalStripe, account: str
) -> None:
    # given
    intent = localstripe.confirmed_setup_intent("4242424242424242", str(uuid.uuid4()))

    # when
    with pytest.raises(CardRefused) as refused:
        await stripe_gateway.verify(intent, account=account, email=None)

    # then: nothing was saved for this account
    assert "not added for this account" in refused.value.reason
    assert localstripe.count("customers") == 0


async def test_a_charge_on_a_good_card_succeeds_in_minor_units(
    stripe_gateway: StripeGateway, localstripe: LocalStripe, account: str
) -> None:
    # given
    card = await stripe_gateway.verify("pm_card_visa", account=account, email=None)
    request = _request(card, account)

    # when
    result = await stripe_gateway.charge(request)

    # then
    assert result.status is ChargeStatus.SUCCEEDED
    [intent] = localstripe.objects("payment_intents")
    assert intent["id"] == result.reference
    assert (intent["amount"], intent["currency"]) == (1234, "eur")
    assert (intent["customer"], intent["payment_method"]) == (card.customer_ref, card.ref)
    assert intent["metadata"] == {
        "account": account,
        "channelbill_key": request.key,
        "description": "Invoice CB-0001",
    }


async def test_a_card_that_went_bad_after_it_was_saved_fails_with_the_gateways_reason(
    stripe_gateway: StripeGateway, localstripe: LocalStripe, account: str
) -> None:
    # given
    card = await stripe_gateway.verify("pm_card_chargeCustomerFail", account=account, email=None)

    # when
    result = await stripe_gateway.charge(_request(card, account))

    # then
    assert result.status is ChargeStatus.FAILED
    assert (result.failure_reason, result.decline_code) == (
        "Your card was declined.",
        "card_declined",
    )
    assert not result.hard_decline
    assert localstripe.count("payment_intents") == 1


async def test_find_charge_reads_what_became_of_a_declined_charge(
    stripe_gateway: StripeGateway, account: str
) -> None:
    # given
    card = await stripe_gateway.verify("pm_card_chargeCustomerFail", account=account, email=None)
    request = _request(card, account)
    await stripe_gateway.charge(request)

    # when
    found = await stripe_gateway.find_charge(request.key, account=account)

    # then
    assert found is not None and found.status is ChargeStatus.FAILED
    assert found.reference is not None and found.reference.startswith("pi_")
    assert (found.failure_reason, found.decline_code) == (
        "Your card was declined.",
        "card_declined",
    )


async def test_find_charge_finds_a_charge_by_key_and_nothing_for_another_key_or_account(
    stripe_gateway: StripeGateway, account: str
) -> None:
    # given
    card = await stripe_gateway.verify("pm_card_visa", account=account, email=None)
    request = _request(card, account)
    charged = await stripe_gateway.charge(request)
    await stripe_gateway.charge(_request(card, account))  # another attempt, another key

    # when
    found = await stripe_gateway.find_charge(request.key, account=account)
    unknown = await stripe_gateway.find_charge("inv-unknown-1", account=account)
    elsewhere = await stripe_gateway.find_charge(request.key, account=str(uuid.uuid4()))

    # then
    assert found == charged
    assert unknown is None and elsewhere is None


async def test_find_charge_pages_through_more_intents_than_one_page(
    stripe_gateway: StripeGateway, account: str
) -> None:
    # given: the first charge, then more than a page (100) of others after it
    card = await stripe_gateway.verify("pm_card_visa", account=account, email=None)
    first = _request(card, account)
    await stripe_gateway.charge(first)
    for _ in range(105):
        await stripe_gateway.charge(_request(card, account))

    # when
    found = await stripe_gateway.find_charge(first.key, account=account)

    # then
    assert found is not None and found.status is ChargeStatus.SUCCEEDED


async def test_localstripe_ignores_the_idempotency_key_so_find_charge_must_come_first(
    stripe_gateway: StripeGateway, localstripe: LocalStripe, account: str
) -> None:
    # given
    card = await stripe_gateway.verify("pm_card_visa", account=account, email=None)
    request = _request(card, account)

    # when: the same attempt sent twice (Stripe would answer the second with the first)
    first = await stripe_gateway.charge(request)
    second = await stripe_gateway.charge(request)

    # then: localstripe charged twice, so only asking before charging prevents a double
    assert first.reference != second.reference
    assert localstripe.count("payment_intents") == 2
    found = await stripe_gateway.find_charge(request.key, account=account)
    assert found is not None and found.status is ChargeStatus.SUCCEEDED


async def test_a_stopped_gateway_is_unavailable_at_once(
    stripe_gateway: StripeGateway, localstripe: LocalStripe, account: str
) -> None:
    # given
    card = await stripe_gateway.verify("pm_card_visa", account=account, email=None)
    request = _request(card, account)
    localstripe.stop()

    # when / then
    started = time.monotonic()
    with pytest.raises(GatewayUnavailable):
        await stripe_gateway.charge(request)
    with pytest.raises(GatewayUnavailable):
        await stripe_gateway.find_charge(request.key, account=account)
    with pytest.raises(GatewayUnavailable):
        await stripe_gateway.verify("pm_card_visa", account=account, email=None)
    assert time.monotonic() - started < 2.0

    # and when it is back, nothing was charged
    localstripe.start()
    assert await stripe_gateway.find_charge(request.key, account=account) is None


async def test_a_gateway_that_hangs_times_out_and_find_charge_tells_the_outcome(
    stripe_gateway: StripeGateway, localstripe: LocalStripe, account: str
) -> None:
    # given
    card = await stripe_gateway.verify("pm_card_visa", account=account, email=None)
    request = _request(card, account)
    localstripe.freeze()

    # when: the request reaches the gateway's socket, and no answer comes back
    started = time.monotonic()
    with pytest.raises(GatewayUnavailable):
        await stripe_gateway.charge(request)
    waited = time.monotonic() - started

    # then: the timeout (2 s), not a hang; once the gateway is back it has charged once
    assert 1.5 < waited < 5.0
    localstripe.resume()
    found = None
    for _ in range(50):
        found = await stripe_gateway.find_charge(request.key, account=account)
        if found is not None:
            break
        await asyncio.sleep(0.05)
    assert found is not None and found.status is ChargeStatus.SUCCEEDED
    assert localstripe.count("payment_intents") == 1


async def test_a_charge_that_asks_for_3d_secure_off_session_fails_as_authentication_required(
    stripe_gateway: StripeGateway, localstripe: LocalStripe, account: str
) -> None:
    # given: a card saved while its holder was there, that asks for 3-D Secure on every charge
    saved = await stripe_gateway.verify("pm_card_visa", account=account, email=None)
    card = replace(saved, ref=localstripe.create_card("4000002760003184"), last4="3184")

    # when
    result = await stripe_gateway.charge(_request(card, account))

    # then: a hard decline, nobody is there to authenticate
    assert result.status is ChargeStatus.FAILED
    assert result.decline_code == "authentication_required" and result.hard_decline
    assert [i["status"] for i in localstripe.objects("payment_intents")] == ["requires_action"]


def test_localstripe_keeps_its_store_in_memory(localstripe: LocalStripe) -> None:
    # given: where localstripe pickles its whole store after each write, out of the box
    pickle = Path("/tmp/localstripe.pickle")  # noqa: S108 (its path, hard-coded)
    before = pickle.stat().st_mtime_ns if pickle.exists() else None

    # when: a write
    localstripe.create_card("4242424242424242")

    # then
    assert (pickle.stat().st_mtime_ns if pickle.exists() else None) == before


def test_localstripe_listens_on_the_loopback_address_only(localstripe: LocalStripe) -> None:
    # given: the kernel's table of TCP sockets (address:port in hex, state 0A = LISTEN)
    rows = [
        line.split()
        for name in ("/proc/net/tcp", "/proc/net/tcp6")
        if Path(name).exists()
        for line in Path(name).read_text().splitlines()[1:]
    ]

    # when
    listening = {
        row[1] for row in rows if row[3] == "0A" and row[1].endswith(f":{localstripe.port:04X}")
    }

    # then: 127.0.0.1 (little-endian hex), not 0.0.0.0 or ::
    assert listening == {f"0100007F:{localstripe.port:04X}"}


def test_amounts_are_sent_in_the_currencys_minor_units() -> None:
    assert to_minor_units(Decimal("12.34"), "EUR") == 1234
    assert to_minor_units(Decimal("1234"), "JPY") == 1234
    assert to_minor_units(Decimal("1.234"), "KWD") == 1234
    with pytest.raises(ValueError):
        to_minor_units(Decimal("12.345"), "EUR")


def test_the_gateway_never_shows_its_key() -> None:
    gateway = StripeGateway(SECRET_KEY, api_base="http://127.0.0.1:9")
    assert SECRET_KEY not in repr(gateway)
    asyncio.run(gateway.aclose())
