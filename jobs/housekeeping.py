"""Housekeeping, once a day: forget what no longer counts. Expired idempotency keys, rate-limit
rows idle for a day (a drained bucket and a forgotten back-off are the same as no row), and
finished jobs older than a month, and what each further step it is given forgets (the event
log's old events). Each run queues the next, keyed by its date, so however many
workers start it there is one run a day."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, or_
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from db.database import Database
from db.scope import PLATFORM_TENANT_ID, TenantScope
from jobs import queue
from jobs.models import Job, JobStatus
from jobs.runner import ClaimedJob
from limits.idempotency import forget_expired
from limits.models import RateLimit

JOB_HOUSEKEEPING = "housekeeping"
IDLE_LIMITS = timedelta(days=1)
KEEP_FINISHED_JOBS = timedelta(days=30)
log = logging.getLogger("channelbill.jobs")
# A further step: deletes what it keeps no longer, as of ``now``; how many rows. Its __name__
# names them in the log line.
Step = Callable[[AsyncSession, datetime], Awaitable[int]]


def _key(day: datetime) -> str:
    return f"{JOB_HOUSEKEEPING}:{day.date().isoformat()}"


async def schedule_housekeeping(db: Database, now: datetime | None = None) -> None:
    """Make sure today's run is queued (at start-up; a second call queues nothing)."""
    now = now or utcnow()
    async with db.write(TenantScope.system()) as session:
        await queue.schedule(
            session,
            reseller_id=PLATFORM_TENANT_ID,
            kind=JOB_HOUSEKEEPING,
            key=_key(now),
            run_at=now,
        )


class Housekeeping:
    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime] = utcnow,
        epoch: Callable[[], float] = time.time,
        steps: Sequence[Step] = (),
    ) -> None:
        self.db = db
        self.steps = list(steps)
        self.clock = clock
        self.epoch = epoch

    async def __call__(self, job: ClaimedJob) -> None:
        now = self.clock()
        async with self.db.write(TenantScope.system()) as session:
            keys = await forget_expired(session, now)
            idle_since = self.epoch() - IDLE_LIMITS.total_seconds()
            limits = cast(
                CursorResult[Any],
                await session.execute(
                    delete(RateLimit).where(
                        RateLimit.updated < idle_since,
                        or_(
                            RateLimit.blocked_until.is_(None),
                            RateLimit.blocked_until < self.epoch(),
                        ),
                    )
                ),
            ).rowcount
            jobs = cast(
                CursorResult[Any],
                await session.execute(
                    delete(Job).where(
                        Job.status.in_([JobStatus.DONE, JobStatus.CANCELLED]),
                        Job.finished_at < now - KEEP_FINISHED_JOBS,
                    )
                ),
            ).rowcount
            further = {step.__name__: await step(session, now) for step in self.steps}
            tomorrow = (now + timedelta(days=1)).replace(hour=3, minute=0, second=0, microsecond=0)
            await queue.schedule(
                session,
                reseller_id=PLATFORM_TENANT_ID,
                kind=JOB_HOUSEKEEPING,
                key=_key(tomorrow),
                run_at=tomorrow,
            )
        log.info(
            "housekeeping: %d idempotency keys, %d rate-limit rows, %d finished jobs removed%s",
            keys,
            limits,
            jobs,
            "".join(f", {count} {name}" for name, count in further.items()),
        )
