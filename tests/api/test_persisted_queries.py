"""Automatic persisted queries as Apollo's link sends them, over POST and GET, and trusted
documents (TRUSTED_DOCUMENTS): only the listed documents run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from server.app import create_app
from server.persisted import MAX_DOCUMENT_BYTES
from server.settings import Settings, SettingsError
from tests.conftest import error_codes
from tests.factories import World

COUNT = "{ customers { totalCount } }"
CREATE = """mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { name } errors { code } }
}"""


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def persisted(hash_: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": hash_}}


async def post(
    client: httpx.AsyncClient,
    token: str,
    hash_: str,
    query: str | None = None,
    variables: dict[str, Any] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"extensions": persisted(hash_), "variables": variables or {}}
    if query is not None:
        body["query"] = query
    return await client.post("/graphql", json=body, headers={"Authorization": f"Bearer {token}"})


async def get(
    client: httpx.AsyncClient, token: str, hash_: str, query: str | None = None
) -> httpx.Response:
    params = {"extensions": json.dumps(persisted(hash_))}
    if query is not None:
        params["query"] = query
    # Accept */* as Apollo's link sends it: a request, not a browser asking for GraphiQL.
    return await client.get(
        "/graphql", params=params, headers={"Authorization": f"Bearer {token}", "Accept": "*/*"}
    )


async def test_the_apq_round_trip_over_post(client: httpx.AsyncClient, world: World):
    # given
    owner = world.token("owner", world.a)

    # when
    unknown = await post(client, owner, sha256(COUNT))
    registered = await post(client, owner, sha256(COUNT), COUNT)
    by_hash = await post(client, owner, sha256(COUNT))

    # then
    assert unknown.status_code == 200
    assert unknown.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert error_codes(unknown.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert registered.json()["data"] == {"customers": {"totalCount": 3}}
    assert by_hash.json()["data"] == {"customers": {"totalCount": 3}}


async def test_the_apq_round_trip_over_get(client: httpx.AsyncClient, world: World):
    # given
    owner = world.token("owner", world.a)

    # when
    unknown = await get(client, owner, sha256(COUNT))
    registered = await get(client, owner, sha256(COUNT), COUNT)
    by_hash = await get(client, owner, sha256(COUNT))

    # then
    assert unknown.headers["content-type"].startswith("application/json")
    assert error_codes(unknown.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert registered.json()["data"] == {"customers": {"totalCount": 3}}
    assert by_hash.json()["data"] == {"customers": {"totalCount": 3}}


async def test_a_stored_document_runs_as_its_caller_with_their_variables(
    client: httpx.AsyncClient, world: World
):
    # given: stored by one reseller's owner
    query = "query($n: Int) { customers(first: $n) { totalCount edges { node { name } } } }"
    await post(client, world.token("owner", world.a), sha256(query), query, {"n": 1})

    # when: run by hash by another reseller's owner
    body = (await post(client, world.token("owner", world.b), sha256(query), None, {"n": 0})).json()
    anonymous = (
        await client.post("/graphql", json={"extensions": persisted(sha256(query))})
    ).json()

    # then: the document is shared, nothing else is
    assert body["data"]["customers"]["edges"] == []
    assert body["data"]["customers"]["totalCount"] == len(world.b.customers)
    assert "UNAUTHENTICATED" in error_codes(anonymous)


async def test_a_wrong_hash_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, world: World
):
    # given
    owner = world.token("owner", world.a)
    claimed = sha256("{ __typename }")

    # when
    refused = await post(client, owner, claimed, COUNT)

    # then
    assert refused.json()["data"] is None
    assert error_codes(refused.json()) == ["PERSISTED_QUERY_HASH_MISMATCH"]
    for hash_ in (claimed, sha256(COUNT)):
        assert error_codes((await post(client, owner, hash_)).json()) == [
            "PERSISTED_QUERY_NOT_FOUND"
        ]


async def test_a_malformed_extension_is_bad_input(client: httpx.AsyncClient, world: World):
    owner = world.token("owner", world.a)
    for extension in (
        {"persistedQuery": {"version": 2, "sha256Hash": sha256(COUNT)}},
        {"persistedQuery": {"version": 1, "sha256Hash": "not-a-hash"}},
    ):
        # when
        body = (
            await client.post(
                "/graphql",
                json={"query": COUNT, "extensions": extension},
                headers={"Authorization": f"Bearer {owner}"},
            )
        ).json()

        # then
        assert body["data"] is None
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert "extensions.persistedQuery" in body["errors"][0]["message"]


async def test_an_oversized_document_is_refused_and_still_runs_as_a_plain_query(
    api, client: httpx.AsyncClient, world: World
):
    # given: a valid query padded past the limit with a comment
    owner = world.token("owner", world.a)
    large = COUNT + "\n#" + "x" * MAX_DOCUMENT_BYTES

    # when
    refused = await post(client, owner, sha256(large), large)
    plain = await api(large, token=owner)

    # then
    assert error_codes(refused.json()) == ["PERSISTED_QUERY_TOO_LARGE"]
    assert str(MAX_DOCUMENT_BYTES) in refused.json()["errors"][0]["message"]
    assert error_codes((await post(client, owner, sha256(large))).json()) == [
        "PERSISTED_QUERY_NOT_FOUND"
    ]
    assert plain["data"] == {"customers": {"totalCount": 3}}


async def test_the_store_keeps_the_most_recently_used_documents(
    app: Starlette, client: httpx.AsyncClient, world: World
):
    # given: room for two documents
    app.state.persisted.capacity = 2
    owner = world.token("owner", world.a)
    first, second, third = COUNT, "{ customers(first: 1) { totalCount } }", "{ __typename }"
    for query in (first, second):
        await post(client, owner, sha256(query), query)

    # when: the first is used again, then a third arrives
    await post(client, owner, sha256(first))
    await post(client, owner, sha256(third), third)

    # then: the least recently used one made room
    assert len(app.state.persisted) == 2
    assert "data" in (await post(client, owner, sha256(first))).json()
    assert error_codes((await post(client, owner, sha256(second))).json()) == [
        "PERSISTED_QUERY_NOT_FOUND"
    ]


async def test_a_persisted_mutation_runs_over_post_only(
    api, client: httpx.AsyncClient, world: World
):
    # given
    owner = world.token("owner", world.a)

    def customer(name: str) -> dict[str, Any]:
        return {"input": {"name": name, "email": f"{name.lower()}@apq.example", "currency": "EUR"}}

    # when
    registered = await post(client, owner, sha256(CREATE), CREATE, customer("Registered"))
    by_hash = await post(client, owner, sha256(CREATE), None, customer("ByHash"))
    over_get = await client.get(
        "/graphql",
        params={
            "extensions": json.dumps(persisted(sha256(CREATE))),
            "variables": json.dumps(customer("OverGet")),
        },
        headers={"Authorization": f"Bearer {owner}", "Accept": "application/json"},
    )

    # then
    assert registered.json()["data"]["createCustomer"] == {
        "customer": {"name": "Registered"},
        "errors": [],
    }
    assert by_hash.json()["data"]["createCustomer"]["customer"] == {"name": "ByHash"}
    assert over_get.status_code == 405
    assert over_get.headers["allow"] == "POST"
    listed = await api('{ customers(search: "OverGet") { totalCount } }', token=owner)
    assert listed["data"]["customers"]["totalCount"] == 0
    assert (await api(COUNT, token=owner))["data"]["customers"]["totalCount"] == 5


TRUSTED = "{ customers { totalCount } }"
OTHER = "{ customers(first: 1) { totalCount } }"


class TestTrustedDocuments:
    @pytest.fixture
    def settings(self, settings: Settings, tmp_path: Path) -> Settings:
        path = tmp_path / "persisted-documents.json"
        path.write_text(json.dumps({sha256(TRUSTED): TRUSTED}), encoding="utf-8")
        return settings.with_(trusted_documents=path)

    async def test_a_trusted_document_runs_by_hash_alone(
        self, client: httpx.AsyncClient, world: World
    ):
        # when: never sent before
        body = (await post(client, world.token("owner", world.a), sha256(TRUSTED))).json()

        # then
        assert body["data"] == {"customers": {"totalCount": 3}}

    async def test_a_trusted_document_runs_with_its_text_too(
        self, api, client: httpx.AsyncClient, world: World
    ):
        owner = world.token("owner", world.a)
        assert (await post(client, owner, sha256(TRUSTED), TRUSTED)).json()["data"]
        assert (await api(TRUSTED, token=owner))["data"] == {"customers": {"totalCount": 3}}

    async def test_any_other_document_is_refused(
        self, api, client: httpx.AsyncClient, world: World
    ):
        # given
        owner = world.token("owner", world.a)

        # when
        answers = [
            (await post(client, owner, sha256(OTHER), OTHER)).json(),
            (await post(client, owner, sha256(OTHER))).json(),
            (await get(client, owner, sha256(OTHER), OTHER)).json(),
            await api(OTHER, token=owner),
        ]

        # then: refused, and not stored for later either
        for body in [*answers, (await post(client, owner, sha256(OTHER))).json()]:
            assert body["data"] is None
            assert error_codes(body) == ["DOCUMENT_NOT_TRUSTED"]

    async def test_a_file_hashed_otherwise_stops_the_server_from_starting(
        self, settings: Settings, tmp_path: Path
    ):
        # given: codegen's sha1 hashes
        path = tmp_path / "sha1.json"
        path.write_text(
            json.dumps(
                {hashlib.sha1(TRUSTED.encode(), usedforsecurity=False).hexdigest(): TRUSTED}
            ),
            encoding="utf-8",
        )

        # when / then
        with pytest.raises(SettingsError, match="not the SHA-256"):
            create_app(settings.with_(trusted_documents=path))
