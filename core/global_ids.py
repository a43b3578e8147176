"""Opaque global ids (``base64url("Type:hex")``), as the API spells them: the encoding alone, so
the domain can name an object the way a client will (an event's ``objectId``)."""

from __future__ import annotations

import base64
import binascii
import uuid


def encode_text(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_text(text: str) -> str:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode()).decode()


def to_global_id(type_name: str, id_: uuid.UUID) -> str:
    return encode_text(f"{type_name}:{id_.hex}")


def from_global_id(global_id: str) -> tuple[str, uuid.UUID] | None:
    try:
        type_name, _, raw = decode_text(global_id).partition(":")
        return type_name, uuid.UUID(hex=raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
