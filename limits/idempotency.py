"""Idempotency keys: the same key with the same input returns the first result and repeats no
effect; with other input it is refused (IDEMPOTENCY_KEY_REUSED).

``claim`` runs first in the mutation's transaction. It inserts the key's row (fingerprint, no
result yet) or finds the one already there: on PostgreSQL a concurrent request with the same key
waits on the unique key until the first commits, on SQLite writers take turns, so exactly one of
them does the work. ``remember`` stores the result in that same transaction. A request that
rolls back leaves no row, and the key may be used again.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import DomainError, ErrorCode
from db.database import upsert
from limits.models import IdempotencyKey

KEEP_FOR = timedelta(hours=24)
MAX_KEY_LENGTH = 200


class IdempotencyKeyReused(DomainError):
    code = ErrorCode.IDEMPOTENCY_KEY_REUSED


@dataclass(frozen=True, slots=True)
class Replay:
    """The first request's result, for a repeat to return."""

    result: dict[str, Any]


def fingerprint(operation: str, request: Any) -> str:
    """A digest of the request's input, independent of key order."""
    body = orjson.dumps(
        {"op": operation, "input": request}, option=orjson.OPT_SORT_KEYS, default=str
    )
    return hashlib.sha256(body).hexdigest()


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise DomainError(
            f"an idempotency key is 1 to {MAX_KEY_LENGTH} printable characters",
            field="idempotencyKey",
        )
    return key


async def claim(
    session: AsyncSession,
    reseller_id: uuid.UUID,
    operation: str,
    key: str,
    request: Any,
    now: datetime | None = None,
) -> Replay | None:
    """None: this request is the first with ``key`` and does the work. A Replay: the work was
    done; return its result. Other input under the same key: IdempotencyKeyReused."""
    now = now or utcnow()
    key = check_key(key)
    digest = fingerprint(operation, request)
    # An expired key is forgotten first, so it may be used again.
    await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.reseller_id == reseller_id,
            IdempotencyKey.operation == operation,
            IdempotencyKey.key == key,
            IdempotencyKey.expires_at <= now,
        )
    )
    insert = await upsert(session, IdempotencyKey)
    inserted = await session.execute(
        insert.values(
            reseller_id=reseller_id,
            operation=operation,
            key=key,
            fingerprint=digest,
            result={},
            created_at=now,
            expires_at=now + KEEP_FOR,
        )
        .on_conflict_do_nothing(index_elements=["reseller_id", "operation", "key"])
        .returning(IdempotencyKey.key)
    )
    if inserted.first() is not None:
        return None
    stored = (
        await session.execute(
            select(IdempotencyKey.fingerprint, IdempotencyKey.result).where(
                IdempotencyKey.reseller_id == reseller_id,
                IdempotencyKey.operation == operation,
                IdempotencyKey.key == key,
            )
        )
    ).one()
    if stored.fingerprint != digest:
        raise IdempotencyKeyReused(
            "this idempotency key was used with other input; use a new key for a new request",
            field="idempotencyKey",
        )
    return Replay(dict(stored.result))


async def remember(
    session: AsyncSession, reseller_id: uuid.UUID, operation: str, key: str, result: dict[str, Any]
) -> None:
    """Store what the first request did, in its own transaction (see ``claim``)."""
    await session.execute(
        update(IdempotencyKey)
        .where(
            IdempotencyKey.reseller_id == reseller_id,
            IdempotencyKey.operation == operation,
            IdempotencyKey.key == key.strip(),
        )
        .values(result=result)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    """One request's key, bound to its tenant, operation and input."""

    reseller_id: uuid.UUID
    operation: str
    key: str
    request: Any

    async def claim(self, session: AsyncSession) -> Replay | None:
        return await claim(session, self.reseller_id, self.operation, self.key, self.request)

    async def remember(self, session: AsyncSession, result: dict[str, Any]) -> None:
        await remember(session, self.reseller_id, self.operation, self.key, result)


async def forget_expired(session: AsyncSession, now: datetime | None = None) -> int:
    """Delete every expired key (a periodic job); how many went."""
    result = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.expires_at <= (now or utcnow()))
    )
    return int(getattr(result, "rowcount", 0) or 0)
