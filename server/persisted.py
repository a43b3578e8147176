"""Automatic persisted queries (Apollo's protocol) and trusted documents.

APQ: a client sends ``extensions.persistedQuery.sha256Hash`` without ``query``; an unknown hash
is answered PERSISTED_QUERY_NOT_FOUND, the client sends the hash again with the query, and the
server checks the hash, keeps the document and runs it. The store is a bounded LRU in this
process only: a worker that has not seen a hash says so and the client re-sends the text, so a miss
costs one round trip, never a wrong answer, and no permission depends on what is stored.

Trusted documents (``TRUSTED_DOCUMENTS``): a file of ``{"<sha256>": "<document>"}``, the output
of graphql-codegen's client preset; when set, no other document runs.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from schema.errors import (
    BAD_USER_INPUT,
    DOCUMENT_NOT_TRUSTED,
    PERSISTED_QUERY_HASH_MISMATCH,
    PERSISTED_QUERY_NOT_FOUND,
    PERSISTED_QUERY_TOO_LARGE,
)
from server.settings import SettingsError

MAX_DOCUMENTS = 5_000
MAX_DOCUMENT_BYTES = 16 * 1024  # with MAX_DOCUMENTS: at most ~80 MB per worker
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class PersistedQueryError(Exception):
    """Why a request's document cannot be run; answered as a GraphQL error with ``code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def sha256_hex(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


class PersistedQueries:
    """Turns a request's ``query`` and ``extensions`` into the document to run."""

    def __init__(
        self,
        trusted: Mapping[str, str] | None = None,
        capacity: int = MAX_DOCUMENTS,
        max_document_bytes: int = MAX_DOCUMENT_BYTES,
    ) -> None:
        self.trusted = dict(trusted) if trusted is not None else None
        self.capacity = capacity
        self.max_document_bytes = max_document_bytes
        # One event loop per worker touches this, and no await falls between a read and a
        # write, so it needs no lock.
        self._documents: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._documents)

    def __contains__(self, sha256: object) -> bool:
        return sha256 in self._documents

    def resolve(self, query: str | None, extensions: Mapping[str, Any] | None) -> str | None:
        """The document to run (``None``: the request named none, which GraphQL refuses)."""
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            return self._plain(query)
        sha256 = _requested_hash(persisted)
        if query is None:
            return self._stored(sha256)
        if sha256_hex(query) != sha256:
            raise PersistedQueryError(
                PERSISTED_QUERY_HASH_MISMATCH,
                "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query sent.",
            )
        if self.trusted is not None:
            return self._trusted(sha256)
        if len(query.encode("utf-8")) > self.max_document_bytes:
            raise PersistedQueryError(
                PERSISTED_QUERY_TOO_LARGE,
                f"A persisted query is at most {self.max_document_bytes} bytes; send this one"
                " without extensions.persistedQuery.",
            )
        self._documents[sha256] = query
        self._documents.move_to_end(sha256)
        while len(self._documents) > self.capacity:
            self._documents.popitem(last=False)
        return query

    def _plain(self, query: str | None) -> str | None:
        """A request without the extension: any query, unless only trusted ones may run."""
        if self.trusted is None or query is None:
            return query
        return self._trusted(sha256_hex(query))

    def _stored(self, sha256: str) -> str:
        if self.trusted is not None:
            return self._trusted(sha256)
        document = self._documents.get(sha256)
        if document is None:
            # The message is the protocol's: Apollo's link looks for it as well as the code.
            raise PersistedQueryError(PERSISTED_QUERY_NOT_FOUND, "PersistedQueryNotFound")
        self._documents.move_to_end(sha256)
        return document

    def _trusted(self, sha256: str) -> str:
        assert self.trusted is not None
        document = self.trusted.get(sha256)
        if document is None:
            raise PersistedQueryError(
                DOCUMENT_NOT_TRUSTED,
                "This server runs only its trusted documents, and this is not one of them.",
            )
        return document


def _requested_hash(persisted: object) -> str:
    if not isinstance(persisted, Mapping) or persisted.get("version") != 1:
        raise PersistedQueryError(
            BAD_USER_INPUT, "extensions.persistedQuery must be {version: 1, sha256Hash: <hex>}."
        )
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or not _SHA256.match(sha256.lower()):
        raise PersistedQueryError(
            BAD_USER_INPUT, "extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits."
        )
    return sha256.lower()


def load_trusted(path: Path) -> dict[str, str]:
    """Read a trusted-documents file; each key must be the SHA-256 of its document, so that a
    file hashed otherwise (codegen's ``sha1``) fails at start, not at every request."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SettingsError(f"TRUSTED_DOCUMENTS: cannot read {path}: {error}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"TRUSTED_DOCUMENTS: {path} must hold one JSON object")
    documents: dict[str, str] = {}
    for key, document in data.items():
        if not isinstance(document, str) or sha256_hex(document) != key.lower():
            raise SettingsError(
                f"TRUSTED_DOCUMENTS: {key!r} in {path} is not the SHA-256 of its document"
            )
        documents[key.lower()] = document
    return documents
