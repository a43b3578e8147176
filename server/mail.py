"""Outgoing mail from the settings: which transport, and a dispatcher over it.

The server's lifespan (when OUTBOX_DISPATCH is on) and ``channelbill worker`` build their
dispatcher here, so both deliver the same way; any number of them may run against one database.
"""

from __future__ import annotations

from db.database import Database
from notifications.dispatcher import Dispatcher
from notifications.transports import FileTransport, SmtpTransport, Transport
from server.settings import Settings

SMTPS_PORT = 465  # RFC 8314 submission over implicit TLS: STARTTLS never works there
MIN_LEASE_SECONDS = 300.0


def _implicit_tls(settings: Settings) -> bool:
    return settings.smtp_port == SMTPS_PORT


def build_transport(settings: Settings) -> Transport:
    """SMTP when SMTP_HOST is set; otherwise .eml files under the data folder."""
    if settings.smtp_host:
        return SmtpTransport(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_starttls,
            settings.smtp_username,
            settings.smtp_password,
            settings.smtp_timeout_seconds,
            implicit_tls=_implicit_tls(settings),
        )
    return FileTransport(settings.outbox_dir)


def build_dispatcher(settings: Settings, db: Database) -> Dispatcher:
    # SMTP_TIMEOUT_SECONDS bounds each network step; a whole conversation (connect, TLS and
    # login, envelope, DATA) gets four of them, and the lease covers a few such sends so that a
    # message is never still being sent when another dispatcher may claim it.
    send_timeout = 4 * settings.smtp_timeout_seconds
    return Dispatcher(
        db,
        build_transport(settings),
        max_attempts=settings.outbox_max_attempts,
        retry_seconds=settings.outbox_retry_seconds,
        poll_seconds=settings.outbox_poll_seconds,
        lease_seconds=max(MIN_LEASE_SECONDS, 5 * send_timeout),
        send_timeout_seconds=send_timeout,
    )


def describe_transport(settings: Settings) -> str:
    """Where mail goes, for the banner and the worker's start line; never the credentials."""
    if settings.smtp_host:
        host = f"[{settings.smtp_host}]" if ":" in settings.smtp_host else settings.smtp_host
        if _implicit_tls(settings):
            security = "TLS"
        else:
            security = "STARTTLS" if settings.smtp_starttls else "no TLS"
        login = f", login {settings.smtp_username}" if settings.smtp_username else ""
        return f"smtp://{host}:{settings.smtp_port} ({security}{login})"
    return f"{settings.outbox_dir.resolve()} (.eml files; set SMTP_HOST to send)"
