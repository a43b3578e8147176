"""Signing secrets at rest: sealed with AES-GCM under a key derived (HKDF-SHA256) from the
server's CHANNELBILL_SECRET_KEY, so a copy of the database alone cannot sign webhooks. Every
server and worker holds the same key; changing it makes the stored secrets unreadable (rotate
each endpoint's secret after)."""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1:"
_INFO = b"channelbill webhook signing secrets"


class SecretBox:
    def __init__(self, server_key: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
            server_key.encode()
        )
        self._aead = AESGCM(key)

    def seal(self, secret: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, secret.encode(), _INFO)
        return VERSION + base64.b64encode(nonce + sealed).decode()

    def open(self, sealed: str) -> str:
        if not sealed.startswith(VERSION):
            raise ValueError("not a sealed secret")
        raw = base64.b64decode(sealed[len(VERSION) :])
        return self._aead.decrypt(raw[:12], raw[12:], _INFO).decode()
