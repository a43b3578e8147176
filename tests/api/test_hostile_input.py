"""Hostile input gets a clear BAD_USER_INPUT naming the field, or works, and changes nothing:
never INTERNAL, a 5xx, a stack trace or SQL in an answer."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from schema.relay import to_global_id
from tests.catalog import make_catalog
from tests.conftest import Api, error_codes
from tests.factories import World

CUSTOMERS = "{ customers { totalCount } }"
LOGIN = """mutation($input: LoginInput!) {
  login(input: $input) { accessToken errors { code field } }
}"""
CREATE_CUSTOMER = """mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id name timezone } errors { code field message } }
}"""
CREATE_RESELLER = """mutation($input: CreateResellerInput!) {
  createReseller(input: $input) { reseller { id name } errors { code field message } }
}"""
SEARCH = """query($search: String) { customers(search: $search) { totalCount } }"""
RECORD_USAGE = """mutation($input: RecordUsageInput!) {
  recordUsage(input: $input) { errors { code field message } }
}"""
SET_RATE = """mutation($input: SetExchangeRateInput!) {
  setExchangeRate(input: $input) { exchangeRate { rate } errors { code field message } }
}"""
RATES = "{ exchangeRates { base quote rate } }"
SETTINGS = """mutation($input: UpdateNotificationSettingsInput!) {
  updateNotificationSettings(input: $input) {
    notificationSettings { senderName address } errors { code field message }
  }
}"""
OWN_SETTINGS = "{ notificationSettings { senderName address } }"


async def post(
    client: httpx.AsyncClient, body: bytes, token: str | None = None, **headers: str
) -> httpx.Response:
    """A raw POST: lone surrogates travel as JSON escapes, as any client may send them."""
    headers = {"Content-Type": "application/json", **headers}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return await client.post("/graphql", content=body, headers=headers)


async def send(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None = None
) -> dict[str, Any]:
    response = await post(
        client, json.dumps({"query": query, "variables": variables}).encode(), token
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    """The one top-level error of a refused request, which ran nothing."""
    assert body.get("data") is None, body
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    error: dict[str, Any] = body["errors"][0]
    return error


async def customer_count(api: Api, token: str) -> int:
    count: int = (await api(CUSTOMERS, token=token))["data"]["customers"]["totalCount"]
    return count


# -- the request body ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"query": "{ viewer { kind } }", "variables": {"x": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}}",
        b"[" * 100_000,
        b'{"query": "{ viewer { kind } }"',
        b'{"query": "\xff\xfe"}',
    ],
    ids=["deep-variables", "deep-unclosed", "truncated", "not-utf8"],
)
async def test_an_unreadable_body_is_a_400_with_a_graphql_error(client, world: World, body: bytes):
    # when the body cannot be read as JSON, anonymously
    response = await post(client, body)
    # then it is refused as bad input, in the shape of a GraphQL answer
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "errors": [
            {
                "message": "the request body is not valid JSON",
                "extensions": {"code": "BAD_USER_INPUT"},
            }
        ]
    }


# -- characters no column can hold -------------------------------------------------------------


@pytest.mark.parametrize("bad", ["\x00", "\ud800", "\udfff"], ids=["nul", "high", "low"])
@pytest.mark.parametrize(
    ("who", "query", "variables", "field"),
    [
        (None, LOGIN, {"input": {"email": "a@b.example", "password": "pw{}"}}, "input.password"),
        (None, LOGIN, {"input": {"email": "a{}@b.example", "password": "pw"}}, "input.email"),
        (
            "owner",
            CREATE_CUSTOMER,
            {"input": {"name": "Acme{}", "email": "ap@acme.example", "currency": "EUR"}},
            "input.name",
        ),
        (
            "owner",
            CREATE_CUSTOMER,
            {
                "input": {
                    "name": "Acme",
                    "email": "ap@acme.example",
                    "currency": "EUR",
                    "taxId": "{}",
                }
            },
            "input.taxId",
        ),
        ("owner", SEARCH, {"search": "acme{}"}, "search"),
        (
            "owner",
            "query($id: ID!) { node(id: $id) { id } }",
            {"id": "Q3VzdG9tZXI6{}"},
            "id",
        ),
        (
            "owner",
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            {"ids": ["a", "b{}"]},
            "ids.1",
        ),
    ],
)
async def test_nul_and_lone_surrogates_are_refused_naming_the_argument(
    client, api, world: World, who, query, variables, field, bad
):
    token = world.token(who, world.a) if who else None
    owner = world.token("owner", world.a)
    before = await customer_count(api, owner)
    # given a string argument holding a character no database text can hold
    hostile = json.loads(json.dumps(variables).replace("{}", json.dumps(bad)[1:-1]))
    # when
    body = await send(client, query, hostile, token)
    # then it is refused before anything runs, naming the argument, without echoing the value
    error = only_error(body)
    assert error["extensions"]["field"] == field
    assert bad not in error["message"]
    assert await customer_count(api, owner) == before


async def test_nul_in_an_inline_literal_is_refused(client, api, world: World):
    owner = world.token("owner", world.a)
    # given a literal with an escaped NUL, nested in an input object
    query = (
        'mutation { createCustomer(input: {name: "Acme\\u0000", email: "ap@acme.example",'
        ' currency: "EUR"}) { errors { code } } }'
    )
    # when
    body = await send(client, query, {}, owner)
    # then
    assert only_error(body)["extensions"]["field"] == "input.name"
    assert await customer_count(api, owner) == 3


async def test_a_nul_in_a_variable_default_is_refused(client, world: World):
    query = 'query($s: String = "a\\u0000") { customers(search: $s) { totalCount } }'
    body = await send(client, query, {}, world.token("owner", world.a))
    assert only_error(body)["extensions"]["field"] == "s"


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        # a lone surrogate where graphql-core echoes the value it could not coerce
        ("query($n: Int) { customers(first: $n) { totalCount } }", {"n": "\ud800"}),
        # ... or the name of an input field it does not know
        (LOGIN, {"input": {"email": "a@b.example", "password": "x", "\ud800": 1}}),
        # ... or in a variable of an unknown type
        ("query($n: Nope\ud800) { viewer { kind } }", {}),
    ],
)
async def test_no_error_echoes_unencodable_text(client, world: World, query, variables):
    response = await post(
        client, json.dumps({"query": query, "variables": variables}).encode(), None
    )
    assert response.status_code in (200, 400)
    body = response.json()
    # bad input, or (a lone surrogate in the document) no GraphQL at all
    assert error_codes(body) in (["BAD_USER_INPUT"], ["GRAPHQL_PARSE_FAILED"])


async def test_an_unknown_operation_name_with_a_lone_surrogate_is_bad_input(client, world: World):
    body = json.dumps({"query": "query A { viewer { kind } }", "operationName": "\ud800"})
    response = await post(client, body.encode())
    assert response.status_code in (200, 400)
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]


# -- texts, time zones, searches ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timezone", "A" * 300),
        ("timezone", "Europe/" + "x" * 250),
        ("timezone", "../../../../etc/passwd"),
        ("name", "Acme\r\nBcc: x@y.example"),
        ("name", "Acme\x1b[31m"),
        ("name", "Acme\u2028Corp"),
        ("taxId", "DE\t123"),
    ],
)
async def test_bad_texts_are_refused(api, world: World, field, value):
    owner = world.token("owner", world.a)
    data = {"name": "Acme", "email": "ap@acme.example", "currency": "EUR", field: value}
    body = await api(CREATE_CUSTOMER, {"input": data}, token=owner)
    payload = body["data"]["createCustomer"]
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("BAD_USER_INPUT", field)]
    assert await customer_count(api, owner) == 3


async def test_a_reseller_name_with_a_line_break_is_refused(api, world: World):
    body = await api(
        CREATE_RESELLER,
        {
            "input": {
                "name": "Evil\r\nCorp",
                "currency": "EUR",
                "owner": {"email": "o@evil.example", "name": "Owner"},
            }
        },
        token=world.token("platform"),
    )
    errors = body["data"]["createReseller"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("BAD_USER_INPUT", "name")]


@pytest.mark.parametrize("query", [SEARCH, SEARCH.replace("customers", "resellers")])
async def test_a_search_is_bounded(api, world: World, query):
    token = world.token("platform")
    # given a search at the bound, which runs
    assert "errors" not in await api(query, {"search": "a" * 200}, token=token)
    # when one far past it
    body = await api(query, {"search": "a" * 50_000}, token=token)
    # then
    error = only_error(body)
    assert error["extensions"]["field"] == "search"
    assert "200" in error["message"]


# -- numbers and instants ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "occurred_at",
    [
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:59:59-05:00",
        "1899-12-31T23:59:59Z",
        "9001-01-01T00:00:00Z",
        "2026-11-01",
        "soon",
    ],
)
async def test_instants_out_of_range_are_refused(api, db, world: World, occurred_at):
    shop = await make_catalog(db)
    body = await api(
        RECORD_USAGE,
        {
            "input": {
                "customerId": to_global_id("Customer", world.a.customers[0]),
                "productId": to_global_id("Product", shop.products["s3"]),
                "quantity": "1",
                "occurredAt": occurred_at,
            }
        },
        token=world.token("owner", world.a),
    )
    error = only_error(body)
    assert "occurredAt" in error["message"]


@pytest.mark.parametrize("rate", ["1e20", "100000000000000", "1e-11", "0", "-1"])
async def test_an_exchange_rate_fits_its_column(api, world: World, rate):
    token = world.token("platform")
    # when a rate NUMERIC(24, 10) cannot hold
    body = await api(
        SET_RATE,
        {"input": {"base": "USD", "quote": "JPY", "rate": rate, "date": "2026-11-01"}},
        token=token,
    )
    # then it is refused, and nothing is stored
    errors = body["data"]["setExchangeRate"]["errors"]
    assert [(e["code"], e["field"]) for e in errors] == [("BAD_USER_INPUT", "rate")]
    assert (await api(RATES, token=token))["data"]["exchangeRates"] == []


@pytest.mark.parametrize(
    "rate", ["NaN", "-Infinity", "sNaN", "1_000", "\u0661", "1e30", "1e999999999", "0x10", "", " "]
)
async def test_a_decimal_that_is_not_a_finite_number_is_refused(api, world: World, rate):
    token = world.token("platform")
    body = await api(
        SET_RATE,
        {"input": {"base": "USD", "quote": "JPY", "rate": rate, "date": "2026-11-01"}},
        token=token,
    )
    message = only_error(body)["message"]
    assert "$input" in message
    assert ".rate" in message
    assert (await api(RATES, token=token))["data"]["exchangeRates"] == []


@pytest.mark.parametrize("rate", ["9999999999999.9999999999", "99999999999999", "0.0000000001"])
async def test_the_extreme_exchange_rates_its_column_holds_are_accepted(api, world: World, rate):
    """(SQLite keeps NUMERIC as a double: 15 significant digits, so compared at that precision.)"""
    token = world.token("platform")
    body = await api(
        SET_RATE,
        {"input": {"base": "USD", "quote": "JPY", "rate": rate, "date": "2026-11-01"}},
        token=token,
    )
    assert body["data"]["setExchangeRate"]["errors"] == []
    stored = (await api(RATES, token=token))["data"]["exchangeRates"]
    assert [float(r["rate"]) for r in stored] == [float(rate)]


# -- sender names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sender",
    [
        "=?utf-8?q?Evil=0D=0ABcc:_x=40y?=",
        "=?utf-8?b?RXZpbA0KQmNjOiB4QHk=?=",
        "Alpha =?iso-8859-1?q?Caf=E9?=",
        "Alpha\x00",
        "Alpha\tCloud",
    ],
)
async def test_sender_names_with_encoded_words_or_control_characters_are_refused(
    api, world: World, sender
):
    owner = world.token("owner", world.a)
    before = (await api(OWN_SETTINGS, token=owner))["data"]["notificationSettings"]
    body = await api(SETTINGS, {"input": {"senderName": sender}}, token=owner)
    # then it is refused (NUL before anything runs: its field is the variable's path)
    errors = body.get("errors") or body["data"]["updateNotificationSettings"]["errors"]
    fields = [e.get("field") or e["extensions"].get("field") for e in errors]
    assert fields in (["senderName"], ["input.senderName"])
    assert (await api(OWN_SETTINGS, token=owner))["data"]["notificationSettings"] == before


async def test_a_postal_address_may_span_lines(api, world: World):
    owner = world.token("owner", world.a)
    body = await api(SETTINGS, {"input": {"address": "1 Main St\r\nSpringfield"}}, token=owner)
    payload = body["data"]["updateNotificationSettings"]
    assert payload["errors"] == []
    assert payload["notificationSettings"]["address"] == "1 Main St\r\nSpringfield"


# -- the OAuth token endpoint ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "authorization"),
    [
        ({"grant_type": "client_credentials", "client_id": "cb\x00x", "client_secret": "s"}, None),
        ({"grant_type": "client_credentials"}, base64.b64encode(b"cb\x00x:secret").decode()),
        ({"grant_type": "client_credentials"}, base64.b64encode(b"cb\xed\xa0\x80:s").decode()),
    ],
    ids=["form-nul", "basic-nul", "basic-not-utf8"],
)
async def test_a_client_id_no_column_can_hold_is_an_unknown_client(
    client, world, form, authorization
):
    headers = {"Authorization": f"Basic {authorization}"} if authorization else {}
    # when
    response = await client.post("/oauth/token", data=form, headers=headers)
    # then it is refused as any unknown client is, with the status that way of sending gets
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("depth", [100, 900, 990])
async def test_variables_nested_as_deep_as_json_allows_are_bad_input(client, world: World, depth):
    # given a list variable nested as deep as the JSON parser still reads
    nested = "[" * depth + '"x"' + "]" * depth
    body = f'{{"query": "query($ids: [ID!]!) {{ nodes(ids: $ids) {{ id }} }}", "variables": {{"ids": {nested}}}}}'
    # when
    response = await post(client, body.encode(), world.token("owner", world.a))
    # then
    assert response.status_code in (200, 400)
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]
