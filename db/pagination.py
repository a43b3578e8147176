"""Keyset pagination over a time-ordered primary key: stable under inserts, never OFFSET."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ValidationFailed
from db.base import plain_rows

T = TypeVar("T")

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


@dataclass(frozen=True, slots=True)
class PageRequest:
    first: int | None = None
    after: uuid.UUID | None = None
    last: int | None = None
    before: uuid.UUID | None = None

    def __post_init__(self) -> None:
        if self.first is not None and self.last is not None:
            raise ValidationFailed("pass either first or last, not both", field="first")
        for name in ("first", "last"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= MAX_PAGE_SIZE:
                raise ValidationFailed(f"{name} must be between 0 and {MAX_PAGE_SIZE}", field=name)

    @property
    def backwards(self) -> bool:
        return self.last is not None or (self.before is not None and self.first is None)

    @property
    def size(self) -> int:
        size = self.last if self.backwards else self.first
        return DEFAULT_PAGE_SIZE if size is None else size


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    has_next: bool
    has_previous: bool


async def keyset_page(
    session: AsyncSession,
    statement: Select[Any],
    key: Any,
    request: PageRequest,
    *,
    columns: Sequence[Any] | None = None,
) -> Page[Any]:
    """One page of ``statement`` ordered by ``key`` (a unique, time-ordered column).
    ``columns``: read these instead, as rows (read-only, no ORM instances to build)."""
    size = request.size
    if request.after is not None:
        statement = statement.where(key > request.after)
    if request.before is not None:
        statement = statement.where(key < request.before)
    order = key.desc() if request.backwards else key.asc()
    statement = statement.order_by(order).limit(size + 1)
    if columns is not None:
        rows: list[Any] = plain_rows(await session.execute(statement.with_only_columns(*columns)))
    else:
        rows = list((await session.scalars(statement)).all())
    more = len(rows) > size
    rows = rows[:size]
    if request.backwards:
        rows.reverse()
        return Page(rows, has_next=request.before is not None, has_previous=more)
    return Page(rows, has_next=more, has_previous=request.after is not None)


async def count(session: AsyncSession, statement: Select[Any]) -> int:
    total = await session.scalar(
        select(func.count()).select_from(statement.order_by(None).subquery())
    )
    return int(total or 0)
