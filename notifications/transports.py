"""How a finished message leaves the platform: an SMTP server, or .eml files on disk.

A transport only delivers bytes to an envelope and says how a failure should be treated: a
``TemporaryFailure`` is worth trying again later (the server is down, slow, or answered 4xx), a
``PermanentFailure`` is not (a 5xx reply to the message itself). The dispatcher owns the retry
policy and the bookkeeping; transports know nothing of the database.

Failure reasons end up in ``outbox_messages.last_error`` and in logs, so they are short, never
quote the message and never contain the SMTP password.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import uuid
from email import policy
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path
from typing import Protocol

import aiosmtplib

from core.clock import utcnow
from notifications.wire import SMTP_POLICY

MAX_REASON = 500  # the width of outbox_messages.last_error

log = logging.getLogger("channelbill.outbox")


class DeliveryFailure(Exception):
    """A message was not delivered; ``reason`` is safe to store and to log."""

    def __init__(self, reason: str) -> None:
        self.reason = " ".join(reason.split())[:MAX_REASON] or type(self).__name__
        super().__init__(self.reason)


class TemporaryFailure(DeliveryFailure):
    """Try again later: the server could not be reached, timed out, or answered 4xx."""


class PermanentFailure(DeliveryFailure):
    """Do not try again: the server rejected this message (5xx), or it cannot be sent at all."""


class Transport(Protocol):
    async def send(self, message: bytes, sender: str, recipients: list[str]) -> None:
        """Deliver ``message`` (a complete RFC 5322 message, without Bcc) to ``recipients``."""
        ...


class SmtpTransport:
    """One SMTP connection per message, through ``aiosmtplib``.

    Failures to connect, to start TLS or to log in are temporary even when the server answers
    5xx: they say the configuration or the server is wrong, not the message, and marking every
    queued message FAILED because of a typo in SMTP_PASSWORD would lose mail that a fix (within
    the retry window) would have delivered.
    """

    def __init__(
        self,
        host: str,
        port: int,
        starttls: bool,
        username: str | None,
        password: str | None,
        timeout: float,
        *,
        implicit_tls: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.starttls = starttls and not implicit_tls
        self.implicit_tls = implicit_tls
        self.username = username
        self._password = password
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"SmtpTransport({self.host!r}, {self.port})"

    async def send(self, message: bytes, sender: str, recipients: list[str]) -> None:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self.timeout,
            use_tls=self.implicit_tls,
            # True, not None: if STARTTLS is configured and the server does not offer it, fail
            # rather than send the password and the message in clear text.
            start_tls=self.starttls,
            username=self.username,
            password=self._password,
        )
        try:
            await client.connect()
        except aiosmtplib.SMTPConnectError as error:
            raise TemporaryFailure(self._reason(_describe(error))) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            # STARTTLS or login went wrong: a configuration matter, see the class docstring.
            raise TemporaryFailure(self._reason(f"SMTP {self.host}:{self.port}", error)) from None
        try:
            refused = await self._transmit(client, message, sender, recipients)
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [r.code for r in error.recipients]
            first = error.recipients[0] if error.recipients else None
            detail = f"{first.code} {first.message}" if first else "no reply"
            reason = self._reason(f"all recipients refused: {detail}")
            if codes and all(code >= 500 for code in codes):
                raise PermanentFailure(reason) from None
            raise TemporaryFailure(reason) from None
        except aiosmtplib.SMTPResponseException as error:
            reason = self._reason(_describe(error))
            if error.code >= 500:
                raise PermanentFailure(reason) from None
            raise TemporaryFailure(reason) from None
        except (aiosmtplib.SMTPNotSupported, ValueError) as error:
            # An address or message the server cannot take (e.g. non-ASCII without SMTPUTF8):
            # asking again will not change the answer.
            raise PermanentFailure(self._reason("cannot send", error)) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise TemporaryFailure(self._reason("connection lost", error)) from None
        finally:
            await self._close(client)
        if refused:
            # Some recipients took the message: it is delivered, and sending it again would
            # repeat it to them; the refused ones are only worth a word in the log.
            codes = ", ".join(sorted({str(reply.code) for reply in refused.values()}))
            log.warning("%d of %d recipients refused (%s)", len(refused), len(recipients), codes)

    async def _transmit(
        self, client: aiosmtplib.SMTP, message: bytes, sender: str, recipients: list[str]
    ) -> dict[str, aiosmtplib.SMTPResponse]:
        envelope_ascii = all(a.isascii() for a in [sender, *recipients])
        if message.isascii() and envelope_ascii:
            refused, _ = await client.sendmail(sender, recipients, message)
            return refused
        # 8-bit bodies need BODY=8BITMIME (or a 7-bit re-encoding when the server lacks it) and
        # non-ASCII addresses need SMTPUTF8; send_message negotiates both from the EHLO reply.
        parsed = BytesParser(policy=SMTP_POLICY).parsebytes(message)
        refused, _ = await client.send_message(parsed, sender=sender, recipients=recipients)
        return refused

    @staticmethod
    async def _close(client: aiosmtplib.SMTP) -> None:
        if not client.is_connected:
            return
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            # The message's fate is already decided; a rude goodbye changes nothing.
            client.close()

    def _reason(self, what: str, error: BaseException | None = None) -> str:
        text = what
        if error is not None:
            text = f"{what}: {_describe(error)}"
        if self._password:
            text = text.replace(self._password, "***")
        return " ".join(text.split())[:MAX_REASON]


def _describe(error: BaseException) -> str:
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return f"{error.code} {error.message}"
    return str(error) or type(error).__name__


_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=-]+")
_LINE_BREAKS = re.compile(r"[\r\n]+")


class FileTransport:
    """Writes each message to ``<directory>/<UTC timestamp>-<Message-ID>.eml``.

    The default when no SMTP server is configured, so that a development server "sends"
    invitations somewhere a person can open them. Each file appears whole or not at all (written
    under a temporary name, then renamed), so a mail client or a test watching the folder never
    reads half a message. Files are private to the owner: messages carry activation links.

    The envelope is recorded the way a local delivery agent does, as ``Return-Path`` and
    ``X-Envelope-To`` headers on top, because Bcc recipients are otherwise invisible.
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"FileTransport({str(self.directory)!r})"

    async def send(self, message: bytes, sender: str, recipients: list[str]) -> None:
        try:
            await asyncio.to_thread(self._write, message, sender, recipients)
        except OSError as error:
            raise TemporaryFailure(
                f"cannot write to {self.directory}: {error.strerror or error}"[:MAX_REASON]
            ) from None

    def _write(self, message: bytes, sender: str, recipients: list[str]) -> Path:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        headers = BytesHeaderParser(policy=policy.default).parsebytes(message)
        message_id = _UNSAFE.sub("_", str(headers["Message-ID"] or "").strip().strip("<>"))
        stamp = utcnow().strftime("%Y%m%dT%H%M%S.%fZ")
        name = f"{stamp}-{message_id[:150] or uuid.uuid4().hex}.eml"
        # A header must stay one line, whatever an address turned out to hold.
        to = _LINE_BREAKS.sub(" ", ", ".join(recipients))
        envelope = f"Return-Path: <{_LINE_BREAKS.sub(' ', sender)}>\nX-Envelope-To: {to}\n"
        path = self.directory / name
        temporary = self.directory / f".{name}.{uuid.uuid4().hex}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(envelope.encode() + message)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return path
