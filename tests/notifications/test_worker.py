"""Mail set-up from the settings, the banner line, and `channelbill worker` as a real process."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import sys
from pathlib import Path

from db.database import Database
from db.scope import TenantScope
from documents.service import Documents
from jobs.leases import FINISH_ON_STOP_SECONDS
from notifications.outbox import enqueue
from notifications.transports import FileTransport, SmtpTransport
from server.cli import _banner
from server.mail import build_dispatcher, build_transport, describe_transport
from server.settings import Settings
from tests.notifications import eventually, make_message

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "hunter2-smtp-password"
BANNER_ROW = re.compile(r"^  (\S.*?) {2,}(\S.*)$")


def test_without_smtp_host_mail_goes_to_files(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data")
    transport = build_transport(settings)
    assert isinstance(transport, FileTransport)
    assert transport.directory == tmp_path / "data" / "outbox"
    description = describe_transport(settings)
    assert description.startswith(str((tmp_path / "data" / "outbox").resolve()))


def test_with_smtp_host_mail_goes_to_smtp_and_the_password_stays_secret():
    settings = Settings(
        smtp_host="mail.example.com",
        smtp_port=587,
        smtp_username="billing",
        smtp_password=PASSWORD,
        smtp_timeout_seconds=7,
    )
    transport = build_transport(settings)
    assert isinstance(transport, SmtpTransport)
    assert (transport.host, transport.port, transport.starttls) == ("mail.example.com", 587, True)
    assert transport.timeout == 7
    assert describe_transport(settings) == "smtp://mail.example.com:587 (STARTTLS, login billing)"
    assert PASSWORD not in repr(transport)
    assert describe_transport(settings.with_(smtp_port=465)).startswith(
        "smtp://mail.example.com:465 (TLS"
    )
    plain = settings.with_(smtp_starttls=False, smtp_username=None, smtp_host="::1", smtp_port=25)
    assert describe_transport(plain) == "smtp://[::1]:25 (no TLS)"


def test_the_dispatcher_follows_the_settings(tmp_path: Path):
    settings = Settings(
        outbox_max_attempts=4,
        outbox_retry_seconds=12,
        outbox_poll_seconds=0.5,
        smtp_timeout_seconds=30,
    )
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/x.sqlite3")
    dispatcher = build_dispatcher(settings, db, Documents(db, settings.platform_name))
    assert dispatcher.max_attempts == 4
    assert dispatcher.retry_seconds == 12
    assert dispatcher.poll_seconds == 0.5
    assert dispatcher.send_timeout_seconds < dispatcher.lease_seconds


def test_the_banner_says_where_mail_goes():
    settings = Settings(smtp_host="mail.example.com", smtp_password=PASSWORD)
    banner = _banner(settings)
    assert PASSWORD not in banner
    rows = {m[1]: m for line in banner.splitlines() if (m := BANNER_ROW.match(line))}
    assert rows["outgoing mail"][2] == "smtp://mail.example.com:587 (STARTTLS)"
    # Its value starts in the same column as the values above it.
    assert len({m.start(2) for m in rows.values()}) == 1, banner


async def _run(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_worker_delivers_queued_mail_and_stops_on_sigterm(tmp_path: Path):
    database = tmp_path / "worker.sqlite3"
    outbox_dir = tmp_path / "data" / "outbox"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "OUTBOX_"))}
    env |= {
        "DATABASE_URL": f"sqlite:///{database}",
        "CHANNELBILL_ENV": "development",
        "CHANNELBILL_DATA_DIR": str(tmp_path / "data"),
        "OUTBOX_POLL_SECONDS": "0.05",
        "PYTHONUNBUFFERED": "1",
    }
    code, _out, err = await _run("migrate", env=env)
    assert code == 0, err
    db = Database(f"sqlite+aiosqlite:///{database}")
    try:
        async with db.write(TenantScope.system()) as session:
            row_id = enqueue(session, make_message(), event="test", reseller_id=None).id
    finally:
        await db.dispose()

    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "worker",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert worker.stdout is not None
        started = await asyncio.wait_for(worker.stdout.readline(), timeout=60)
        assert b"channelbill worker" in started
        assert str(outbox_dir.resolve()).encode() in started

        async def delivered() -> bool:
            return await asyncio.to_thread(
                lambda: outbox_dir.is_dir() and any(outbox_dir.iterdir())
            )

        await eventually(delivered, within=20, what="the worker to write the .eml file")
        worker.send_signal(signal.SIGTERM)
        # An item under way gets FINISH_ON_STOP_SECONDS to be recorded before the worker ends:
        # on a busy machine the stop may take that long, and no longer.
        out, err = await asyncio.wait_for(worker.communicate(), timeout=FINISH_ON_STOP_SECONDS + 30)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    assert worker.returncode == 0, err.decode()
    assert b"channelbill worker stopped" in out
    assert b"Traceback" not in err

    def status() -> str:
        with sqlite3.connect(database) as connection:
            [(value,)] = connection.execute(
                "SELECT status FROM outbox_messages WHERE id = ?", (row_id.hex,)
            ).fetchall()
        return str(value)

    # The worker logs why, if it gave up recording the delivery (abandoned, or an error).
    assert await asyncio.to_thread(status) == "SENT", err.decode()
    [eml] = await asyncio.to_thread(lambda: list(outbox_dir.iterdir()))
    assert row_id.hex in eml.name
