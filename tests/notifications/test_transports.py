"""The transports on their own: .eml files, and how SMTP failures are told apart and worded."""

from __future__ import annotations

import asyncio
import os
import re
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from notifications.dispatcher import envelope
from notifications.models import DeliveryStatus
from notifications.transports import (
    MAX_REASON,
    FileTransport,
    PermanentFailure,
    SmtpTransport,
    TemporaryFailure,
)
from tests.factories import World
from tests.notifications import Outbox, SmtpServer, free_port, make_message

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
EML = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-[A-Za-z0-9._@+=-]+\.eml$")


@asynccontextmanager
async def fake_server(handler: Handler) -> AsyncIterator[int]:
    """A TCP server on loopback speaking whatever ``handler`` speaks; yields its port."""
    sessions: set[asyncio.Task[None]] = set()

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        sessions.add(task)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        if sessions:  # the client has hung up by now: let the sessions see it and end
            await asyncio.wait(sessions, timeout=5)
        await server.wait_closed()


async def test_file_transport_writes_whole_parseable_eml_files(tmp_path: Path):
    directory = tmp_path / "not" / "yet" / "there"
    transport = FileTransport(directory)
    message = make_message(to="Zoë <zoe@example.com>", bcc="audit@example.com", body="Grüße\n")
    message["Message-ID"] = "<0190abcd.1@channelbill>"
    raw, sender, recipients = envelope(bytes(message))

    await transport.send(raw, sender, recipients)

    [path] = list(directory.iterdir())  # no temporary file left behind
    assert EML.match(path.name), path.name
    assert path.name.endswith("-0190abcd.1@channelbill.eml")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # invitation links are secrets
    written = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert written["Message-ID"] == "<0190abcd.1@channelbill>"
    assert written["Subject"] == "Your invoice"
    assert written["To"] == "Zoë <zoe@example.com>"
    assert "Bcc" not in written
    assert written["Return-Path"] == "<billing@localhost>"
    assert written["X-Envelope-To"] == "zoe@example.com, audit@example.com"
    plain = written.get_body(("plain",))
    assert plain is not None and plain.get_content() == "Grüße\n"


async def test_file_transport_names_files_apart(tmp_path: Path):
    transport = FileTransport(tmp_path)
    for _ in range(3):
        await transport.send(bytes(make_message()), "billing@localhost", ["alice@example.com"])
    names = sorted(await asyncio.to_thread(os.listdir, tmp_path))
    assert len(names) == 3 and all(EML.match(name) for name in names)


async def test_file_transport_failure_is_temporary(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(TemporaryFailure, match="cannot write to"):
        await FileTransport(blocker / "outbox").send(b"Subject: x\n\nx\n", "a@b.example", ["c@d"])


async def test_the_dispatcher_delivers_into_the_file_transport(
    world: World, outbox: Outbox, tmp_path: Path
):
    [row_id] = await outbox.queue(world.a.id)
    dispatcher = outbox.dispatcher(FileTransport(tmp_path / "outbox"))
    assert await dispatcher.run_once() == 1
    assert (await outbox.row(row_id)).status == DeliveryStatus.SENT
    [path] = list((tmp_path / "outbox").iterdir())
    assert row_id.hex in path.name
    assert message_from_bytes(path.read_bytes(), policy=policy.default)["To"] == (
        "alice@example.com"
    )


async def test_an_unreachable_server_is_a_temporary_failure():
    transport = SmtpTransport(
        "127.0.0.1", free_port(), False, None, None, timeout=2
    )  # no one there
    with pytest.raises(TemporaryFailure, match="Connect call failed"):
        await transport.send(bytes(make_message()), "a@b.example", ["c@d.example"])


async def test_a_silent_server_times_out_as_a_temporary_failure():
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never greets

    async with fake_server(silent) as port:
        transport = SmtpTransport("127.0.0.1", port, False, None, None, timeout=0.2)
        with pytest.raises(TemporaryFailure, match=r"(?i)timed out"):
            await transport.send(bytes(make_message()), "a@b.example", ["c@d.example"])


async def test_a_refused_login_is_temporary_and_the_reason_hides_the_password():
    password = "s3cret-Passw0rd"

    async def rejecting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 fake ESMTP\r\n")
        while line := await reader.readline():
            if line.upper().startswith(b"EHLO"):
                writer.write(b"250-fake\r\n250 AUTH PLAIN LOGIN\r\n")
            elif line.upper().startswith(b"AUTH"):
                # A careless server echoing the credentials back.
                writer.write(f"535 5.7.8 bad password {password} for you\r\n".encode())
            else:
                writer.write(b"221 bye\r\n")
                break
            await writer.drain()

    async with fake_server(rejecting) as port:
        transport = SmtpTransport("127.0.0.1", port, False, "billing", password, timeout=2)
        # A login problem is the configuration's, not the message's: not FAILED at once.
        with pytest.raises(TemporaryFailure) as failure:
            await transport.send(bytes(make_message()), "a@b.example", ["c@d.example"])
    assert "535" in failure.value.reason
    assert password not in failure.value.reason and password not in str(failure.value)
    assert password not in repr(transport)


async def test_starttls_is_required_when_configured(smtp: SmtpServer):
    # aiosmtpd here offers no STARTTLS: refuse to go on in clear text.
    transport = smtp.transport(starttls=True, username="billing", password="pw")
    with pytest.raises(TemporaryFailure, match="STARTTLS"):
        await transport.send(bytes(make_message()), "a@b.example", ["c@d.example"])
    assert smtp.inbox.messages() == []


async def test_a_rejected_message_is_a_permanent_failure(smtp: SmtpServer):
    smtp.inbox.reject["nobody@example.com"] = "550 5.1.1 no such user"
    with pytest.raises(PermanentFailure, match=r"all recipients refused: 550 5\.1\.1"):
        await smtp.transport().send(bytes(make_message()), "a@b.example", ["nobody@example.com"])


def test_reasons_are_one_short_line():
    failure = TemporaryFailure("line one\r\nline two " + "x" * 1000)
    assert failure.reason.startswith("line one line two x")
    assert len(failure.reason) == MAX_REASON


def test_the_envelope_comes_from_the_headers_and_drops_bcc():
    message = make_message(
        to="Alice <alice@example.com>, bob@example.com",
        cc="alice@example.com, carol@example.com",
        bcc="audit@example.com",
    )
    raw, sender, recipients = envelope(bytes(message))
    assert sender == "billing@localhost"
    assert recipients == [
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
        "audit@example.com",
    ]
    sent = message_from_bytes(raw, policy=policy.default)
    assert "Bcc" not in sent and b"audit@example.com" not in raw
    assert sent["Cc"] == "alice@example.com, carol@example.com"
    without_bcc = make_message()
    assert envelope(bytes(without_bcc))[0] == bytes(without_bcc)  # untouched when no Bcc


def test_a_message_without_sender_cannot_be_sent():
    message = make_message()
    del message["From"]
    with pytest.raises(PermanentFailure, match="no From address"):
        envelope(bytes(message))
