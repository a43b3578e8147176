"""The payments services over the sandbox with a test clock; one localstripe process for the
session, every test getting it running and empty."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from db.database import Database
from payments.stripe_gateway import StripeGateway
from tests.billing.conftest import no_floats, shop  # noqa: F401  (the billing fixtures)
from tests.payments.harness import Payments, build
from tests.payments.localstripe import SECRET_KEY, LocalStripe


@pytest.fixture(scope="session")
def _localstripe_process() -> Iterator[LocalStripe]:
    server = LocalStripe()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def localstripe(_localstripe_process: LocalStripe) -> Iterator[LocalStripe]:
    server = _localstripe_process
    server.start()  # a fault test may have stopped it
    server.flush()
    yield server
    server.resume()


@pytest.fixture
async def stripe_gateway(localstripe: LocalStripe) -> AsyncIterator[StripeGateway]:
    # A short timeout: a gateway that does not answer must fail a test, not hang it.
    gateway = StripeGateway(SECRET_KEY, api_base=localstripe.url, timeout_seconds=2.0)
    yield gateway
    await gateway.aclose()


@pytest.fixture
def payments(db: Database) -> Payments:
    return build(db)
