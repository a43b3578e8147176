"""One row per limited thing (a caller's cost budget, a sign-in's failures), keyed by tenant."""

from __future__ import annotations

import uuid

from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base


class RateLimit(Base):
    """A leaky bucket (``level`` points as of ``updated``, draining at the rule's rate) and a
    failure count with the back-off it earned (``blocked_until``).

    Times are epoch seconds (floats) so that the bucket's arithmetic is one portable SQL
    expression on SQLite and PostgreSQL. ``reseller_id`` is the tenant the limit belongs to, or
    the platform's reserved id for limits of anonymous callers (a sign-in by address).
    """

    __tablename__ = "rate_limits"

    reseller_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    level: Mapped[float] = mapped_column(Float, default=0.0)
    updated: Mapped[float] = mapped_column(Float)
    refused: Mapped[bool] = mapped_column(default=False)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[float | None] = mapped_column(Float)
