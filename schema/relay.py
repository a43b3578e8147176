"""Relay plumbing: opaque global ids, keyset cursors, the Node interface and generic connections."""

from __future__ import annotations

import binascii
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Generic, Protocol, Self, TypeVar

import strawberry
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound, ValidationFailed
from core.global_ids import decode_text as _unb64
from core.global_ids import encode_text as _b64
from core.global_ids import from_global_id as from_global_id
from core.global_ids import to_global_id as to_global_id
from db.pagination import Page, PageRequest
from db.scope import TenantScope

if TYPE_CHECKING:
    from schema.context import Info

T = TypeVar("T")


def decode_id(global_id: str, type_name: str, *, field: str) -> uuid.UUID:
    """The database id behind a global id of the expected type; anything else is NOT_FOUND."""
    decoded = from_global_id(global_id)
    if decoded is None or decoded[0] != type_name:
        raise NotFound(type_name.lower(), field=field)
    return decoded[1]


def to_cursor(id_: uuid.UUID) -> str:
    return _b64(f"k:{id_.hex}")


def from_cursor(cursor: str | None, *, field: str) -> uuid.UUID | None:
    if cursor is None:
        return None
    try:
        prefix, _, raw = _unb64(cursor).partition(":")
        if prefix != "k":
            raise ValueError(prefix)
        return uuid.UUID(hex=raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed("invalid cursor", field=field) from None


# The four paging arguments of every connection, described once.
First = Annotated[
    int | None,
    strawberry.argument(description="Return the first n items (after `after`), at most 100."),
]
After = Annotated[
    str | None, strawberry.argument(description="Start after this cursor (of an edge or pageInfo).")
]
Last = Annotated[
    int | None,
    strawberry.argument(description="Return the last n items (before `before`), at most 100."),
]
Before = Annotated[
    str | None, strawberry.argument(description="End before this cursor (of an edge or pageInfo).")
]


def page_request(
    first: int | None, after: str | None, last: int | None = None, before: str | None = None
) -> PageRequest:
    return PageRequest(
        first=first,
        after=from_cursor(after, field="after"),
        last=last,
        before=from_cursor(before, field="before"),
    )


class PagedRepository(Protocol):
    def select(self) -> Select[Any]: ...

    async def page(
        self, request: PageRequest, statement: Select[Any], *, rows: bool = False
    ) -> Page[Any]: ...

    async def count(self, statement: Select[Any]) -> int: ...


R = TypeVar("R", bound=PagedRepository)
ReadAlong = Callable[[AsyncSession, TenantScope, Sequence[Any]], Awaitable[Callable[[Any], Any]]]


def selects(info: Info, *path: str) -> bool:
    """Whether the field being resolved selects ``path`` below it, by field names, through
    fragments: ``selects(info, "edges", "node", "lines")``. Read from the document itself
    (strawberry's ``selected_fields`` rebuilds the whole selection, values and directives, at
    every call); ``@skip`` and ``@include`` are not looked at, so it may say yes to a field
    that is then skipped, never no to one that is selected."""
    raw = info._raw_info
    return any(_reaches(node.selection_set, path, raw.fragments) for node in raw.field_nodes)


def _reaches(
    selection_set: SelectionSetNode | None,
    path: tuple[str, ...],
    fragments: dict[str, FragmentDefinitionNode],
) -> bool:
    if not path:
        return True
    if selection_set is None:
        return False
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value == path[0] and _reaches(
                selection.selection_set, path[1:], fragments
            ):
                return True
        elif isinstance(selection, InlineFragmentNode):
            if _reaches(selection.selection_set, path, fragments):
                return True
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None and _reaches(fragment.selection_set, path, fragments):
                return True
    return False


C = TypeVar("C", bound="Connection[Any]")


async def resolve_connection(
    info: Info,
    connection: type[C],
    repository: Callable[[AsyncSession, TenantScope], R],
    request: PageRequest,
    convert: Callable[[Any], Any],
    statement: Callable[[R], Select[Any]] | None = None,
    read_along: ReadAlong | None = None,
    *,
    rows: bool = False,
) -> C:
    """One page read now, in its own session; totalCount only if asked, in another.
    ``read_along``: what else the page's nodes need, read in the same session; it returns the
    converter that builds each node with it. ``rows``: the page as read-only rows, for a
    ``convert`` that only reads columns (no ORM instance, no relationship)."""
    ctx = info.context
    async with ctx.read() as session:
        repo = repository(session, ctx.scope)
        query = statement(repo) if statement else repo.select()
        page = await repo.page(request, query, rows=rows)
        if read_along is not None and page.items:
            convert = await read_along(session, ctx.scope, page.items)

    async def total() -> int:
        async with ctx.read() as session:
            return await repository(session, ctx.scope).count(query)

    return connection.of(page, convert, total)


@strawberry.interface(description="An object with a globally unique, opaque id.")
class Node:
    id: strawberry.ID = strawberry.field(description="Opaque global id; pass it to node(id:).")


@strawberry.type(description="Where a page sits in its list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow this page.")
    has_previous_page: bool = strawberry.field(description="Items come before this page.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first item.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last item.")


@strawberry.type(description="One item of a page, with its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Pass as after/before to page from here.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list: at most 100 items, keyset cursors.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page, in order.")
    page_info: PageInfo = strawberry.field(description="Cursors and whether more pages exist.")
    count_total: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(
        description=(
            "How many items the whole list holds, across all pages. It counts them, so its cost"
            " grows with the list (tens of milliseconds at 100,000 invoices) where a page costs"
            " the same at any size: ask for it once, not with every page."
        )
    )
    async def total_count(self) -> int:
        return await self.count_total()

    @classmethod
    def of(
        cls,
        page: Page[Any],
        convert: Callable[[Any], T],
        count_total: Callable[[], Awaitable[int]],
    ) -> Self:
        nodes: Sequence[Any] = page.items
        edges = [Edge(cursor=to_cursor(row.id), node=convert(row)) for row in nodes]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            count_total=count_total,
        )
