"""GraphQL over HTTP: queries over GET as well as POST; a mutation over GET is the wrong method
(405); every refusal is JSON."""

from __future__ import annotations

import json

from tests.factories import World


async def test_a_query_over_get_is_answered(api, world: World):
    response = await api.client.get(
        "/graphql",
        params={
            "query": "query($n: Int) { customers(first: $n) { totalCount } }",
            "variables": json.dumps({"n": 1}),
        },
        headers={
            "Authorization": f"Bearer {world.token('owner', world.a)}",
            "Accept": "application/json",
        },
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"customers": {"totalCount": 3}}


async def test_a_mutation_over_get_is_refused_with_405_and_changes_nothing(api, world: World):
    owner = world.token("owner", world.a)
    mutation = 'mutation { createCustomer(input: {name: "Via GET", email: "g@get.example", currency: "EUR"}) { errors { code } } }'
    response = await api.client.get(
        "/graphql",
        params={"query": mutation},
        headers={"Authorization": f"Bearer {owner}", "Accept": "application/json"},
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errors"][0]["message"]
    listed = await api('{ customers(search: "Via GET") { totalCount } }', token=owner)
    assert listed["data"]["customers"]["totalCount"] == 0


async def test_graphiql_still_opens_in_a_browser(api):
    response = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
