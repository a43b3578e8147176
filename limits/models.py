"""One row per limited thing (a caller's cost budget, a sign-in's failures), and one per request
made with an idempotency key; all keyed by tenant."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
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


class IdempotencyKey(Base):
    """A request made with an idempotency key: the fingerprint of its input and what it did,
    written in the transaction of its effect, so a repeat finds either both or neither. Keyed
    per tenant and operation: ``key`` is the caller's own string."""

    __tablename__ = "idempotency_keys"

    reseller_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    operation: Mapped[str] = mapped_column(String(60), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
