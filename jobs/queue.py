"""Putting work in the job table, in the caller's transaction: it runs if and only if the
change that asked for it commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.ids import new_id
from db.database import upsert
from jobs.models import Job, JobStatus


async def schedule(
    session: AsyncSession,
    *,
    reseller_id: uuid.UUID,
    kind: str,
    key: str,
    run_at: datetime | None = None,
    payload: dict[str, Any] | None = None,
) -> bool:
    """Queue ``kind`` under ``key`` at ``run_at`` (now by default); False when the key is taken
    (the work is already queued or was done): the first one stands."""
    insert = await upsert(session, Job)
    statement = insert.values(
        reseller_id=reseller_id,
        id=new_id(),
        kind=kind,
        key=key,
        payload=payload or {},
        status=JobStatus.QUEUED,
        run_at=run_at or utcnow(),
        attempts=0,
        created_at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["reseller_id", "key"])
    result = cast(CursorResult[Any], await session.execute(statement))
    return result.rowcount == 1


async def queued(session: AsyncSession, reseller_id: uuid.UUID, kind: str) -> list[Job]:
    """The tenant's queued jobs of ``kind``, soonest first."""
    rows = await session.scalars(
        select(Job)
        .where(Job.reseller_id == reseller_id, Job.kind == kind, Job.status == JobStatus.QUEUED)
        .order_by(Job.run_at, Job.id)
    )
    return list(rows)


async def move(session: AsyncSession, reseller_id: uuid.UUID, kind: str, run_at: datetime) -> int:
    """Move the tenant's queued jobs of ``kind`` to ``run_at``; how many moved. A job being
    worked right now keeps its lease: it is moved too, and its result is recorded as usual."""
    result = await session.execute(
        update(Job)
        .where(Job.reseller_id == reseller_id, Job.kind == kind, Job.status == JobStatus.QUEUED)
        .values(run_at=run_at)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount


async def cancel(session: AsyncSession, reseller_id: uuid.UUID, kind: str) -> int:
    """Cancel the tenant's queued jobs of ``kind``; how many were cancelled."""
    result = await session.execute(
        update(Job)
        .where(Job.reseller_id == reseller_id, Job.kind == kind, Job.status == JobStatus.QUEUED)
        .values(status=JobStatus.CANCELLED, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount
