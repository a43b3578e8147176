"""Each caller has a cost budget over time: a leaky bucket shared by every worker."""

from __future__ import annotations

import pytest

from server.settings import Settings
from tests.conftest import error_codes
from tests.factories import World

# 1 connection + 5 edges + 5 nodes may come back; 7 do (3 customers)
CHEAP = "{ customers(first: 5) { edges { node { id } } } }"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A small budget, so that a test can spend it: 50 points, a point back every 10 s."""
    return settings.with_(query_cost_limit=50, cost_budget=50.0, cost_restore_rate=0.1)


async def spend(api, token: str) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    """Cheap queries until one is refused: how many answered, and the refusal."""
    for answered in range(100):
        response = await api.raw(CHEAP, token=token)
        body = response.json()
        if "errors" in body:
            return answered, {"status": response.status_code, "headers": response.headers, **body}
    raise AssertionError("the budget never ran out")


async def test_many_cheap_queries_exhaust_the_budget(api, world: World):
    # given
    token = world.token("owner", world.a)
    # when
    answered, refused = await spend(api, token)
    # then each answer spent what it returned (7), not what it might have (11)
    assert answered == 6  # 6 x 7 = 42; a seventh may need 11 more
    assert refused["status"] == 429
    assert error_codes(refused) == ["RATE_LIMITED"]
    assert refused["data"] is None
    retry_after = int(refused["headers"]["retry-after"])
    assert 1 <= retry_after <= 40
    assert refused["errors"][0]["extensions"]["retryAfter"] == retry_after
    throttle = refused["extensions"]["cost"]["throttleStatus"]
    assert throttle["maximumAvailable"] == 50.0
    assert throttle["currentlyAvailable"] < 11
    assert throttle["restoreRate"] == 0.1


async def test_another_tenant_and_another_client_are_unaffected(api, world: World):
    # given tenant A's users spent their budget
    await spend(api, world.token("owner", world.a))
    assert error_codes(await api(CHEAP, token=world.token("member", world.a))) == ["RATE_LIMITED"]
    # then tenant B answers, and so does A's API client, with a bucket of its own
    for token in (world.token("owner", world.b), world.token("client_read", world.a)):
        body = await api(CHEAP, token=token)
        assert "errors" not in body
        assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 50 - 7


async def test_a_query_over_the_maximum_costs_nothing(api, world: World):
    token = world.token("owner", world.a)
    body = await api("{ customers(first: 100) { edges { node { id } } } }", token=token)
    assert error_codes(body) == ["QUERY_TOO_COMPLEX"]
    assert body["extensions"]["cost"]["throttleStatus"] is None
    answered = await api(CHEAP, token=token)
    assert answered["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 50 - 7


def test_the_budget_settings_are_read_and_checked():
    env = {"QUERY_COST_LIMIT": "500", "COST_BUDGET": "1000", "COST_RESTORE_RATE": "10"}
    settings = Settings.from_env(env)
    assert (settings.query_cost_limit, settings.cost_budget, settings.cost_restore_rate) == (
        500,
        1000.0,
        10.0,
    )
    assert Settings.from_env({"COST_BUDGET": "0"}).cost_budget == 0  # no budget over time
    with pytest.raises(ValueError, match="COST_BUDGET at least QUERY_COST_LIMIT"):
        Settings.from_env({"QUERY_COST_LIMIT": "500", "COST_BUDGET": "100"})


async def test_a_spent_budget_stays_a_429_in_graphql_response_json(client, api, world: World):
    # given a spent budget
    token = world.token("owner", world.a)
    await spend(api, token)
    # when a client that takes status codes at their word asks again
    response = await client.post(
        "/graphql",
        json={"query": CHEAP},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/graphql-response+json"},
    )
    # then the refusal is the budget's 429 with its Retry-After, not a request error's 400
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/graphql-response+json"
    assert "retry-after" in response.headers
    assert error_codes(response.json()) == ["RATE_LIMITED"]
