from __future__ import annotations

import pytest

from db.database import Database
from tests.billing.conftest import no_floats, shop  # noqa: F401  (the billing fixtures)
from tests.factories import World  # noqa: F401
from tests.payments.harness import Payments, build


@pytest.fixture
def payments(db: Database) -> Payments:
    return build(db)
