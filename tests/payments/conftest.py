"""One localstripe process for the session; every test gets it running and empty."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from payments.stripe_gateway import StripeGateway
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
