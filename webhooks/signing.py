"""Standard Webhooks signatures (https://www.standardwebhooks.com): a ``whsec_`` secret of 32
random bytes in base64; ``webhook-signature`` is ``v1,`` and the base64 HMAC-SHA256, keyed by the
secret's bytes, of ``<webhook-id>.<webhook-timestamp>.<body>``, one such value per secret that
signs, separated by spaces (so a receiver still holding the previous secret verifies too)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(PREFIX):
        raise ValueError("not a whsec_ secret")
    return base64.b64decode(secret[len(PREFIX) :])


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(
    secrets_: Sequence[str], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three headers of a delivery, signed with each of ``secrets_`` (newest first)."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            signature(secret, message_id, timestamp, body) for secret in secrets_
        ),
    }
