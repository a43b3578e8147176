"""Fixtures: a live SMTP server per test, and the outbox of the test's database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from db.database import Database
from tests.notifications import Outbox, SmtpServer, free_port


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def outbox(db: Database) -> Outbox:
    return Outbox(db)
