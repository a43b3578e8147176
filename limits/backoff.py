"""Exponential back-off on attempts (sign-ins, token requests), counted in the database.

An attempt is charged *before* the expensive or guessable check it guards (a password hash, a
client secret), and given back when it succeeds: so attempts running at the same moment (aliases
of one request, many workers) each count, and none slips past a back-off the others earned.

A key allows ``free`` attempts; each one past that makes the next wait ``first_wait`` seconds,
doubling, at most ``max_wait``; a key left alone for ``forget_after`` starts over. A refused attempt
changes nothing, so waiting out the back-off always lets the next attempt through: there is no
permanent lock anyone could use to shut somebody out.

Atomic on both databases: the charge is one upsert (PostgreSQL locks the row until the
transaction ends; SQLite serializes writers), and the keys of one attempt are charged in one
transaction, in a fixed order, all or none.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case, delete, literal, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.database import Database, upsert
from db.scope import TenantScope
from limits.models import RateLimit


@dataclass(frozen=True, slots=True)
class Backoff:
    free: int
    first_wait: float
    max_wait: float
    forget_after: float

    def wait_after(self, attempts: int) -> float:
        """How long the attempt after the ``attempts``-th must wait."""
        if attempts < self.free:
            return 0.0
        return min(self.max_wait, self.first_wait * 2.0 ** min(attempts - self.free, 60))


@dataclass(frozen=True, slots=True)
class Charge:
    key: str
    allowed: bool
    attempts: int  # counted on the key, this one included when allowed
    retry_after: float  # refused: seconds until the key lets an attempt through
    blocks_for: float  # allowed: how long the next attempt must wait (a lockout begins when > 0)


@dataclass(frozen=True, slots=True)
class Verdict:
    charges: tuple[Charge, ...]

    @property
    def allowed(self) -> bool:
        return all(charge.allowed for charge in self.charges)

    @property
    def retry_after(self) -> float:
        return max((c.retry_after for c in self.charges if not c.allowed), default=0.0)

    @property
    def lockouts(self) -> list[Charge]:
        """Keys this attempt put into a back-off (each is logged and audited by the caller)."""
        return [c for c in self.charges if c.allowed and c.blocks_for > 0]


async def charge_in(
    session: AsyncSession,
    tenant: uuid.UUID,
    key: str,
    policy: Backoff,
    now: float,
) -> Charge:
    """Count one attempt on ``key`` unless it is backing off, within the session's transaction."""
    blocked = RateLimit.blocked_until > literal(now)
    forgotten = RateLimit.updated < literal(now - policy.forget_after)
    statement = (await upsert(session, RateLimit)).values(
        reseller_id=tenant,
        key=key,
        level=0.0,
        updated=now,
        refused=False,
        failures=1,
        blocked_until=None,
    )
    statement = statement.on_conflict_do_update(
        index_elements=[RateLimit.reseller_id, RateLimit.key],
        set_={
            "failures": case(
                (blocked, RateLimit.failures),
                (forgotten, 1),
                else_=RateLimit.failures + 1,
            ),
            "refused": case((blocked, True), else_=False),
            "updated": case((blocked, RateLimit.updated), else_=now),
        },
    ).returning(RateLimit.failures, RateLimit.refused, RateLimit.blocked_until)
    row = (await session.execute(statement)).one()
    if row.refused:
        return Charge(key, False, int(row.failures), float(row.blocked_until) - now, 0.0)
    wait = policy.wait_after(int(row.failures))
    if wait > 0:
        await session.execute(
            update(RateLimit)
            .where(RateLimit.reseller_id == tenant, RateLimit.key == key)
            .values(blocked_until=now + wait)
        )
    return Charge(key, True, int(row.failures), 0.0, wait)


async def charge(
    db: Database,
    tenant: uuid.UUID,
    keys: Sequence[tuple[str, Backoff]],
    now: float | None = None,
) -> Verdict:
    """Charge one attempt to every key in a transaction of its own, or to none of them when one
    is backing off (then nothing changes and the verdict says how long to wait)."""
    now = time.time() if now is None else now
    charges: list[Charge] = []
    try:
        async with db.write(TenantScope.system()) as session:
            # One order for every caller: attempts sharing keys never wait on each other's locks.
            for key, policy in sorted(keys, key=lambda pair: pair[0]):
                charges.append(await charge_in(session, tenant, key, policy, now))
            if not all(c.allowed for c in charges):
                raise _Refused
    except _Refused:
        pass  # rolled back: the keys that were not backing off are not charged either
    return Verdict(tuple(charges))


class _Refused(Exception):
    """Rolls the charges of a refused attempt back."""


async def forgive(
    db: Database, tenant: uuid.UUID, clear: Sequence[str], refund: Sequence[str] = ()
) -> None:
    """An attempt succeeded: ``clear`` keys start over; ``refund`` keys (shared with others, such
    as a client address) give back the one attempt and the back-off it began."""
    async with db.write(TenantScope.system()) as session:
        if clear:
            await session.execute(
                delete(RateLimit).where(RateLimit.reseller_id == tenant, RateLimit.key.in_(clear))
            )
        if refund:
            await session.execute(
                update(RateLimit)
                .where(RateLimit.reseller_id == tenant, RateLimit.key.in_(refund))
                .values(
                    failures=case((RateLimit.failures > 0, RateLimit.failures - 1), else_=0),
                    blocked_until=None,
                )
            )
