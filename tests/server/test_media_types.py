"""Accept negotiation for GraphQL answers: q-values, wildcards and their specificity."""

from __future__ import annotations

import pytest

from server.media_types import APPLICATION_JSON, GRAPHQL_RESPONSE_JSON, negotiate


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, APPLICATION_JSON),
        ("", APPLICATION_JSON),
        ("application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("application/json, application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("application/json;q=1, application/graphql-response+json;q=0.8", APPLICATION_JSON),
        ("APPLICATION/GRAPHQL-RESPONSE+JSON; charset=utf-8", GRAPHQL_RESPONSE_JSON),
        ("*/*", APPLICATION_JSON),
        ("application/*", APPLICATION_JSON),
        ("*/*;q=0.1, application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json;q=0.2, */*;q=0.1", GRAPHQL_RESPONSE_JSON),
        ("*/*, application/json;q=0", GRAPHQL_RESPONSE_JSON),  # the exact range rules json out
        ("text/html, */*;q=0.8", APPLICATION_JSON),  # a browser's
        ("application/json;q=0, application/graphql-response+json;q=0", None),
        ("text/html, application/xml;q=0.9", None),
        ("*/*;q=0", None),
        ("garbage, application/json;q=oops", None),
    ],
)
def test_the_answer_is_the_type_the_client_prefers(accept: str | None, chosen: str | None):
    assert negotiate(accept) == chosen
