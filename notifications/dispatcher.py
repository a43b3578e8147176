"""The outbox dispatcher: delivers queued messages, at least once, without holding the database.

It runs the leased loop of ``jobs.leases``. Each round (``run_once``) has three steps, each its
own short transaction or none at all:

1. claim: one UPDATE takes a batch of due messages, leases them (``locked_until``) and counts
   the attempt, then commits. On PostgreSQL the batch is chosen ``FOR UPDATE SKIP LOCKED`` so
   dispatchers claim disjoint batches without waiting on each other; on SQLite ``BEGIN
   IMMEDIATE`` (see ``db.database``) makes claims take turns.
2. send, outside any transaction: an SMTP conversation can take seconds or time out, and a
   transaction held meanwhile would block every writer on SQLite and pin a connection and row
   locks on PostgreSQL.
3. record, one short transaction per message: SENT, rescheduled with exponential backoff, or
   FAILED.

A claimed message belongs to its dispatcher until the lease ends; a dispatcher that dies
mid-send leaves the lease to expire, and the message is then claimed again. So a message may be
sent twice (the process died after the SMTP server accepted it and before SENT was recorded),
never zero times; its Message-ID names the outbox row, so a receiver can tell a repeat. To keep
that window small a dispatcher never starts a send its lease might not cover, and ``stop()``
lets a send under way finish and record rather than abandon it.

Every step runs in the system scope: the outbox holds every tenant's mail.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.parser import BytesParser
from email.utils import getaddresses
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, update

from core.clock import utcnow
from db.database import Database
from db.scope import TenantScope
from jobs.leases import LeasedWorker, backoff_seconds, claim_statement
from notifications.events import record_failure
from notifications.models import DeliveryStatus, OutboxMessage
from notifications.transports import (
    DeliveryFailure,
    PermanentFailure,
    TemporaryFailure,
    Transport,
)
from notifications.wire import MAIL_POLICY

log = logging.getLogger("channelbill.outbox")

MAX_RETRY_SECONDS = 3600.0
_NO_SESSION_SYNC = {"synchronize_session": False}  # fresh sessions: nothing loaded to sync


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message this dispatcher holds the lease of; ``attempts`` (counted at the claim) is the
    fencing token: a result is recorded only while the row still carries it."""

    id: uuid.UUID
    attempts: int
    message: bytes
    next_attempt_at: datetime
    leased_until: datetime
    attachment: str | None = None
    reseller_id: uuid.UUID | None = None
    about_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    body: bytes


class Attachments(Protocol):
    """Draws what a message names in ``attachment`` (the invoice PDF) when it is sent: None
    when the thing is gone."""

    async def __call__(
        self, kind: str, reseller_id: uuid.UUID | None, about_id: uuid.UUID | None
    ) -> Attachment | None: ...


def with_attachment(raw: bytes, attachment: Attachment) -> bytes:
    message = BytesParser(policy=MAIL_POLICY).parsebytes(raw)
    maintype, _, subtype = attachment.content_type.partition(";")[0].partition("/")
    message.add_attachment(
        attachment.body, maintype=maintype, subtype=subtype, filename=attachment.filename
    )
    return message.as_bytes()


def headers_only(raw: bytes) -> bytes:
    """The header block of a message, without its body."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, _body = raw.partition(separator)
        if found:
            return head + separator
    return raw


def envelope(raw: bytes) -> tuple[bytes, str, list[str]]:
    """What to transmit, from whom, to whom: From; To, Cc and Bcc; the message without Bcc."""
    message = BytesParser(policy=MAIL_POLICY).parsebytes(raw)
    senders = [addr for _name, addr in getaddresses([str(h) for h in message.get_all("From", [])])]
    sender = next((addr for addr in senders if "@" in addr), "")
    if not sender:
        raise PermanentFailure("the message has no From address")
    recipients: list[str] = []
    for field in ("To", "Cc", "Bcc"):
        values = [str(h) for h in message.get_all(field, [])]
        for _name, addr in getaddresses(values):
            if "@" in addr and addr not in recipients:
                recipients.append(addr)
    if not recipients:
        raise PermanentFailure("the message has no recipient address")
    if "Bcc" in message:
        del message["Bcc"]
        raw = message.as_bytes()
    return raw, sender, recipients


class Dispatcher(LeasedWorker[Claimed]):
    """The outbox's worker: the shared leased loop (``jobs.leases``) over ``outbox_messages``."""

    name = "outbox dispatch"

    def __init__(
        self,
        db: Database,
        transport: Transport,
        *,
        max_attempts: int,
        retry_seconds: float,
        poll_seconds: float,
        batch_size: int = 20,
        lease_seconds: float = 300.0,
        send_timeout_seconds: float = 60.0,
        max_retry_seconds: float = MAX_RETRY_SECONDS,
        attachments: Attachments | None = None,
    ) -> None:
        if max_attempts < 1 or batch_size < 1 or retry_seconds <= 0 or poll_seconds <= 0:
            raise ValueError("max_attempts, batch_size, retry and poll intervals must be positive")
        if not 0 < send_timeout_seconds < lease_seconds:
            # Otherwise a send could outlive its lease and another dispatcher send it too.
            raise ValueError("send_timeout_seconds must be positive and shorter than the lease")
        super().__init__(
            poll_seconds=poll_seconds, work_timeout_seconds=send_timeout_seconds, log=log
        )
        self.db = db
        self.transport = transport
        self.max_attempts = max_attempts
        self.retry_seconds = retry_seconds
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.send_timeout_seconds = send_timeout_seconds
        self.max_retry_seconds = max_retry_seconds
        self.attachments = attachments

    async def work(self, item: Claimed) -> None:
        failure = await self._deliver(item)
        await self._record(item, failure)

    async def claim(self) -> list[Claimed]:
        now = utcnow()
        leased_until = now + timedelta(seconds=self.lease_seconds)
        claim = claim_statement(
            OutboxMessage,
            [OutboxMessage.status == DeliveryStatus.QUEUED, OutboxMessage.next_attempt_at <= now],
            [OutboxMessage.next_attempt_at, OutboxMessage.id],
            [
                OutboxMessage.id,
                OutboxMessage.attempts,
                OutboxMessage.message,
                OutboxMessage.next_attempt_at,
                OutboxMessage.attachment,
                OutboxMessage.reseller_id,
                OutboxMessage.about_id,
            ],
            now=now,
            leased_until=leased_until,
            limit=self.batch_size,
            skip_locked=self.db.is_postgresql,
        )
        async with self.db.write(TenantScope.system()) as session:
            rows = (await session.execute(claim)).all()
        batch = [
            Claimed(
                r.id,
                r.attempts,
                r.message,
                r.next_attempt_at,
                leased_until,
                r.attachment,
                r.reseller_id,
                r.about_id,
            )
            for r in rows
        ]
        # RETURNING promises no order; send oldest first as the claim chose them.
        batch.sort(key=lambda c: (c.next_attempt_at, c.id))
        return batch

    async def _deliver(self, item: Claimed) -> DeliveryFailure | None:
        started = time.monotonic()
        try:
            raw = await self._with_attachment(item)
            message, sender, recipients = envelope(raw)
            async with asyncio.timeout(self.send_timeout_seconds):
                await self.transport.send(message, sender, recipients)
        except DeliveryFailure as failure:
            return failure
        except TimeoutError:
            return TemporaryFailure(f"no answer within {self.send_timeout_seconds:g} s")
        except Exception as error:
            # A bug or an unforeseen error in a transport must not stop the dispatcher; retry
            # like an outage, and leave the traceback (no message content) to the log.
            log.exception("outbox message %s: unexpected error while sending", item.id)
            return TemporaryFailure(f"unexpected error: {type(error).__name__}")
        log.debug("outbox message %s handed over in %.3f s", item.id, time.monotonic() - started)
        return None

    async def _with_attachment(self, item: Claimed) -> bytes:
        if item.attachment is None:
            return item.message
        if self.attachments is None:
            raise PermanentFailure(f"no way to attach {item.attachment}")
        try:
            found = await self.attachments(item.attachment, item.reseller_id, item.about_id)
        except Exception as error:
            log.exception("outbox message %s: the attachment could not be drawn", item.id)
            raise TemporaryFailure(f"attachment failed: {type(error).__name__}") from None
        if found is None:
            raise PermanentFailure(f"the {item.attachment} is gone")
        return with_attachment(item.message, found)

    async def _record(self, item: Claimed, failure: DeliveryFailure | None) -> None:
        now = utcnow()
        values: dict[str, Any] = {"locked_until": None}
        if failure is None:
            # Once delivered, the body is the recipient's, not ours to keep: it may hold a
            # one-time link or personal data. The headers (Message-ID, To, Subject) remain.
            values.update(
                status=DeliveryStatus.SENT,
                sent_at=now,
                last_error=None,
                message=headers_only(item.message),
            )
        elif isinstance(failure, TemporaryFailure) and item.attempts < self.max_attempts:
            delay = self.retry_delay(item.attempts)
            values.update(next_attempt_at=now + timedelta(seconds=delay), last_error=failure.reason)
        else:
            values.update(status=DeliveryStatus.FAILED, last_error=failure.reason)
        record = (
            update(OutboxMessage)
            .where(
                OutboxMessage.id == item.id,
                OutboxMessage.status == DeliveryStatus.QUEUED,
                OutboxMessage.attempts == item.attempts,
            )
            .values(**values)
            .execution_options(**_NO_SESSION_SYNC)
        )
        async with self.db.write(TenantScope.system()) as session:
            result = cast(CursorResult[Any], await session.execute(record))
            if result.rowcount == 1 and values.get("status") == DeliveryStatus.FAILED:
                await record_failure(session, item.id)
        if result.rowcount == 0:
            log.warning("outbox message %s was claimed again before its result was in", item.id)
        elif failure is None:
            log.info("outbox message %s sent (attempt %d)", item.id, item.attempts)
        elif values.get("status") == DeliveryStatus.FAILED:
            log.error(
                "outbox message %s failed after %d attempt(s): %s",
                item.id,
                item.attempts,
                failure.reason,
            )
        else:
            log.warning(
                "outbox message %s: attempt %d failed, next in %g s: %s",
                item.id,
                item.attempts,
                self.retry_delay(item.attempts),
                failure.reason,
            )

    async def release(self, items: Sequence[Claimed]) -> None:
        """Give back claimed messages that were not tried: no lease, and no attempt counted."""
        async with self.db.write(TenantScope.system()) as session:
            for item in items:
                await session.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.id == item.id,
                        OutboxMessage.status == DeliveryStatus.QUEUED,
                        OutboxMessage.attempts == item.attempts,
                    )
                    .values(locked_until=None, attempts=OutboxMessage.attempts - 1)
                    .execution_options(**_NO_SESSION_SYNC)
                )

    def retry_delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt: doubling, capped."""
        return backoff_seconds(attempts, self.retry_seconds, self.max_retry_seconds)
