"""The front page and the activation page as HTTP answers (tests/browser/test_pages.py drives
them in chromium): their headers, and what the front page tells about the demo."""

from __future__ import annotations

import dataclasses

import httpx

from server.app import create_app
from server.settings import Settings


async def get(settings: Settings, path: str) -> httpx.Response:
    app = create_app(settings)  # no lifespan: the pages read nothing from the database
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get(path)


async def test_the_front_page_lists_the_demo_sign_ins_when_the_demo_is_on(settings: Settings):
    # given a server that loads the demo data with the documented password
    demo = dataclasses.replace(settings, seed_demo=True)
    # when the front page is asked for
    response = await get(demo, "/")
    # then it is HTML under a strict policy, naming the demo users and their password
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"].startswith("default-src 'self';")
    assert "owner@acme.example" in response.text
    assert "channelbill-demo" in response.text
    assert 'href="/graphql"' in response.text


async def test_a_changed_demo_password_is_never_shown(settings: Settings):
    # given a demo whose password someone changed
    demo = dataclasses.replace(settings, seed_demo=True, demo_password="a private passphrase")
    # when the front page is asked for
    response = await get(demo, "/")
    # then the users are listed, their password is not
    assert "owner@acme.example" in response.text
    assert "a private passphrase" not in response.text


async def test_without_the_demo_the_front_page_lists_no_demo_users(settings: Settings):
    response = await get(settings, "/")
    assert response.status_code == 200
    assert "owner@acme.example" not in response.text
    assert "Demo sign-ins" not in response.text


async def test_the_activation_page_is_never_cached_and_sends_no_referer(settings: Settings):
    response = await get(settings, "/activate")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert '<script src="/pages/activate.js"></script>' in response.text
    assert "<script>" not in response.text  # nothing inline: the policy would refuse it
