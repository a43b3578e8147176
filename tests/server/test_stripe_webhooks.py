"""POST /webhooks/stripe: a delivery signed with the endpoint's secret settles the attempt it
names, once; anything unsigned, mis-signed or stale changes nothing and is told so."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import stripe
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select

from billing.models import InvoiceStatus, Payment, PaymentStatus, PaymentTrigger
from db.database import Database
from db.scope import PLATFORM_TENANT_ID, TenantScope
from limits.models import IdempotencyKey
from payments.collection import Collector
from payments.stripe_events import OPERATION
from server.app import create_app
from server.settings import Settings
from tests.billing.conftest import no_floats  # noqa: F401  (an autouse fixture)
from tests.billing.drafts import audit_of, load, payments_of
from tests.catalog import Shop, make_catalog
from tests.factories import World
from tests.payments.harness import OWNER, build

SECRET = "whsec_test"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # No job runner: the autopay job of a posted invoice must not settle what the webhook is
    # to settle.
    return settings.with_(stripe_webhook_secret=SECRET, jobs_run=False)


@pytest.fixture
async def shop(db: Database, world: World) -> Shop:
    return await make_catalog(db)


async def _pending(db: Database, world: World, shop: Shop) -> Payment:
    """An attempt committed PENDING whose answer never came: only the gateway's report can
    settle it now."""
    payments = build(db)
    await payments.cards.update(world.a.id, "pm_card_visa", OWNER)
    invoice_id = await payments.wholesale_invoice(shop, world.a.id, world.a.customers[0])
    await payments.post(invoice_id)
    async with db.write(TenantScope.tenant(world.a.id)) as session:
        attempt = await payments.collector.begin(
            session, world.a.id, invoice_id, PaymentTrigger.MANUAL
        )
    return attempt.payment


def _event(
    kind: str,
    payment: Payment | None = None,
    *,
    key: str | None = None,
    error: dict[str, Any] | None = None,
    event_id: str | None = None,
) -> bytes:
    """A Stripe event body as Stripe sends it, for the intent of ``payment``."""
    metadata = {}
    if payment is not None:
        metadata = {
            "account": str(payment.reseller_id),
            "invoice": str(payment.invoice_id),
            "attempt": str(payment.attempt),
            "channelbill_key": key or payment.gateway_key,
        }
    intent: dict[str, Any] = {
        "id": f"pi_{uuid.uuid4().hex[:24]}",
        "object": "payment_intent",
        "status": "succeeded" if kind.endswith("succeeded") else "requires_payment_method",
        "metadata": metadata,
        "last_payment_error": error,
    }
    return orjson.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "type": kind,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": intent},
        }
    )


def _signed(payload: bytes, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    """Stripe's scheme, computed here rather than by the SDK that verifies it."""
    timestamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return {"Stripe-Signature": f"t={timestamp},v1={digest.hexdigest()}"}


async def _deliver(
    client: httpx.AsyncClient, payload: bytes, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(
        "/webhooks/stripe",
        content=payload,
        headers={"Content-Type": "application/json", **headers},
    )


async def _current(db: Database, payment: Payment) -> Payment:
    [found] = [p for p in await payments_of(db, payment.invoice_id) if p.id == payment.id]
    return found


async def _remembered(db: Database) -> int:
    async with db.read(TenantScope.system()) as session:
        count = await session.scalar(
            select(func.count())
            .select_from(IdempotencyKey)
            .where(IdempotencyKey.operation == OPERATION)
        )
    return int(count or 0)


async def test_a_success_settles_the_pending_attempt_and_closes_the_invoice(
    client: httpx.AsyncClient, db: Database, world: World, shop: Shop
) -> None:
    # given
    payment = await _pending(db, world, shop)
    payload = _event("payment_intent.succeeded", payment)

    # when
    response = await _deliver(client, payload, _signed(payload))

    # then
    assert response.status_code == 200 and response.json() == {"received": True}
    settled = await _current(db, payment)
    assert settled.status is PaymentStatus.SUCCEEDED
    assert settled.gateway_charge_id == orjson.loads(payload)["data"]["object"]["id"]
    invoice = await load(db, payment.invoice_id)
    assert invoice is not None and invoice.status is InvoiceStatus.CLOSED
    assert invoice.amount_paid == invoice.total
    async with db.read(TenantScope.system()) as session:
        [remembered] = await session.scalars(select(IdempotencyKey))
    assert (remembered.reseller_id, remembered.operation) == (world.a.id, OPERATION)
    assert remembered.key == orjson.loads(payload)["id"]


async def test_the_same_event_again_is_acknowledged_and_applies_nothing(
    client: httpx.AsyncClient,
    db: Database,
    world: World,
    shop: Shop,
    app: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given an event delivered once
    payment = await _pending(db, world, shop)
    payload = _event("payment_intent.succeeded", payment)
    assert (await _deliver(client, payload, _signed(payload))).status_code == 200
    audited = len(await audit_of(db, payment.id))
    collector: Collector = app.state.services.payments.collector
    applied: list[str] = []
    real = collector.apply_outcome

    async def counted(reseller_id: uuid.UUID, key: str, result: Any) -> Payment | None:
        applied.append(key)
        return await real(reseller_id, key, result)

    monkeypatch.setattr(collector, "apply_outcome", counted)

    # when Stripe delivers it again (a retry, or a replay by anyone who kept it)
    response = await _deliver(client, payload, _signed(payload))

    # then
    assert response.status_code == 200 and response.json() == {"received": True}
    assert applied == []
    assert (await _current(db, payment)).status is PaymentStatus.SUCCEEDED
    assert len(await audit_of(db, payment.id)) == audited
    assert await _remembered(db) == 1


async def test_a_failure_fails_the_attempt_with_the_gateway_reason(
    client: httpx.AsyncClient, db: Database, world: World, shop: Shop
) -> None:
    # given
    payment = await _pending(db, world, shop)
    error = {
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
    }
    payload = _event("payment_intent.payment_failed", payment, error=error)

    # when
    response = await _deliver(client, payload, _signed(payload))

    # then
    assert response.status_code == 200
    failed = await _current(db, payment)
    assert failed.status is PaymentStatus.FAILED
    assert failed.failure_reason == "Your card has insufficient funds."
    assert failed.decline_code == "insufficient_funds"
    invoice = await load(db, payment.invoice_id)
    assert invoice is not None and invoice.status is InvoiceStatus.OPEN


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda payload: _signed(payload, secret="whsec_other"), id="other secret"),
        pytest.param(lambda payload: _signed(payload + b" "), id="other payload"),
        pytest.param(lambda payload: {}, id="no header"),
        pytest.param(lambda payload: {"Stripe-Signature": "t=x,v1=y"}, id="garbled header"),
        pytest.param(
            lambda payload: _signed(payload, at=int(time.time()) - 3600), id="an hour old"
        ),
    ],
)
async def test_an_unverified_delivery_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, world: World, shop: Shop, headers: Any
) -> None:
    # given
    payment = await _pending(db, world, shop)
    payload = _event("payment_intent.succeeded", payment)

    # when
    response = await _deliver(client, payload, headers(payload))

    # then
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "Traceback" not in response.text
    assert (await _current(db, payment)).status is PaymentStatus.PENDING
    assert await _remembered(db) == 0


async def test_a_delivery_just_inside_the_tolerance_is_taken(
    client: httpx.AsyncClient, db: Database, world: World, shop: Shop
) -> None:
    # given a delivery signed four minutes ago (Stripe's tolerance is five)
    payment = await _pending(db, world, shop)
    payload = _event("payment_intent.succeeded", payment)

    # when
    response = await _deliver(client, payload, _signed(payload, at=int(time.time()) - 240))

    # then
    assert response.status_code == 200
    assert stripe.Webhook.DEFAULT_TOLERANCE == 300
    assert (await _current(db, payment)).status is PaymentStatus.SUCCEEDED


async def test_an_event_for_a_key_we_never_sent_changes_nothing(
    client: httpx.AsyncClient, db: Database, world: World, shop: Shop
) -> None:
    # given a pending attempt, and an intent of the same account under another key
    payment = await _pending(db, world, shop)
    payload = _event("payment_intent.succeeded", payment, key=f"cb_{uuid.uuid4().hex}_1")

    # when
    response = await _deliver(client, payload, _signed(payload))

    # then
    assert response.status_code == 200 and response.json() == {"received": True}
    assert (await _current(db, payment)).status is PaymentStatus.PENDING
    invoice = await load(db, payment.invoice_id)
    assert invoice is not None and invoice.status is InvoiceStatus.OPEN


async def test_another_accounts_event_cannot_settle_this_accounts_attempt(
    client: httpx.AsyncClient, db: Database, world: World, shop: Shop
) -> None:
    # given a's pending attempt, and an intent that names its key under b's account
    payment = await _pending(db, world, shop)
    body = orjson.loads(_event("payment_intent.succeeded", payment))
    body["data"]["object"]["metadata"]["account"] = str(world.b.id)
    payload = orjson.dumps(body)

    # when
    response = await _deliver(client, payload, _signed(payload))

    # then
    assert response.status_code == 200
    assert (await _current(db, payment)).status is PaymentStatus.PENDING


@pytest.mark.parametrize(
    "kind", ["setup_intent.succeeded", "setup_intent.setup_failed", "customer.created"]
)
async def test_setup_and_unknown_events_are_acknowledged(
    client: httpx.AsyncClient, db: Database, kind: str
) -> None:
    # given an event that names no account of ours
    payload = _event(kind)

    # when
    response = await _deliver(client, payload, _signed(payload))

    # then: acknowledged; setup events remembered (on the platform), others not even that
    assert response.status_code == 200 and response.json() == {"received": True}
    async with db.read(TenantScope.system()) as session:
        tenants = list(await session.scalars(select(IdempotencyKey.reseller_id)))
    assert tenants == ([] if kind == "customer.created" else [PLATFORM_TENANT_ID])


async def test_a_signed_body_that_is_no_event_is_refused(client: httpx.AsyncClient) -> None:
    for payload in (b"not json", b"[]", orjson.dumps({"type": "payment_intent.succeeded"})):
        # when
        response = await _deliver(client, payload, _signed(payload))

        # then
        assert response.status_code == 400, payload
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_an_oversized_delivery_is_refused_unread(client: httpx.AsyncClient) -> None:
    # given a body over the webhook's own bound (and under the server's)
    payload = b"{" + b" " * (300 * 1024) + b"}"

    # when
    response = await _deliver(client, payload, _signed(payload))

    # then
    assert response.status_code == 413


@pytest.fixture
async def unconfigured(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(settings.with_(stripe_webhook_secret=None))
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def test_without_a_secret_the_route_is_off(unconfigured: httpx.AsyncClient) -> None:
    # given a delivery that would verify under any secret we might guess
    payload = _event("payment_intent.succeeded")

    # when
    response = await _deliver(unconfigured, payload, _signed(payload))

    # then
    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
