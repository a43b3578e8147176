"""Leaky buckets in one atomic upsert: a hit either fits (and is added) or is refused (and is not).

A bucket holds at most ``capacity`` points and drains ``leak_per_second``; a hit of ``cost``
points is allowed when the drained level plus the cost fits. The decision and the new level come
back from the same statement, so two workers hitting the same bucket at once never both spend the
last points (PostgreSQL locks the row for the upsert; SQLite serializes writers).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from sqlalchemy import case, literal
from sqlalchemy.ext.asyncio import AsyncSession

from db.database import Database, upsert
from db.scope import TenantScope
from limits.models import RateLimit


@dataclass(frozen=True, slots=True)
class Bucket:
    capacity: float
    leak_per_second: float


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    level: float  # the bucket's level after this hit (unchanged when refused)
    capacity: float
    leak_per_second: float
    cost: float

    @property
    def remaining(self) -> float:
        return max(0.0, self.capacity - self.level)

    @property
    def retry_after(self) -> float:
        """Seconds until a hit of the same cost would fit; 0 when this one was allowed."""
        if self.allowed:
            return 0.0
        if self.cost > self.capacity:
            return float("inf")
        return max(0.0, (self.level + self.cost - self.capacity) / self.leak_per_second)


async def take_in(
    session: AsyncSession,
    tenant: uuid.UUID,
    key: str,
    cost: float,
    bucket: Bucket,
    now: float | None = None,
) -> Decision:
    """Spend ``cost`` points of ``key``'s bucket within the session's transaction."""
    now = time.time() if now is None else now
    elapsed = case((literal(now) > RateLimit.updated, literal(now) - RateLimit.updated), else_=0.0)
    drained = RateLimit.level - elapsed * bucket.leak_per_second
    level = case((drained > 0.0, drained), else_=0.0)
    fits = level + cost <= bucket.capacity
    first_fits = cost <= bucket.capacity
    statement = (await upsert(session, RateLimit)).values(
        reseller_id=tenant,
        key=key,
        level=cost if first_fits else 0.0,
        updated=now,
        refused=not first_fits,
        failures=0,
    )
    statement = statement.on_conflict_do_update(
        index_elements=[RateLimit.reseller_id, RateLimit.key],
        set_={
            "level": case((fits, level + cost), else_=level),
            "updated": now,
            "refused": case((fits, False), else_=True),
        },
    ).returning(RateLimit.level, RateLimit.refused)
    row = (await session.execute(statement)).one()
    return Decision(
        allowed=not row.refused,
        level=float(row.level),
        capacity=bucket.capacity,
        leak_per_second=bucket.leak_per_second,
        cost=cost,
    )


async def take(
    db: Database,
    tenant: uuid.UUID,
    key: str,
    cost: float,
    bucket: Bucket,
    now: float | None = None,
) -> Decision:
    """Spend ``cost`` points in a transaction of its own: it commits whatever the request does."""
    async with db.write(TenantScope.system()) as session:
        return await take_in(session, tenant, key, cost, bucket, now)
