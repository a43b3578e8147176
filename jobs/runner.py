"""The job runner: claims due jobs and hands each to the handler of its kind.

It runs the leased loop of ``jobs.leases``: a claim is one short transaction (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so runners take disjoint batches; ``BEGIN IMMEDIATE`` on SQLite, so they
take turns), the handler runs outside it and opens what transactions it needs, and the result is
recorded only while the row still carries the claim's attempt count (the fencing token).

A handler may run twice for one job (its worker died after the work and before the record):
each handler is written to find its work already done and do nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, update

from core.clock import utcnow
from db.database import Database
from db.scope import TenantScope
from jobs.leases import LeasedWorker, backoff_seconds, claim_statement
from jobs.models import Job, JobStatus

log = logging.getLogger("channelbill.jobs")
_NO_SESSION_SYNC = {"synchronize_session": False}


class RetryLater(Exception):
    """The work could not be done now (the gateway is away): try again, after ``seconds`` or
    the runner's back-off."""

    def __init__(self, reason: str, seconds: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.seconds = seconds


class Deferred(Exception):
    """Not this job's turn yet (an earlier one of the same queue must go first): run it again
    at ``run_at``; the attempt is not counted and nothing failed."""

    def __init__(self, run_at: datetime) -> None:
        super().__init__(f"deferred to {run_at.isoformat()}")
        self.run_at = run_at


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: uuid.UUID
    reseller_id: uuid.UUID
    kind: str
    key: str
    payload: dict[str, Any]
    attempts: int
    run_at: datetime
    leased_until: datetime = field(repr=False)


Handler = Callable[[ClaimedJob], Awaitable[None]]


class JobRunner(LeasedWorker[ClaimedJob]):
    name = "job run"

    def __init__(
        self,
        db: Database,
        handlers: Mapping[str, Handler],
        *,
        poll_seconds: float = 1.0,
        batch_size: int = 20,
        lease_seconds: float = 300.0,
        work_timeout_seconds: float = 120.0,
        max_attempts: int = 10,
        retry_seconds: float = 30.0,
        max_retry_seconds: float = 3600.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if not 0 < work_timeout_seconds < lease_seconds:
            raise ValueError("work_timeout_seconds must be positive and shorter than the lease")
        if max_attempts < 1 or batch_size < 1:
            raise ValueError("max_attempts and batch_size must be positive")
        super().__init__(
            poll_seconds=poll_seconds, work_timeout_seconds=work_timeout_seconds, log=log
        )
        self.db = db
        self.handlers = dict(handlers)
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.retry_seconds = retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self.clock = clock

    async def run_due(self, rounds: int = 100) -> int:
        """Work rounds until nothing is due (tests and operators); how many jobs were worked."""
        total = 0
        for _ in range(rounds):
            worked = await self.run_once()
            total += worked
            if worked == 0:
                break
        return total

    async def claim(self) -> list[ClaimedJob]:
        now = self.clock()
        leased_until = now + timedelta(seconds=self.lease_seconds)
        claim = claim_statement(
            Job,
            [Job.status == JobStatus.QUEUED, Job.run_at <= now, Job.kind.in_(self.handlers)],
            [Job.run_at, Job.id],
            [Job.id, Job.reseller_id, Job.kind, Job.key, Job.payload, Job.attempts, Job.run_at],
            now=now,
            leased_until=leased_until,
            limit=self.batch_size,
            skip_locked=self.db.is_postgresql,
        )
        async with self.db.write(TenantScope.system()) as session:
            rows = (await session.execute(claim)).all()
        batch = [
            ClaimedJob(
                r.id,
                r.reseller_id,
                r.kind,
                r.key,
                dict(r.payload or {}),
                r.attempts,
                r.run_at,
                leased_until,
            )
            for r in rows
        ]
        batch.sort(key=lambda job: (job.run_at, job.id))
        return batch

    async def work(self, item: ClaimedJob) -> None:
        handler = self.handlers[item.kind]
        try:
            await handler(item)
        except RetryLater as later:
            await self._again(item, later.reason, later.seconds)
            return
        except Deferred as deferred:
            await self._record(item, run_at=deferred.run_at, attempts=item.attempts - 1)
            return
        except Exception as error:
            log.exception("job %s (%s) failed on attempt %d", item.id, item.kind, item.attempts)
            await self._again(item, f"unexpected error: {type(error).__name__}", None)
            return
        await self._record(item, status=JobStatus.DONE, finished_at=self.clock(), last_error=None)

    async def _again(self, item: ClaimedJob, reason: str, seconds: float | None) -> None:
        if item.attempts >= self.max_attempts:
            log.error(
                "job %s (%s) gave up after %d attempts: %s",
                item.id,
                item.kind,
                item.attempts,
                reason,
            )
            await self._record(
                item, status=JobStatus.FAILED, finished_at=self.clock(), last_error=reason[:500]
            )
            return
        delay = (
            seconds
            if seconds is not None
            else backoff_seconds(item.attempts, self.retry_seconds, self.max_retry_seconds)
        )
        log.warning(
            "job %s (%s): attempt %d failed, next in %g s: %s",
            item.id,
            item.kind,
            item.attempts,
            delay,
            reason,
        )
        await self._record(
            item, run_at=self.clock() + timedelta(seconds=delay), last_error=reason[:500]
        )

    async def _record(self, item: ClaimedJob, **values: Any) -> None:
        record = (
            update(Job)
            .where(
                Job.reseller_id == item.reseller_id,
                Job.id == item.id,
                Job.attempts == item.attempts,
            )
            .values(locked_until=None, **values)
            .execution_options(**_NO_SESSION_SYNC)
        )
        async with self.db.write(TenantScope.system()) as session:
            result = cast(CursorResult[Any], await session.execute(record))
        if result.rowcount == 0:
            log.warning("job %s was claimed again before its result was in", item.id)

    async def release(self, items: Sequence[ClaimedJob]) -> None:
        async with self.db.write(TenantScope.system()) as session:
            for item in items:
                await session.execute(
                    update(Job)
                    .where(
                        Job.reseller_id == item.reseller_id,
                        Job.id == item.id,
                        Job.status == JobStatus.QUEUED,
                        Job.attempts == item.attempts,
                    )
                    .values(locked_until=None, attempts=Job.attempts - 1)
                    .execution_options(**_NO_SESSION_SYNC)
                )
