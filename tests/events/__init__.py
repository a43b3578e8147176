"""The event log and webhooks: tests, and what they share."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from db.database import Database
from db.scope import TenantScope
from events.models import Event

EVENTS = """query($after: String, $first: Int, $types: [String!]) {
  events(after: $after, first: $first, types: $types) {
    totalCount
    edges { cursor node { id type occurredAt objectId payload } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def stored(db: Database, type_: str | None = None) -> list[Event]:
    """Every committed event (every tenant), oldest first."""
    async with db.read(TenantScope.system()) as session:
        statement = select(Event).order_by(Event.id)
        if type_ is not None:
            statement = statement.where(Event.type == type_)
        return list(await session.scalars(statement))


def nodes(body: dict[str, Any]) -> list[dict[str, Any]]:
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"]["events"]["edges"]]
