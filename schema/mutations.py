"""The shape every mutation shares: run one domain action in one transaction; an expected failure
rolls it back and comes back as payload errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import DomainError
from db.scope import TenantScope
from schema.context import Info
from schema.errors import UserError, user_errors

# Every mutation takes one ``input`` object (its type says what each field does).
INPUT = strawberry.argument(description="What to do: see the input type's fields.")

T = TypeVar("T")
P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    value: T | None = None
    errors: list[UserError] = field(default_factory=list)


async def transact(
    info: Info, action: Callable[[AsyncSession], Awaitable[T]], scope: TenantScope | None = None
) -> Outcome[T]:
    try:
        async with info.context.write(scope) as session:
            return Outcome(value=await action(session))
    except DomainError as error:
        return Outcome(errors=user_errors(error))


async def respond(
    info: Info,
    payload: Callable[..., P],
    action: Callable[[AsyncSession], Awaitable[T]],
    success: Callable[[T], P],
    scope: TenantScope | None = None,
) -> P:
    """The whole of most mutations: ``action`` in one transaction, then its result through
    ``success``, or ``payload(errors=...)`` when it failed and changed nothing."""
    done = await transact(info, action, scope)
    if done.value is None:
        return payload(errors=done.errors)
    return success(done.value)
