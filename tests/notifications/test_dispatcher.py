"""The dispatcher against a real SMTP server (aiosmtpd on loopback), on SQLite and PostgreSQL:
delivery, outages, retries and give-ups, rollbacks, leases, and several dispatchers at once."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import timedelta
from email import message_from_bytes, policy
from typing import Any

import pytest
from sqlalchemy import update

from core.clock import utcnow
from db.database import Database
from db.scope import TenantScope
from notifications.dispatcher import Claimed, Dispatcher
from notifications.models import DeliveryStatus, OutboxMessage
from notifications.outbox import enqueue
from notifications.transports import Transport
from server.settings import Settings
from tests.factories import World
from tests.notifications import Outbox, SmtpServer, eventually, make_message


def message_id(raw: bytes) -> str:
    return str(message_from_bytes(raw, policy=policy.default)["Message-ID"])


async def test_a_queued_message_is_delivered_once_and_marked_sent(
    world: World, outbox: Outbox, smtp: SmtpServer, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG, logger="channelbill.outbox")
    body = "Grüße, Zoë!\n\nYour invoice for März is ready.\n"
    [row_id] = await outbox.queue(
        world.a.id,
        to="Zoë Müller <zoe@example.com>",
        cc="accounts@example.com",
        bcc="audit@example.com",
        subject="Rechnung für März",
        body=body,
    )
    queued = await outbox.row(row_id)
    dispatcher = outbox.dispatcher(smtp.transport())

    assert await dispatcher.run_once() == 1
    assert await dispatcher.run_once() == 0

    row = await outbox.row(row_id)
    assert row.status == DeliveryStatus.SENT
    assert row.attempts == 1
    assert row.sent_at is not None and row.last_error is None and row.locked_until is None
    [received] = smtp.inbox.messages()
    assert received.mail_from == "billing@localhost"
    assert sorted(received.rcpt_tos) == [
        "accounts@example.com",
        "audit@example.com",
        "zoe@example.com",
    ]
    message = received.message
    assert "Bcc" not in message
    assert b"audit@example.com" not in received.content
    assert message["Subject"] == "Rechnung für März"
    assert message["To"] == "Zoë Müller <zoe@example.com>"
    assert message["Message-ID"] == message_id(queued.message)
    assert f"{row_id.hex}@channelbill>" in message["Message-ID"]  # names the outbox row
    plain, html = (message.get_body((kind,)) for kind in ("plain", "html"))
    assert plain is not None and html is not None
    assert plain.get_content().replace("\r\n", "\n") == body  # SMTP sends CRLF line ends
    assert html.get_content().replace("\r\n", "\n").strip() == f"<p>{body}</p>"
    assert "Grüße" not in caplog.text and "Zoë" not in caplog.text  # no content in the logs


async def test_an_outage_delays_mail_and_loses_or_repeats_none(
    world: World, outbox: Outbox, smtp: SmtpServer
):
    smtp.stop()
    for reseller in (world.a, world.b):
        for _ in range(5):  # ten transactions, as ten invitations would be
            await outbox.queue(reseller.id)
    expected = await outbox.message_ids()
    assert len(expected) == 10
    dispatcher = outbox.dispatcher(smtp.transport())
    await dispatcher.start()
    try:

        async def all_tried() -> bool:
            rows = (await outbox.rows()).values()
            return all(r.attempts > 0 and r.last_error for r in rows)

        await eventually(all_tried, what="every message to be tried while SMTP is down")
        rows = (await outbox.rows()).values()
        assert {r.status for r in rows} == {DeliveryStatus.QUEUED}
        assert all("Connect call failed" in (r.last_error or "") for r in rows)
        assert smtp.inbox.messages() == []

        smtp.start()

        async def all_sent() -> bool:
            rows = (await outbox.rows()).values()
            return all(r.status == DeliveryStatus.SENT for r in rows)

        await eventually(all_sent, what="every message to be sent after the outage")
    finally:
        await dispatcher.stop()
    assert smtp.inbox.message_ids() == expected  # each exactly once
    rows = (await outbox.rows()).values()
    assert all(r.last_error is None and r.locked_until is None for r in rows)


async def test_temporary_failures_give_up_after_max_attempts(
    world: World, outbox: Outbox, smtp: SmtpServer
):
    smtp.stop()
    [row_id] = await outbox.queue(world.a.id)
    dispatcher = outbox.dispatcher(smtp.transport(), max_attempts=3, retry_seconds=0.01)

    async def failed() -> bool:
        await dispatcher.run_once()
        return (await outbox.row(row_id)).status == DeliveryStatus.FAILED

    await eventually(failed, what="the message to fail")
    row = await outbox.row(row_id)
    assert row.attempts == 3
    assert row.last_error and "Connect call failed" in row.last_error
    assert row.locked_until is None and row.sent_at is None
    smtp.start()
    assert await dispatcher.run_once() == 0
    assert smtp.inbox.messages() == []


async def test_backoff_doubles_from_retry_seconds(world: World, outbox: Outbox, smtp: SmtpServer):
    smtp.stop()
    [row_id] = await outbox.queue(world.a.id)
    dispatcher = outbox.dispatcher(smtp.transport(), retry_seconds=30.0, max_retry_seconds=3600.0)
    before = utcnow()
    assert await dispatcher.run_once() == 1
    first = await outbox.row(row_id)
    assert first.status == DeliveryStatus.QUEUED
    assert timedelta(seconds=29) < first.next_attempt_at - before < timedelta(seconds=31)
    assert await dispatcher.run_once() == 0  # not due yet
    assert [dispatcher.retry_delay(n) for n in (1, 2, 3, 4)] == [30.0, 60.0, 120.0, 240.0]
    assert dispatcher.retry_delay(20) == 3600.0  # capped at an hour


async def test_a_5xx_rejection_fails_at_once(world: World, outbox: Outbox, smtp: SmtpServer):
    smtp.inbox.reject["nobody@example.com"] = "550 5.1.1 <nobody@example.com>: no such user"
    [row_id] = await outbox.queue(world.a.id, to="nobody@example.com")
    dispatcher = outbox.dispatcher(smtp.transport())

    assert await dispatcher.run_once() == 1
    row = await outbox.row(row_id)
    assert row.status == DeliveryStatus.FAILED
    assert row.attempts == 1
    assert row.last_error and "550 5.1.1" in row.last_error
    assert await dispatcher.run_once() == 0
    assert smtp.inbox.messages() == []


async def test_a_4xx_rejection_is_retried(world: World, outbox: Outbox, smtp: SmtpServer):
    smtp.inbox.reject["busy@example.com"] = "451 4.3.0 mailbox busy, try later"
    [row_id] = await outbox.queue(world.a.id, to="busy@example.com")
    dispatcher = outbox.dispatcher(smtp.transport())

    assert await dispatcher.run_once() == 1
    row = await outbox.row(row_id)
    assert row.status == DeliveryStatus.QUEUED
    assert row.last_error and "451 4.3.0" in row.last_error
    del smtp.inbox.reject["busy@example.com"]

    async def sent() -> bool:
        await dispatcher.run_once()
        return (await outbox.row(row_id)).status == DeliveryStatus.SENT

    await eventually(sent, what="the retry to go through")
    assert (await outbox.row(row_id)).attempts == 2
    assert len(smtp.inbox.messages()) == 1


async def test_one_refused_recipient_of_two_still_counts_as_sent(
    world: World, outbox: Outbox, smtp: SmtpServer
):
    # Sending again would repeat the message to the recipient who got it.
    smtp.inbox.reject["nobody@example.com"] = "550 5.1.1 no such user"
    [row_id] = await outbox.queue(world.b.id, to="nobody@example.com", cc="bob@example.com")
    assert await outbox.dispatcher(smtp.transport()).run_once() == 1
    assert (await outbox.row(row_id)).status == DeliveryStatus.SENT
    [received] = smtp.inbox.messages()
    assert received.rcpt_tos == ["bob@example.com"]


async def test_a_message_without_recipients_fails_without_trying(
    world: World, outbox: Outbox, db: Database, smtp: SmtpServer
):
    message = make_message()
    del message["To"]
    async with db.write(TenantScope.tenant(world.a.id)) as session:
        row_id = enqueue(session, message, event="test", reseller_id=world.a.id).id
    assert await outbox.dispatcher(smtp.transport()).run_once() == 1
    row = await outbox.row(row_id)
    assert row.status == DeliveryStatus.FAILED
    assert row.last_error == "the message has no recipient address"
    assert smtp.inbox.messages() == []


async def test_a_message_in_a_rolled_back_transaction_is_never_sent(
    world: World, outbox: Outbox, db: Database, smtp: SmtpServer
):
    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned):
        async with db.write(TenantScope.tenant(world.a.id)) as session:
            enqueue(session, make_message(), event="test", reseller_id=world.a.id)
            await session.flush()  # the row was written, then the transaction is undone
            raise Abandoned
    dispatcher = outbox.dispatcher(smtp.transport())
    assert await dispatcher.run_once() == 0
    assert await outbox.rows() == {}
    assert smtp.inbox.messages() == []


class Slow:
    """A transport that takes a little while, so that dispatchers overlap; counts its sends."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.sent = 0

    async def send(self, message: bytes, sender: str, recipients: list[str]) -> None:
        await asyncio.sleep(0.01)
        await self.inner.send(message, sender, recipients)
        self.sent += 1


class Counting(Dispatcher):
    """Records the size of each batch it claims."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.claims: list[int] = []

    async def claim(self) -> list[Claimed]:
        batch = await super().claim()
        self.claims.append(len(batch))
        return batch


async def test_a_round_takes_one_batch_oldest_first(world: World, outbox: Outbox, smtp: SmtpServer):
    await outbox.queue(world.a.id, count=7)
    dispatcher = outbox.dispatcher(smtp.transport(), batch_size=3)
    assert [await dispatcher.run_once() for _ in range(4)] == [3, 3, 1, 0]
    rows = sorted((await outbox.rows()).values(), key=lambda r: (r.next_attempt_at, r.id))
    received = [str(r.message["Message-ID"]) for r in smtp.inbox.messages()]
    assert received == [message_id(r.message) for r in rows]


async def test_concurrent_dispatchers_deliver_each_message_exactly_once(
    world: World, outbox: Outbox, settings: Settings, smtp: SmtpServer
):
    for reseller in (world.a, world.b, world.a):
        await outbox.queue(reseller.id, count=10)
    expected = await outbox.message_ids()
    assert len(expected) == 30
    # Each dispatcher with a connection pool of its own, as separate processes would have.
    databases = [Database(settings.database_url, pool_size=2) for _ in range(3)]
    transports = [Slow(smtp.transport()) for _ in databases]
    dispatchers = [
        Counting(
            database, transport, max_attempts=5, retry_seconds=0.05, poll_seconds=0.01, batch_size=3
        )
        for database, transport in zip(databases, transports, strict=True)
    ]
    try:
        for dispatcher in dispatchers:
            await dispatcher.start()

        async def all_sent() -> bool:
            rows = (await outbox.rows()).values()
            return all(r.status == DeliveryStatus.SENT for r in rows)

        await eventually(all_sent, what="30 messages to be sent by three dispatchers")
    finally:
        for dispatcher in dispatchers:
            await dispatcher.stop()
        for database in databases:
            await database.dispose()
    assert smtp.inbox.message_ids() == expected
    assert sum(t.sent for t in transports) == 30
    assert sum(1 for t in transports if t.sent) >= 2, "the dispatchers did not overlap"
    assert max(n for d in dispatchers for n in d.claims) <= 3  # never more than a batch
    assert {r.attempts for r in (await outbox.rows()).values()} == {1}


async def test_an_expired_lease_is_claimed_again(world: World, outbox: Outbox, smtp: SmtpServer):
    [row_id] = await outbox.queue(world.a.id)
    # A dispatcher claims the message and dies before sending it.
    dead = outbox.dispatcher(smtp.transport(), lease_seconds=0.5, send_timeout_seconds=0.1)
    [claimed] = await dead.claim()
    assert claimed.id == row_id and claimed.attempts == 1
    survivor = outbox.dispatcher(smtp.transport())
    assert await survivor.run_once() == 0  # the lease still holds
    assert smtp.inbox.messages() == []

    async def reclaimed() -> bool:
        return await survivor.run_once() == 1

    await eventually(reclaimed, within=5, what="the lease to expire")
    row = await outbox.row(row_id)
    assert row.status == DeliveryStatus.SENT
    assert row.attempts == 2
    assert len(smtp.inbox.messages()) == 1


async def test_a_live_lease_is_left_alone(
    world: World, outbox: Outbox, db: Database, smtp: SmtpServer
):
    held, expired = await outbox.queue(world.a.id, count=2)
    now = utcnow()
    async with db.write(TenantScope.system()) as session:
        for row_id, until in ((held, now + timedelta(hours=1)), (expired, now - timedelta(1))):
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id)
                .values(locked_until=until, attempts=1)
            )
    assert await outbox.dispatcher(smtp.transport()).run_once() == 1
    rows = await outbox.rows()
    assert rows[held].status == DeliveryStatus.QUEUED and rows[held].attempts == 1
    assert rows[expired].status == DeliveryStatus.SENT and rows[expired].attempts == 2
    assert smtp.inbox.message_ids() == Counter([message_id(rows[expired].message)])


class Gate:
    """A transport that holds each send until the test opens the gate."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.waiting = asyncio.Event()
        self.open = asyncio.Event()

    async def send(self, message: bytes, sender: str, recipients: list[str]) -> None:
        self.waiting.set()
        await self.open.wait()
        await self.inner.send(message, sender, recipients)


async def test_stop_finishes_the_send_under_way_and_gives_back_the_rest(
    world: World, outbox: Outbox, smtp: SmtpServer
):
    first, *rest = await outbox.queue(world.a.id, count=3)
    gate = Gate(smtp.transport())
    dispatcher = outbox.dispatcher(gate)
    await dispatcher.start()
    await asyncio.wait_for(gate.waiting.wait(), timeout=5)
    stopping = asyncio.create_task(dispatcher.stop())
    await asyncio.sleep(0)  # let stop() cancel the dispatcher mid-send
    gate.open.set()
    await asyncio.wait_for(stopping, timeout=5)

    rows = await outbox.rows()
    assert rows[first].status == DeliveryStatus.SENT  # recorded, so never sent again
    assert len(smtp.inbox.messages()) == 1
    for row_id in rest:  # claimed, not tried: free for the next dispatcher, no attempt spent
        assert rows[row_id].status == DeliveryStatus.QUEUED
        assert rows[row_id].locked_until is None and rows[row_id].attempts == 0


class Flaky:
    """A database that is unavailable for its first few transactions."""

    def __init__(self, db: Database, failures: int) -> None:
        self.db = db
        self.failures = failures
        self.is_postgresql = db.is_postgresql

    def write(self, scope: TenantScope) -> Any:
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError("database unavailable")
        return self.db.write(scope)


async def test_run_forever_survives_errors_and_stops_cleanly(
    world: World, outbox: Outbox, db: Database, smtp: SmtpServer, caplog: pytest.LogCaptureFixture
):
    [row_id] = await outbox.queue(world.a.id)
    flaky = Flaky(db, failures=3)
    dispatcher = Dispatcher(
        flaky,  # type: ignore[arg-type]
        smtp.transport(),
        max_attempts=5,
        retry_seconds=0.05,
        poll_seconds=0.01,
    )
    await dispatcher.start()
    with pytest.raises(RuntimeError, match="already running"):
        await dispatcher.start()
    try:

        async def sent() -> bool:
            return (await outbox.row(row_id)).status == DeliveryStatus.SENT

        await eventually(sent, what="delivery once the database is back")
    finally:
        await dispatcher.stop()
    await dispatcher.stop()  # stopping twice is harmless
    failures = [r for r in caplog.records if "outbox dispatch failed" in r.getMessage()]
    assert len(failures) == 3
    assert all(r.name == "channelbill.outbox" and r.levelno == logging.ERROR for r in failures)
    assert len(smtp.inbox.messages()) == 1


async def test_stop_cancels_an_idle_dispatcher(outbox: Outbox, smtp: SmtpServer):
    dispatcher = outbox.dispatcher(smtp.transport(), poll_seconds=30)
    await dispatcher.start()
    task = dispatcher._task
    assert task is not None
    await asyncio.sleep(0.05)
    await asyncio.wait_for(dispatcher.stop(), timeout=1)
    assert task.cancelled()
