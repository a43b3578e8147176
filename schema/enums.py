"""GraphQL enums with a description on every value.

Most of our enums are the domain's own ``StrEnum`` classes, which must not know GraphQL; and
``strawberry.enum_value`` on a ``StrEnum`` member makes the member's value that wrapper object
instead of its string. So the descriptions are given here, when the class is wrapped, keyed by
member: the domain class, its values and how they serialize stay exactly as they were.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TypeVar

import strawberry

E = TypeVar("E", bound=enum.Enum)


def described_enum(
    cls: type[E], *, description: str, values: Mapping[E, str], name: str | None = None
) -> type[E]:
    """``strawberry.enum(cls)`` with ``values`` as its values' descriptions: one for every
    member, so a member added to the domain without one fails when the schema is imported."""
    missing = [member.name for member in cls if not values.get(member)]
    extra = [member for member in values if member not in set(cls)]
    if missing or extra:
        raise TypeError(f"{name or cls.__name__}: undescribed {missing}, unknown {extra}")
    wrapped = strawberry.enum(cls, name=name, description=description)
    by_value = {member.value: text for member, text in values.items()}
    for value in wrapped.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = by_value[value.value]
    return wrapped
