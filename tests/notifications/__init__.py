"""Helpers for the outbox tests: a real SMTP server on loopback that can go down and come back on
the same port, messages queued the way the application queues them, and waiting on conditions
with a deadline instead of sleeping a guessed time."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import select

from db.database import Database
from db.scope import TenantScope
from notifications.dispatcher import Dispatcher
from notifications.models import OutboxMessage
from notifications.outbox import enqueue
from notifications.transports import SmtpTransport, Transport

SENDER = "channelbill <billing@localhost>"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Inbox:
    """The aiosmtpd handler: keeps what arrives; answers ``reject[address]`` to RCPT TO."""

    received: list[Received] = field(default_factory=list)
    reject: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # the server has its thread

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.reject:
            return self.reject[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        return "250 Message accepted for delivery"

    def messages(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def message_ids(self) -> Counter[str]:
        return Counter(str(r.message["Message-ID"]) for r in self.messages())


class SmtpServer:
    """aiosmtpd on 127.0.0.1:<port>; ``stop()`` and ``start()`` again simulate an outage."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inbox = Inbox()
        self._controller: Controller | None = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        # A controller's loop is closed when it stops: a restart needs a new one.
        controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def transport(self, **options: Any) -> SmtpTransport:
        settings: dict[str, Any] = {
            "starttls": False,
            "username": None,
            "password": None,
            "timeout": 5.0,
        }
        settings.update(options)
        return SmtpTransport("127.0.0.1", self.port, **settings)


def make_message(
    to: str = "alice@example.com",
    subject: str = "Your invoice",
    *,
    cc: str | None = None,
    bcc: str | None = None,
    body: str = "Hello Alice,\n\nyour invoice is ready.\n",
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = to
    if cc:
        message["Cc"] = cc
    if bcc:
        message["Bcc"] = bcc
    message["Subject"] = subject
    message.set_content(body)
    message.add_alternative(f"<p>{body}</p>", subtype="html")
    return message


class Outbox:
    """The outbox table of one database, as the tests look at it."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def queue(
        self, reseller_id: uuid.UUID | None, count: int = 1, **message: Any
    ) -> list[uuid.UUID]:
        """Queue ``count`` messages in one committed transaction, as the application does."""
        scope = TenantScope.tenant(reseller_id) if reseller_id else TenantScope.system()
        async with self.db.write(scope) as session:
            rows = [
                enqueue(session, make_message(**message), event="test", reseller_id=reseller_id)
                for _ in range(count)
            ]
        return [row.id for row in rows]

    async def rows(self) -> dict[uuid.UUID, OutboxMessage]:
        async with self.db.read(TenantScope.system()) as session:
            found = (await session.scalars(select(OutboxMessage))).all()
        return {row.id: row for row in found}

    async def row(self, row_id: uuid.UUID) -> OutboxMessage:
        return (await self.rows())[row_id]

    async def message_ids(self) -> Counter[str]:
        return Counter(
            str(message_from_bytes(r.message, policy=policy.default)["Message-ID"])
            for r in (await self.rows()).values()
        )

    def dispatcher(self, transport: Transport, **options: Any) -> Dispatcher:
        """Test timings: retries in tens of milliseconds, not minutes."""
        settings: dict[str, Any] = {
            "max_attempts": 50,
            "retry_seconds": 0.05,
            "poll_seconds": 0.02,
            "max_retry_seconds": 0.2,
        }
        settings.update(options)
        return Dispatcher(self.db, transport, **settings)


async def eventually(
    condition: Callable[[], Awaitable[bool]], *, within: float = 15.0, what: str = "condition"
) -> None:
    """Poll ``condition`` until it holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
