"""Fixtures: a live SMTP server per test, and the outbox of the test's database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from db.database import Database
from server.app import create_app
from server.settings import Settings
from tests.catalog import Shop, make_catalog
from tests.conftest import Api
from tests.notifications import Outbox, SmtpServer, free_port


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def shop(db: Database) -> Shop:
    return await make_catalog(db)


@pytest.fixture
def outbox(db: Database) -> Outbox:
    return Outbox(db)


@pytest.fixture
async def mailing_api(settings: Settings, smtp: SmtpServer) -> AsyncIterator[Api]:
    """The app as it runs in production: dispatching its own outbox, to SMTP."""
    app = create_app(
        settings.with_(
            outbox_dispatch=True,
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_starttls=False,
            smtp_timeout_seconds=5.0,
            outbox_poll_seconds=0.05,
            outbox_retry_seconds=0.05,
            public_url="https://panel.alpha.example",
        )
    )
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield Api(c)
