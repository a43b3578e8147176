"""A browser control panel on an allow-listed origin may call the API; other origins get no
CORS headers, so the browser keeps the answer from them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from server.app import create_app
from server.settings import Settings, SettingsError
from tests.factories import World

PANEL = "https://panel.acme.example"


@pytest.fixture
async def cors_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.with_(cors_origins=(PANEL,)))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def test_a_preflight_from_an_allowed_origin_is_answered(cors_client: httpx.AsyncClient):
    # when the browser asks whether the panel may POST with a bearer token
    response = await cors_client.options(
        "/graphql",
        headers={
            "Origin": PANEL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    # then it may
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == PANEL
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "POST" in response.headers["access-control-allow-methods"]


async def test_the_answer_to_an_allowed_origin_carries_its_header(
    cors_client: httpx.AsyncClient, world: World
):
    response = await cors_client.post(
        "/graphql",
        json={"query": "{ viewer { kind } }"},
        headers={"Origin": PANEL, "Authorization": f"Bearer {world.token('owner', world.a)}"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == PANEL
    assert "retry-after" in response.headers["access-control-expose-headers"].lower()


async def test_another_origin_gets_no_cors_headers(cors_client: httpx.AsyncClient):
    preflight = await cors_client.options(
        "/graphql",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    answer = await cors_client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in answer.headers


async def test_without_cors_origins_nothing_is_allowed(client: httpx.AsyncClient):
    response = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Origin": PANEL}
    )
    assert "access-control-allow-origin" not in response.headers


def test_cors_origins_are_read_and_checked():
    env = {"CORS_ORIGINS": "https://a.example, http://localhost:5173/"}
    assert Settings.from_env(env).cors_origins == ("https://a.example", "http://localhost:5173")
    for bad in ("a.example", "https://a.example/path", "ftp://a.example"):
        with pytest.raises(SettingsError, match="CORS_ORIGINS"):
            Settings.from_env({"CORS_ORIGINS": bad})
