"""logout ends the caller's sign-in at once: its access token, its refresh token, and nothing
else (another sign-in of the same user, another user's)."""

from __future__ import annotations

from tests.api.test_login import LOGIN, REFRESH, VIEWER
from tests.conftest import error_codes
from tests.factories import PASSWORD, World

LOGOUT = "mutation { logout { signedOut errors { code message } } }"


async def _sign_in(api, email: str) -> dict:  # type: ignore[no-untyped-def]
    body = await api(LOGIN, {"email": email, "password": PASSWORD})
    assert body["data"]["login"]["errors"] == [], body
    return body["data"]["login"]


async def test_logout_ends_this_sign_in_only(api, client, world: World):
    first = await _sign_in(api, "owner@alpha.example")
    second = await _sign_in(api, "owner@alpha.example")
    other = await _sign_in(api, "member@alpha.example")
    # when the first sign-in signs out
    body = await api(LOGOUT, token=first["accessToken"])
    assert body["data"]["logout"] == {"signedOut": True, "errors": []}
    # then its access token is refused on the next request, and its refresh token too
    response = await client.post(
        "/graphql",
        json={"query": VIEWER},
        headers={"Authorization": f"Bearer {first['accessToken']}"},
    )
    assert response.status_code == 401
    refreshed = await api(REFRESH, {"token": first["refreshToken"]})
    assert refreshed["data"]["refreshToken"]["accessToken"] is None
    # and the other sign-ins go on
    for signed_in in (second, other):
        assert "errors" not in await api(VIEWER, token=signed_in["accessToken"])


async def test_logout_asks_for_a_signed_in_person(api, world: World):
    assert error_codes(await api(LOGOUT)) == ["UNAUTHENTICATED"]
    client = await api(LOGOUT, token=world.token("client_all", world.a))
    assert client["data"]["logout"]["signedOut"] is False
    assert [e["code"] for e in client["data"]["logout"]["errors"]] == ["BAD_USER_INPUT"]
    admin = await api(LOGOUT, token=world.token("platform"))
    assert admin["data"]["logout"] == {"signedOut": True, "errors": []}
    # every access token of that sign-in is refused from now on, a freshly made one too
    assert error_codes(await api(VIEWER, token=world.token("platform"))) == ["UNAUTHENTICATED"]
