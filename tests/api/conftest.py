"""Fixtures of the API tests: a clock for the limits that moves only when a test says so, so
that back-offs of a second or two hold however slow the machine runs Argon2."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette


class FrozenClock:
    def __init__(self, now: float = 1_900_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(app: Starlette) -> FrozenClock:
    frozen = FrozenClock()
    app.state.services.throttle.clock = frozen
    return frozen
