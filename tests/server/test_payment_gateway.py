"""The gateway an install charges through follows PAYMENT_GATEWAY."""

from __future__ import annotations

from decimal import Decimal

import pytest

from db.database import Database
from payments.gateway import CardRefused, ChargeRequest, ChargeStatus
from payments.sandbox import SandboxGateway
from payments.stripe_gateway import StripeGateway
from server.payments import build_gateway
from server.settings import Settings, SettingsError
from tests.factories import World


async def test_the_default_is_the_sandbox_on_our_database(
    settings: Settings, db: Database, world: World
) -> None:
    # when
    gateway = build_gateway(settings, db)

    # then: a working sandbox whose ledger is this database, not just its type
    assert isinstance(gateway, SandboxGateway) and gateway.name == "sandbox"
    account = str(world.a.id)
    card = await gateway.verify("pm_card_visa", account=account, email=None)
    with pytest.raises(CardRefused):
        await gateway.verify("pm_card_visa_chargeDeclined", account=account, email=None)
    request = ChargeRequest("k-1", card, Decimal("5.00"), "EUR", "test", {"account": account})
    assert (await gateway.charge(request)).status is ChargeStatus.SUCCEEDED
    assert await SandboxGateway(db).count_charges(account) == 1


async def test_stripe_is_chosen_with_its_key_and_api_base(settings: Settings, db: Database) -> None:
    # given
    chosen = settings.with_(
        payment_gateway="stripe",
        stripe_secret_key="sk_test_channelbill",
        stripe_api_base="http://127.0.0.1:9",
    ).validate()

    # when
    gateway = build_gateway(chosen, db)

    # then
    assert isinstance(gateway, StripeGateway) and gateway.name == "stripe"
    assert "sk_test_channelbill" not in repr(gateway)
    await gateway.aclose()


def test_stripe_without_a_key_is_refused_at_start(settings: Settings) -> None:
    with pytest.raises(SettingsError, match="STRIPE_SECRET_KEY"):
        settings.with_(payment_gateway="stripe", stripe_secret_key=None).validate()


def test_stripe_js_is_stripes_own_unless_set_and_must_have_an_origin(settings: Settings) -> None:
    # given the environment without STRIPE_JS_URL, with a local one, and with a bad one
    assert Settings.from_env({}).stripe_js_url == "https://js.stripe.com/v3/"
    local = "http://127.0.0.1:8420/js.stripe.com/v3/"
    assert Settings.from_env({"STRIPE_JS_URL": local}).stripe_js_url == local
    # then one without an http(s) origin is refused at start
    with pytest.raises(SettingsError, match="STRIPE_JS_URL"):
        settings.with_(stripe_js_url="javascript:alert(1)").validate()
