"""The literals of a document are checked once per document, its variables at every request."""

from __future__ import annotations

from graphql import parse

import schema.storable_text as storable


def test_a_repeated_document_is_walked_once_and_its_variables_every_time(monkeypatch):
    walks = []
    real = storable.visit
    monkeypatch.setattr(storable, "visit", lambda *a: walks.append(1) or real(*a))
    document = parse("query($n: String) { customers(search: $n, first: 2) { totalCount } }")
    assert storable.find_unstorable(document, {"n": "fine"}) is None
    assert storable.find_unstorable(document, {"n": "nul\x00"}) == (
        "n",
        "must not contain NUL (U+0000) characters",
    )
    assert storable.find_unstorable(document, {"n": "fine"}) is None
    assert len(walks) == 1
    # a literal the database cannot hold is refused each time, its document walked once too
    bad = parse('{ customers(search: "\\u0000") { totalCount } }')
    refused = ("search", "must not contain NUL (U+0000) characters")
    assert storable.find_unstorable(bad, None) == storable.find_unstorable(bad, {}) == refused
    assert len(walks) == 2
