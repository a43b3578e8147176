"""Webhooks end to end: endpoints made through the API, events delivered through the job table
to a receiver on loopback that verifies them with the ``standardwebhooks`` package."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette

from billing.models import InvoiceStatus
from core.clock import utcnow
from db.database import Database
from db.scope import TenantScope
from events.log import event_global_id
from events.models import (
    EndpointStatus,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)
from events.types import EVENT_TYPES
from jobs import leases
from jobs.runner import JobRunner
from notifications.models import OutboxMessage
from server.settings import Settings
from tenants import services as tenant_services
from tenants.audit import Actor
from tenants.models import AccountStatus, Reseller
from tests.billing.drafts import retail_drafts
from tests.catalog import make_catalog
from tests.conftest import Api
from tests.events import EVENTS, nodes, stored
from tests.events.receiver import Receiver, running_receiver
from tests.factories import World
from tests.notifications import eventually
from webhooks.delivery import WebhookSender

CREATE = """mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) {
    endpoint { id url events status } secret errors { code field message }
  }
}"""
ROTATE = """mutation($input: WebhookEndpointInput!) {
  rotateWebhookEndpointSecret(input: $input) {
    endpoint { previousSecretExpiresAt } secret errors { code }
  }
}"""
ENABLE = """mutation($input: WebhookEndpointInput!) {
  enableWebhookEndpoint(input: $input) { endpoint { status disabledReason } errors { code } }
}"""
REDELIVER = """mutation($input: RedeliverWebhookInput!) {
  redeliverWebhook(input: $input) { delivery { id status } errors { code message } }
}"""
ENDPOINT = """query($id: ID!) {
  webhookEndpoint(id: $id) {
    id status disabledReason
    deliveries(first: 100) { edges { node {
      id status attempts statusCode latencyMs error nextAttemptAt deliveredAt
      event { id type }
    } } }
  }
}"""
CREATE_CUSTOMER = """mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id } errors { code } }
}"""
UPDATE_CUSTOMER = """mutation($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) { customer { id } errors { code } }
}"""
TYPES = ["customer.created", "customer.updated", "invoice.created"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Loopback receivers, as in development."""
    return settings.with_(webhooks_allow_private_targets=True)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


def sender(app: Starlette, **options: Any) -> WebhookSender:
    services = app.state.services
    settings: dict[str, Any] = {"allow_private": True, "schedule": (0.05,) * 9}
    settings.update(options)
    return WebhookSender(services.db, services.webhooks.box, services.composer, **settings)


async def run_until(
    runner: JobRunner, done: Callable[[], Awaitable[bool] | bool], within: float = 20.0
) -> None:
    """Work due jobs until ``done`` holds (retries wait tens of milliseconds)."""
    deadline = time.monotonic() + within
    while True:
        await runner.run_due()
        result = done()
        if result if isinstance(result, bool) else await result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("the deliveries did not finish in time")
        await asyncio.sleep(0.05)


async def create(api: Api, token: str, url: str, types: list[str]) -> tuple[str, str]:
    body = await api(CREATE, {"input": {"url": url, "events": types}}, token)
    made = body["data"]["createWebhookEndpoint"]
    assert made["errors"] == [], body
    return made["endpoint"]["id"], made["secret"]


async def customer_changes(api: Api, token: str, count: int) -> None:
    for n in range(count):
        body = await api(
            CREATE_CUSTOMER,
            {"input": {"name": f"Hooked {n}", "email": f"h{n}@hooked.example", "currency": "EUR"}},
            token,
        )
        customer = body["data"]["createCustomer"]["customer"]["id"]
        body = await api(
            UPDATE_CUSTOMER, {"input": {"customerId": customer, "name": f"Hooked {n} Ltd"}}, token
        )
        assert body["data"]["updateCustomer"]["errors"] == []


async def test_every_event_is_delivered_once_signed_and_verifiable(
    app: Starlette, api: Api, db: Database, world: World, receiver: Receiver
):
    owner = world.token("owner", world.a)
    endpoint_id, secret = await create(api, owner, receiver.url, TYPES)
    assert secret.startswith("whsec_")
    receiver.secrets = [secret]
    # when customers change and a billing run makes drafts (and B changes too)
    await customer_changes(api, owner, 3)
    await customer_changes(api, world.token("owner", world.b), 2)
    shop = await make_catalog(db)
    drafts = await retail_drafts(db, world.a.id, world.a.customers[:2], [shop.products["m365"]])
    log = [
        e
        for e in nodes(await api(EVENTS, {"first": 100, "types": TYPES}, owner))
        if e["type"] != "customer.created" or e["payload"]["name"].startswith("Hooked")
    ]
    assert len(log) == 3 * 2 + len(drafts)
    runner = JobRunner(db, sender(app).handlers())
    await run_until(runner, lambda: len(receiver.delivered()) >= len(log))
    # then the receiver got each of A's events once, in order, signed, as the API shows them
    got = receiver.delivered()
    assert [r.headers["webhook-id"] for r in got] == [e["id"] for e in log]
    assert all(r.verified for r in got) and receiver.repeats().most_common(1)[0][1] == 1
    assert [r.event for r in got] == log
    first = got[0]
    assert first.headers["content-type"] == "application/json"
    assert abs(int(first.headers["webhook-timestamp"]) - time.time()) < 60  # UTC seconds
    assert first.headers["webhook-signature"].startswith("v1,")
    # and a tampered body is refused by the verifier
    tampered = first.body.replace(b"Hooked", b"Hacked")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, first.headers)
    # and the deliveries say so
    body = await api(ENDPOINT, {"id": endpoint_id}, owner)
    deliveries = [e["node"] for e in body["data"]["webhookEndpoint"]["deliveries"]["edges"]]
    assert [d["event"]["id"] for d in deliveries] == [e["id"] for e in log]
    assert {(d["status"], d["statusCode"], d["attempts"]) for d in deliveries} == {
        ("SUCCEEDED", 200, 1)
    }
    assert all(d["latencyMs"] >= 0 and d["deliveredAt"] for d in deliveries)


async def test_an_outage_of_several_retries_loses_nothing(
    app: Starlette, api: Api, db: Database, world: World, receiver: Receiver
):
    owner = world.token("owner", world.a)
    endpoint_id, secret = await create(api, owner, receiver.url, TYPES)
    receiver.secrets = [secret]
    receiver.answers = [503] * 4 + [500]  # the receiver is down for the first five tries
    await customer_changes(api, owner, 1)
    runner = JobRunner(db, sender(app).handlers())
    await run_until(runner, lambda: len(receiver.delivered()) == 2)
    got = receiver.delivered()
    assert [r.event["type"] for r in got] == ["customer.created", "customer.updated"]
    assert all(r.verified for r in got)
    assert len(receiver.received) == 7  # five refused, then each of the two once
    body = await api(ENDPOINT, {"id": endpoint_id}, owner)
    endpoint = body["data"]["webhookEndpoint"]
    assert endpoint["status"] == "ENABLED"
    attempts = sorted(e["node"]["attempts"] for e in endpoint["deliveries"]["edges"])
    assert sum(attempts) == 7 and all(
        e["node"]["status"] == "SUCCEEDED" for e in endpoint["deliveries"]["edges"]
    )


async def test_a_delivery_waits_between_attempts_and_says_when_it_tries_next(
    app: Starlette, api: Api, db: Database, world: World, receiver: Receiver
):
    owner = world.token("owner", world.a)
    endpoint_id, _secret = await create(api, owner, receiver.url, ["customer.created"])
    receiver.default = 503
    await customer_changes(api, owner, 1)
    runner = JobRunner(db, sender(app, schedule=(3600,) * 9).handlers())
    assert await runner.run_due() == 1
    assert await runner.run_due() == 0  # the next try is an hour away
    body = await api(ENDPOINT, {"id": endpoint_id}, owner)
    [delivery] = [e["node"] for e in body["data"]["webhookEndpoint"]["deliveries"]["edges"]]
    assert delivery["status"] == "PENDING" and delivery["statusCode"] == 503
    assert delivery["error"] == "the endpoint answered 503" and delivery["nextAttemptAt"]


async def test_a_deactivated_accounts_deliveries_wait_and_go_out_in_order_on_reactivation(
    app: Starlette, api: Api, db: Database, world: World, receiver: Receiver
):
    owner, other = world.token("owner", world.a), world.token("owner", world.b)
    endpoint_id, secret = await create(api, owner, receiver.url, TYPES)
    _, other_secret = await create(api, other, receiver.url, TYPES)
    receiver.secrets = [secret, other_secret]
    await customer_changes(api, owner, 2)
    await customer_changes(api, other, 1)
    async with db.write(TenantScope.system()) as session:
        await session.execute(
            update(Reseller)
            .where(Reseller.id == world.a.id)
            .values(status=AccountStatus.DEACTIVATED, dunning_since=utcnow())
        )
    # when the jobs come due while A is deactivated
    runner = JobRunner(db, sender(app).handlers())
    await run_until(runner, lambda: len(receiver.delivered()) == 2)
    assert await runner.run_due() == 0  # A's wait an hour: not an attempt, not a failure
    # then only B's went out; A's wait, untried, and say until when
    assert [r.event["payload"]["name"] for r in receiver.delivered()] == [
        "Hooked 0",
        "Hooked 0 Ltd",
    ]
    async with db.read(TenantScope.tenant(world.a.id)) as session:
        waiting = list(await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
    assert [(d.status, d.attempts) for d in waiting] == [(WebhookDeliveryStatus.PENDING, 0)] * 4
    assert all(d.next_attempt_at > utcnow() + timedelta(minutes=50) for d in waiting)
    # when a new card reactivates it
    dunning = app.state.services.payments.dunning
    async with db.write(TenantScope.tenant(world.a.id)) as session:
        await dunning.reactivated(session, world.a.id, Actor.system(), utcnow())
    # then they go out at once, in order, followed by the reactivation itself if subscribed
    await run_until(runner, lambda: len(receiver.delivered()) == 2 + 4)
    mine = [r.event for r in receiver.delivered()[2:]]
    assert [(e["type"], e["payload"]["name"]) for e in mine] == [
        ("customer.created", "Hooked 0"),
        ("customer.updated", "Hooked 0 Ltd"),
        ("customer.created", "Hooked 1"),
        ("customer.updated", "Hooked 1 Ltd"),
    ]
    done = await _deliveries(api, owner, endpoint_id)
    assert [(d["status"], d["attempts"]) for d in done] == [("SUCCEEDED", 1)] * 4


async def _deliveries(api: Api, token: str, endpoint_id: str) -> list[dict[str, Any]]:
    body = await api(ENDPOINT, {"id": endpoint_id}, token)
    return [e["node"] for e in body["data"]["webhookEndpoint"]["deliveries"]["edges"]]


async def test_a_410_disables_the_endpoint(
    app: Starlette, api: Api, db: Database, world: World, receiver: Receiver
):
    owner = world.token("owner", world.a)
    endpoint_id, _secret = await create(api, owner, receiver.url, TYPES)
    receiver.answers = [410]
    await customer_changes(api, owner, 1)
    runner = JobRunner(db, sender(app).handlers())
    await runner.run_due()
    body = await api(ENDPOINT, {"id": endpoint_id}, owner)
    endpoint = body["data"]["webhookEndpoint"]
    assert endpoint["status"] == "DISABLED"
    assert endpoint["disabledReason"] == "it answered 410 Gone"
    statuses = sorted(e["node"]["status"] for e in endpoint["deliveries"]["edges"])
    assert statuses == ["FAILED", "FAILED"]  # the second is not sent to a disabled endpoint
    assert len(receiver.received) == 1
    # and later events are not queued for it at all
    await customer_changes(api, owner, 1)
    body = await api(ENDPOINT, {"id": endpoint_id}, owner)
    assert len(body["data"]["webhookEndpoint"]["deliveries"]["edges"]) == 2
    # until it is enabled again; redeliverWebhook sends what it missed
    body = await api(ENABLE, {"input": {"endpointId": endpoint_id}}, owner)
    assert body["data"]["enableWebhookEndpoint"]["endpoint"] == {
        "status": "ENABLED",
        "disabledReason": None,
    }
    missed = [
        e["node"]["id"]
        for e in (await api(ENDPOINT, {"id": endpoint_id}, owner))["data"]["webhookEndpoint"][
            "deliveries"
        ]["edges"]
    ]
    for delivery_id in missed:
        body = await api(REDELIVER, {"input": {"deliveryId": delivery_id}}, owner)
        assert body["data"]["redeliverWebhook"]["errors"] == [], body
    body = await api(REDELIVER, {"input": {"deliveryId": missed[0]}}, owner)
    assert [e["code"] for e in body["data"]["redeliverWebhook"]["errors"]] == ["CONFLICT"]
    await run_until(runner, lambda: len(receiver.delivered()) == 2)
    assert [r.event["type"] for r in receiver.delivered()] == [
        "customer.created",
        "customer.updated",
    ]


async def test_an_endpoint_failing_for_good_is_disabled_and_its_owner_told(
    app: Starlette, api: Api, db: Database, world: World, receiver: Receiver
):
    owner = world.token("owner", world.a)
    endpoint_id, _ = await create(api, owner, receiver.url, ["customer.created"])
    receiver.default = 500
    await customer_changes(api, owner, 1)
    runner = JobRunner(db, sender(app, schedule=(0.05, 0.05)).handlers())

    async def disabled() -> bool:
        body = await api(ENDPOINT, {"id": endpoint_id}, owner)
        return bool(body["data"]["webhookEndpoint"]["status"] == "DISABLED")

    await run_until(runner, disabled)
    assert len(receiver.received) == 3  # the first attempt and its two retries
    body = await api(ENDPOINT, {"id": endpoint_id}, owner)
    endpoint = body["data"]["webhookEndpoint"]
    assert "kept failing" in endpoint["disabledReason"]
    [delivery] = [e["node"] for e in endpoint["deliveries"]["edges"]]
    assert (delivery["status"], delivery["attempts"], delivery["nextAttemptAt"]) == (
        "FAILED",
        3,
        None,
    )
    async with db.read(TenantScope.system()) as session:
        mail = list(
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.event == "WEBHOOK_DISABLED")
            )
        )
    assert [m.recipient for m in mail] == [world.a.emails["owner"]]
    assert receiver.url in mail[0].message.decode()


async def test_a_rotated_secret_signs_alongside_the_old_one(
    app: Starlette, api: Api, db: Database, world: World, receiver: Receiver
):
    owner = world.token("owner", world.a)
    endpoint_id, old = await create(api, owner, receiver.url, ["customer.created"])
    body = await api(ROTATE, {"input": {"endpointId": endpoint_id}}, owner)
    rotated = body["data"]["rotateWebhookEndpointSecret"]
    new = rotated["secret"]
    assert new.startswith("whsec_") and new != old
    assert rotated["endpoint"]["previousSecretExpiresAt"]
    await customer_changes(api, owner, 1)
    runner = JobRunner(db, sender(app).handlers())
    await run_until(runner, lambda: len(receiver.delivered()) == 1)
    [got] = receiver.delivered()
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    assert all(part.startswith("v1,") for part in got.headers["webhook-signature"].split(" "))
    for secret in (old, new):
        assert receiver.verify(got.body, got.headers, secret)
    # the secret is never shown again
    body = await api(ENDPOINT, {"id": endpoint_id}, owner)
    assert "whsec_" not in str(body)


async def test_redirects_are_not_followed(
    app: Starlette, api: Api, db: Database, world: World, receiver: Receiver
):
    owner = world.token("owner", world.a)
    endpoint_id, _ = await create(api, owner, receiver.url, ["customer.created"])
    receiver.answers = [302]
    await customer_changes(api, owner, 1)
    runner = JobRunner(db, sender(app, schedule=(3600,) * 9).handlers())
    await runner.run_due()
    assert [r.answered for r in receiver.received] == [302]  # /elsewhere never asked
    body = await api(ENDPOINT, {"id": endpoint_id}, owner)
    [delivery] = [e["node"] for e in body["data"]["webhookEndpoint"]["deliveries"]["edges"]]
    assert delivery["status"] == "PENDING" and "not followed" in delivery["error"]


@pytest.mark.parametrize(
    "host",
    ["localhost", "127.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "169.254.169.254"],
)
async def test_delivery_refuses_what_resolves_inside(
    app: Starlette, db: Database, world: World, receiver: Receiver, host: str
):
    """An endpoint made while private targets were allowed (or whose name now resolves
    inside) is refused at delivery by a server that does not allow them: nothing is sent."""
    owner_scope = TenantScope.tenant(world.a.id)
    services = app.state.services
    url = receiver.url.replace("127.0.0.1", host)
    async with db.write(owner_scope) as session:
        if host == "169.254.169.254":
            session.add(
                WebhookEndpoint(
                    reseller_id=world.a.id,
                    url=url,
                    event_types=["customer.created"],
                    status=EndpointStatus.ENABLED,
                    secret=services.webhooks.box.seal("whsec_" + "A" * 44),
                )
            )
        else:
            await services.webhooks.create(
                session, owner_scope, Actor.system(), url, ["customer.created"]
            )
    async with db.write(owner_scope) as session:
        await tenant_services.create_customer(
            session,
            owner_scope,
            tenant_services.NewCustomer(name="Inside", email="in@side.example", currency="EUR"),
        )
    runner = JobRunner(db, sender(app, allow_private=False, schedule=(3600,) * 9).handlers())
    assert await runner.run_due() == 1
    assert receiver.received == []
    async with db.read(TenantScope.system()) as session:
        [delivery] = list(await session.scalars(select(WebhookDelivery)))
    assert delivery.error is not None and delivery.error.startswith("refused: ")
    assert delivery.response_status is None


async def test_the_secret_is_sealed_at_rest(
    api: Api, db: Database, world: World, receiver: Receiver
):
    _, secret = await create(api, world.token("owner", world.a), receiver.url, TYPES)
    async with db.read(TenantScope.system()) as session:
        [row] = list(await session.scalars(select(WebhookEndpoint)))
    assert secret not in row.secret and secret[6:] not in row.secret


async def test_a_worker_that_dies_mid_delivery_sends_again_and_the_receiver_drops_the_repeat(
    app: Starlette,
    api: Api,
    db: Database,
    world: World,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(leases, "FINISH_ON_STOP_SECONDS", 0.05)
    owner = world.token("owner", world.a)
    _, secret = await create(api, owner, receiver.url, ["customer.created"])
    receiver.secrets = [secret]
    await customer_changes(api, owner, 1)

    class DiesAfterSending(WebhookSender):
        async def _finish(self, *args: Any, **kwargs: Any) -> None:
            await asyncio.Event().wait()  # the process is gone before the result is recorded

    services = app.state.services
    dying = DiesAfterSending(
        db, services.webhooks.box, services.composer, allow_private=True, schedule=(0.05,) * 9
    )
    first = asyncio.create_task(JobRunner(db, dying.handlers()).run_due())
    await eventually(lambda: _true(len(receiver.received) == 1), what="the first POST")
    first.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await first
    async with db.read(TenantScope.system()) as session:
        [delivery] = list(await session.scalars(select(WebhookDelivery)))
    assert delivery.status is WebhookDeliveryStatus.PENDING  # nothing was recorded
    # when another worker finds the lease run out
    after_the_lease = JobRunner(
        db, sender(app).handlers(), clock=lambda: utcnow() + timedelta(seconds=301)
    )
    await run_until(after_the_lease, lambda: len(receiver.received) == 2)
    # then it was sent twice, with one webhook-id: once after de-duplication
    assert [count for count in receiver.repeats().values()] == [2]
    assert len(receiver.delivered()) == 1 and all(r.verified for r in receiver.received)
    async with db.read(TenantScope.system()) as session:
        [delivery] = list(await session.scalars(select(WebhookDelivery)))
    assert delivery.status is WebhookDeliveryStatus.SUCCEEDED


async def _true(value: bool) -> bool:
    return value


async def test_a_billing_month_arrives_whole_and_in_order_across_an_outage(
    app: Starlette, api: Api, db: Database, world: World, receiver: Receiver
):
    owner = world.token("owner", world.a)
    _, secret = await create(api, owner, receiver.url, list(EVENT_TYPES))
    receiver.secrets = [secret]
    receiver.answers = [503, 502, 500, 503]  # down for the first four tries
    since = len(await stored(db))
    # a month: subscriptions, a billing run, every draft posted, one paid, one voided
    shop = await make_catalog(db)
    drafts = await retail_drafts(db, world.a.id, world.a.customers[:3], [shop.products["m365"]])
    lifecycle = app.state.services.lifecycle
    scope = TenantScope.tenant(world.a.id)
    for invoice_id in drafts:
        async with db.write(scope) as session:
            await lifecycle.update_status(
                session, scope, Actor.system(), invoice_id, InvoiceStatus.OPEN, notify=False
            )
    async with db.write(scope) as session:
        await lifecycle.update_status(
            session, scope, Actor.system(), drafts[0], InvoiceStatus.CLOSED, notify=False
        )
        await lifecycle.update_status(
            session, scope, Actor.system(), drafts[1], InvoiceStatus.VOID, notify=False
        )
    month = [e for e in (await stored(db))[since:] if e.reseller_id == world.a.id]
    assert {e.type for e in month} >= {
        "subscription.created",
        "invoice.created",
        "invoice.posted",
        "payment.succeeded",
        "invoice.paid",
        "invoice.voided",
    }
    runner = JobRunner(db, sender(app).handlers())
    await run_until(runner, lambda: len(receiver.delivered()) == len(month))
    got = receiver.delivered()
    assert [r.headers["webhook-id"] for r in got] == [event_global_id(e.id) for e in month]
    assert all(r.verified for r in receiver.received) and len(receiver.received) == len(month) + 4
