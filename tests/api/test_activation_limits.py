"""activateUser backs off guessed invitation links per client address; each alias counts."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Api
from tests.factories import World

pytestmark = pytest.mark.usefixtures("clock")

ACTIVATE = """mutation($token: String!) {
  activateUser(input: {token: $token, password: "a long enough password"}) { errors { code } }
}"""


def aliased(count: int) -> str:
    fields = " ".join(
        f'a{n}: activateUser(input: {{token: "guess-{n}", password: "a long enough password"}})'
        " { errors { code } }"
        for n in range(count)
    )
    return f"mutation {{ {fields} }}"


async def test_guessed_links_back_off_per_address(app, api: Api, world: World):
    # when one address guesses 15 links in one request
    transport = httpx.ASGITransport(app=app, client=("198.51.100.30", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        guesser = Api(c)
        body = await guesser(aliased(15))
        # then ten were looked up and five refused
        codes = [body["data"][f"a{n}"]["errors"][0]["code"] for n in range(15)]
        assert codes.count("INVALID_TOKEN") == 10
        assert codes.count("RATE_LIMITED") == 5
        # and it stays refused for now
        again = await guesser(ACTIVATE, {"token": "one-more"})
        assert again["data"]["activateUser"]["errors"] == [{"code": "RATE_LIMITED"}]
    # while another address is not held back
    other = await api(ACTIVATE, {"token": "a-typo"})
    assert other["data"]["activateUser"]["errors"] == [{"code": "INVALID_TOKEN"}]
