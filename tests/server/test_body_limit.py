"""Bodies over MAX_BODY_BYTES are refused with 413 before they are read whole: a declared length
at once, a chunked one as soon as it passes the limit; multipart has its own, larger limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from tests.api.test_notification_settings import upload
from tests.conftest import Api
from tests.factories import World

LIMIT = 1024 * 1024
CHUNK = 64 * 1024


def too_large(response: httpx.Response) -> None:
    assert response.status_code == 413
    assert response.json() == {
        "data": None,
        "errors": [
            {
                "message": f"the request body is larger than {LIMIT} bytes",
                "extensions": {"code": "BAD_USER_INPUT", "maxBytes": LIMIT},
            }
        ],
    }


async def test_a_declared_length_over_the_limit_is_refused_unread(client: httpx.AsyncClient):
    # when an anonymous caller posts 2 MB to the GraphQL endpoint and to the token endpoint
    body = b'{"query": "' + b"x" * (2 * LIMIT) + b'"}'
    graphql = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    token = await client.post(
        "/oauth/token",
        content=b"a=" + b"x" * (2 * LIMIT),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    # then both are refused, GraphQL-shaped
    too_large(graphql)
    too_large(token)


async def test_a_chunked_body_is_refused_as_it_passes_the_limit(client: httpx.AsyncClient):
    # given a 100 MB body with no Content-Length
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"query": "'
        for _ in range(100 * 16):
            sent += CHUNK
            yield b"x" * CHUNK

    # when it is posted
    response = await client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    # then it is refused after little more than the limit was read
    too_large(response)
    assert sent <= LIMIT + 2 * CHUNK


async def test_bodies_within_the_limit_are_served(client: httpx.AsyncClient, world: World):
    query = "{ __typename }" + " " * (LIMIT - 100)
    response = await client.post("/graphql", json={"query": query})
    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}


async def test_multipart_has_its_own_limit(api: Api, world: World):
    owner = world.token("owner", world.a)
    # a logo upload over MAX_BODY_BYTES but within MAX_UPLOAD_BYTES reaches the logo's own check
    body = await upload(api, owner, b"x" * (LIMIT + CHUNK))
    [error] = body["data"]["updateNotificationSettings"]["errors"]
    assert (error["code"], error["field"]) == ("BAD_USER_INPUT", "logo")
    # one over MAX_UPLOAD_BYTES is refused unread
    refused = await api.client.post(
        "/graphql",
        data={"operations": "{}", "map": "{}"},
        files={"0": ("logo.png", b"x" * (2 * LIMIT + CHUNK), "image/png")},
    )
    assert refused.status_code == 413
