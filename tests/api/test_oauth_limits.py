"""POST /oauth/token backs off failed client credentials per client and per address: 429 with
Retry-After, the secret unchecked meanwhile, the lockout audited in the client's tenant."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import FrozenClock
from tests.api.test_api_clients import basic
from tests.factories import CLIENT_SECRET, World

pytestmark = pytest.mark.usefixtures("clock")

GRANT = {"grant_type": "client_credentials"}
CLIENT_ID = "cb_alpha_client_read"
EVENTS = """{ auditEvents(first: 50, action: "api_client.locked_out") {
  edges { node { objectType details } } } }"""


@pytest.fixture
async def attacker(app):
    transport = httpx.ASGITransport(app=app, client=("198.51.100.20", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_wrong_secrets_back_off_then_the_right_one_works(
    attacker, api, world: World, clock: FrozenClock
):
    # given five wrong secrets for one client
    for _ in range(5):
        response = await attacker.post("/oauth/token", data=GRANT, headers=basic(CLIENT_ID, "no"))
        assert response.status_code == 401
    # when the right secret comes at once
    refused = await attacker.post(
        "/oauth/token", data=GRANT, headers=basic(CLIENT_ID, CLIENT_SECRET)
    )
    # then the whole request is refused, saying how long to wait
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"] == "rate_limited"
    assert refused.json()["code"] == "RATE_LIMITED"
    assert "access_token" not in refused.json()
    # and after the wait the right secret gets a token
    clock.advance(1.0)
    granted = await attacker.post(
        "/oauth/token", data=GRANT, headers=basic(CLIENT_ID, CLIENT_SECRET)
    )
    assert granted.status_code == 200 and granted.json()["access_token"]
    # and the lockout is in the client's reseller's audit log
    logged = await api(EVENTS, token=world.token("owner", world.a))
    nodes = [edge["node"] for edge in logged["data"]["auditEvents"]["edges"]]
    assert [(n["objectType"], n["details"]["limit"]) for n in nodes] == [("ApiClient", "pair")]


async def test_a_spray_of_client_ids_backs_off_per_address(attacker, client, world: World):
    # given 50 unknown client ids tried from one address
    for n in range(50):
        response = await attacker.post(
            "/oauth/token", data=GRANT, headers=basic(f"cb_guess_{n}", "x")
        )
        assert response.status_code == 401
    # when that address presents a real client's credentials
    refused = await attacker.post(
        "/oauth/token", data=GRANT, headers=basic(CLIENT_ID, CLIENT_SECRET)
    )
    # then it is refused, and another address is not
    assert refused.status_code == 429
    other = await client.post("/oauth/token", data=GRANT, headers=basic(CLIENT_ID, CLIENT_SECRET))
    assert other.status_code == 200
