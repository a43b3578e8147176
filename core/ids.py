"""Identifiers: UUIDv7, time-ordered, so a primary key order is creation order (keyset pages)."""

import uuid

from uuid_utils.compat import uuid7


def new_id() -> uuid.UUID:
    return uuid7()
