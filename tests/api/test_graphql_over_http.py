"""GraphQL over HTTP: queries over GET as well as POST; a mutation over GET is the wrong method
(405); the media type follows Accept, and with application/graphql-response+json a request error
is a 400; every refusal is JSON with a code."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest

from tests.conftest import error_codes
from tests.factories import World

GRAPHQL_RESPONSE = "application/graphql-response+json"
COUNT = "{ customers { totalCount } }"
# Refused before execution, each for its own reason: (request body, code)
REQUEST_ERRORS = {
    "parse": ({"query": "{ customers { totalCount }"}, "GRAPHQL_PARSE_FAILED"),
    "validation": ({"query": "{ customers { noSuchField } }"}, "GRAPHQL_VALIDATION_FAILED"),
    "variables": (
        {
            "query": "query($n: Int) { customers(first: $n) { totalCount } }",
            "variables": {"n": "x"},
        },
        "BAD_USER_INPUT",
    ),
    "no-query": ({"variables": {}}, "BAD_USER_INPUT"),
    "unknown-operation": (
        {"query": "query A { __typename }", "operationName": "B"},
        "BAD_USER_INPUT",
    ),
}


async def post(
    client: httpx.AsyncClient, body: dict[str, Any], accept: str | None, token: str | None = None
) -> httpx.Response:
    headers = {"Accept": accept} if accept is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return await client.post("/graphql", json=body, headers=headers)


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


# -- media types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),  # Apollo Client 4
        (f"application/json, {GRAPHQL_RESPONSE};q=0.5", "application/json"),
        ("application/json", "application/json"),
        ("*/*", "application/json"),
        ("application/*", "application/json"),
        (None, "application/json"),
    ],
)
async def test_the_answer_is_in_the_media_type_accepted(
    client, world: World, accept: str | None, media_type: str
):
    # when an owner queries, accepting what a client of each kind accepts
    response = await post(client, {"query": COUNT}, accept, world.token("owner", world.a))
    # then the answer is in the type it prefers, and a 200
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.json()["data"] == {"customers": {"totalCount": 3}}


@pytest.mark.parametrize("case", REQUEST_ERRORS)
async def test_a_request_error_is_a_400_without_data_in_graphql_response_json(client, case: str):
    # given a request that cannot run
    body, code = REQUEST_ERRORS[case]
    # when it accepts application/graphql-response+json
    response = await post(client, body, GRAPHQL_RESPONSE)
    # then it is a 400 in that media type, with the error coded and no data entry
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    answer = response.json()
    assert "data" not in answer
    assert error_codes(answer) == [code]


@pytest.mark.parametrize("case", ["parse", "validation", "variables"])
@pytest.mark.parametrize("accept", ["application/json", "*/*", None])
async def test_a_graphql_error_stays_a_200_in_application_json(
    client, case: str, accept: str | None
):
    # given a document that cannot run, sent by a legacy client
    body, code = REQUEST_ERRORS[case]
    # when
    response = await post(client, body, accept)
    # then the status is 200, as application/json has it, and the body as before
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["data"] is None
    assert error_codes(response.json()) == [code]


async def test_field_errors_of_an_executed_request_stay_a_200(client, world: World):
    # given an anonymous caller: the root field runs and refuses, which nulls the whole data
    # when it accepts application/graphql-response+json
    response = await post(client, {"query": COUNT}, GRAPHQL_RESPONSE)
    # then it is an execution result: 200, data present (null), the error at its path
    assert response.status_code == 200
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    answer = response.json()
    assert answer["data"] is None
    assert error_codes(answer) == ["UNAUTHENTICATED"]
    assert answer["errors"][0]["path"] == ["customers"]


async def test_a_query_too_costly_is_a_request_error(client, world: World):
    # given a document the cost limit refuses before running it
    query = (
        "{customers(first:100){edges{node{reseller{customers(first:100){edges{node{reseller"
        "{customers(first:100){edges{node{id}}}}}}}}}}}}"
    )
    # when
    strict = await post(client, {"query": query}, GRAPHQL_RESPONSE, world.token("owner", world.a))
    legacy = await post(client, {"query": query}, "application/json", world.token("owner", world.a))
    # then
    assert (strict.status_code, error_codes(strict.json())) == (400, ["QUERY_TOO_COMPLEX"])
    assert (legacy.status_code, error_codes(legacy.json())) == (200, ["QUERY_TOO_COMPLEX"])


async def test_a_persisted_query_refusal_stays_a_200_in_either_media_type(client, world: World):
    # given a hash this server has never seen, as Apollo's link sends it first
    unseen = hashlib.sha256(b"{ customers { totalCount } } # unseen").hexdigest()
    body = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": unseen}}}
    for accept in (GRAPHQL_RESPONSE, "application/json"):
        # when
        response = await post(client, body, accept, world.token("owner", world.a))
        # then it is the protocol's request to send the query, not a failure
        assert response.status_code == 200, accept
        assert response.headers["content-type"] == accept
        assert error_codes(response.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


@pytest.mark.parametrize(
    "accept", ["text/html", "text/csv, application/xml", "application/json;q=0", "image/*"]
)
async def test_an_accept_that_rules_out_both_json_types_is_a_406(client, world: World, accept: str):
    # when
    response = await post(client, {"query": COUNT}, accept, world.token("owner", world.a))
    # then nothing ran, and the refusal is JSON all the same
    assert response.status_code == 406
    assert response.headers["content-type"] == "application/json"
    assert error_codes(response.json()) == ["NOT_ACCEPTABLE"]


async def test_a_mutation_over_get_is_a_405_in_graphql_response_json(client, world: World):
    response = await client.get(
        "/graphql",
        params={"query": "mutation { __typename }"},
        headers={
            "Accept": GRAPHQL_RESPONSE,
            "Authorization": f"Bearer {world.token('owner', world.a)}",
        },
    )
    assert response.status_code == 405
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    assert error_codes(response.json()) == ["METHOD_NOT_ALLOWED"]


# -- transport failures: JSON with a code, never starlette's plain text --------------------------


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_another_method_on_graphql_is_a_405_in_json(client, method: str):
    response = await client.request(method, "/graphql", json={"query": COUNT})
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]
    assert response.headers["content-type"] == "application/json"
    assert error_codes(response.json()) == ["METHOD_NOT_ALLOWED"]


async def test_a_path_no_route_has_is_a_404_in_json(client):
    response = await client.post("/graphql/v2", json={"query": COUNT})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert error_codes(response.json()) == ["NOT_FOUND"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_that_is_not_json_is_a_415_in_json(client, content_type: str | None):
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post("/graphql", content=json.dumps({"query": COUNT}), headers=headers)
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/json"
    assert error_codes(response.json()) == ["UNSUPPORTED_MEDIA_TYPE"]


async def test_a_body_too_large_is_a_413_in_json(client):
    response = await client.post(
        "/graphql",
        content=b'{"query": "' + b" " * 2_000_000 + b'{ __typename }"}',
        headers={"Content-Type": "application/json", "Accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]
