"""The job table: work due at a time (a payment retry this evening, a deactivation, a check on
an attempt the gateway never answered), claimed by any number of workers."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from db.base import Base, TenantKeyed


class JobStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    DONE = "DONE"
    FAILED = "FAILED"  # gave up after its last attempt: an operator looks at last_error
    CANCELLED = "CANCELLED"  # no longer wanted (the invoice was paid another way)


class Job(TenantKeyed, Base):
    """One piece of work for one tenant (or the platform's, ``PLATFORM_TENANT_ID``).

    ``key`` names the work, unique per tenant: scheduling the same key twice is one job, so the
    transaction that decides "retry this evening" can run twice and queue one retry.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index("uq_jobs_key", "reseller_id", "key", unique=True),
        Index("ix_jobs_status_run_at", "status", "run_at"),
    )

    kind: Mapped[str] = mapped_column(String(60))
    key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, native_enum=False, length=20, create_constraint=True),
        default=JobStatus.QUEUED,
    )
    run_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    finished_at: Mapped[datetime | None]
