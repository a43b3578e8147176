"""createCustomer and updateCustomer: clear errors, all at once, and nothing changed on failure."""

from schema.relay import to_global_id
from tests.factories import World

CREATE = """mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) {
    customer { id name email currency timezone taxRate taxId address status reseller { slug } }
    errors { code field message }
  }
}"""
UPDATE = """mutation($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) {
    customer { name email taxRate timezone taxId address } errors { code field }
  }
}"""
COUNT = "{ customers { totalCount } }"


async def test_create_customer(api, world: World):
    body = await api(
        CREATE,
        {
            "input": {
                "name": "  Wayne Enterprises ",
                "email": "AP@Wayne.example",
                "currency": "usd",
                "timezone": "America/Chicago",
                "taxRate": "8.25",
                "taxId": "US-123",
                "address": " 1007 Mountain Drive\nGotham City ",
            }
        },
        token=world.token("manager", world.a),
    )
    payload = body["data"]["createCustomer"]
    assert payload["errors"] == []
    customer = payload["customer"]
    assert customer | {"id": None} == {
        "id": None,
        "name": "Wayne Enterprises",
        "email": "ap@wayne.example",
        "currency": "USD",
        "timezone": "America/Chicago",
        "taxRate": "8.25",
        "taxId": "US-123",
        "address": "1007 Mountain Drive\nGotham City",
        "status": "ACTIVE",
        "reseller": {"slug": "alpha"},
    }


async def test_invalid_input_reports_every_field_and_creates_nothing(api, world: World):
    token = world.token("owner", world.a)
    body = await api(
        CREATE,
        {
            "input": {
                "name": " ",
                "email": "not-an-email",
                "currency": "EUR",
                "timezone": "Mars/Olympus",
                "taxRate": "101",
            }
        },
        token=token,
    )
    payload = body["data"]["createCustomer"]
    assert payload["customer"] is None
    assert {(e["code"], e["field"]) for e in payload["errors"]} == {
        ("BAD_USER_INPUT", "name"),
        ("BAD_USER_INPUT", "email"),
        ("BAD_USER_INPUT", "timezone"),
        ("BAD_USER_INPUT", "taxRate"),
    }
    assert (await api(COUNT, token=token))["data"]["customers"]["totalCount"] == 3


async def test_an_unknown_currency_is_refused_before_anything_runs(api, world: World):
    # given
    token = world.token("owner", world.a)
    input = {"name": "X", "email": "x@x.example", "currency": "EURO"}

    # when
    body = await api(CREATE, {"input": input}, token=token)

    # then: the CurrencyCode scalar refuses it, naming the field, as bad input (never INTERNAL)
    assert "data" not in body or body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.currency"}
    assert "CurrencyCode" in error["message"]
    assert (await api(COUNT, token=token))["data"]["customers"]["totalCount"] == 3


async def test_tax_rate_is_a_decimal_string_never_a_float(api, world: World):
    token = world.token("owner", world.a)
    bad = await api(
        CREATE,
        {"input": {"name": "X", "email": "x@x.example", "currency": "EUR", "taxRate": "abc"}},
        token=token,
    )
    assert bad["data"] is None and bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    precise = await api(
        CREATE,
        {"input": {"name": "X", "email": "x@x.example", "currency": "EUR", "taxRate": "7.125"}},
        token=token,
    )
    assert precise["data"]["createCustomer"]["customer"]["taxRate"] == "7.125"


async def test_platform_admin_must_name_the_reseller(api, world: World):
    body = await api(
        CREATE,
        {"input": {"name": "X", "email": "x@x.example", "currency": "EUR"}},
        token=world.token("platform"),
    )
    assert body["data"]["createCustomer"]["errors"] == [
        {
            "code": "BAD_USER_INPUT",
            "field": "resellerId",
            "message": "name the reseller the customer belongs to",
        }
    ]
    created = await api(
        CREATE,
        {
            "input": {
                "resellerId": to_global_id("Reseller", world.b.id),
                "name": "X",
                "email": "x@x.example",
                "currency": "EUR",
            }
        },
        token=world.token("platform"),
    )
    assert created["data"]["createCustomer"]["customer"]["reseller"] == {"slug": "bravo"}


async def test_update_changes_only_given_fields(api, world: World):
    customer = to_global_id("Customer", world.a.customers[1])
    body = await api(
        UPDATE,
        {"input": {"customerId": customer, "taxRate": "0", "taxId": "DE999"}},
        token=world.token("owner", world.a),
    )
    assert body["data"]["updateCustomer"] == {
        "customer": {
            "name": "Alpha Customer 2",
            "email": "c2@alpha-customers.example",
            "taxRate": "0",
            "timezone": "UTC",
            "taxId": "DE999",
            "address": None,
        },
        "errors": [],
    }


async def test_an_address_is_set_cleared_and_checked(api, world: World):
    customer = to_global_id("Customer", world.a.customers[0])
    token = world.token("owner", world.a)

    async def update(address: str) -> dict:
        body = await api(UPDATE, {"input": {"customerId": customer, "address": address}}, token)
        found: dict = body["data"]["updateCustomer"]
        return found

    # when an address is set, then cleared with an empty string
    assert (await update("Hauptstr. 1\n10115 Berlin"))["customer"]["address"] == (
        "Hauptstr. 1\n10115 Berlin"
    )
    assert (await update(""))["customer"]["address"] is None

    # then one too long is refused
    refused = await update("x" * 1001)
    assert refused == {"customer": None, "errors": [{"code": "BAD_USER_INPUT", "field": "address"}]}


async def test_failed_update_changes_nothing(api, world: World):
    customer = to_global_id("Customer", world.a.customers[0])
    token = world.token("owner", world.a)
    body = await api(
        UPDATE,
        {"input": {"customerId": customer, "name": "Renamed", "email": "broken"}},
        token=token,
    )
    assert body["data"]["updateCustomer"] == {
        "customer": None,
        "errors": [{"code": "BAD_USER_INPUT", "field": "email"}],
    }
    node = await api(
        "query($id: ID!) { node(id: $id) { ... on Customer { name } } }",
        {"id": customer},
        token=token,
    )
    assert node["data"]["node"]["name"] == "Alpha Customer 1"


async def test_update_with_a_malformed_or_wrong_type_id_is_not_found(api, world: World):
    token = world.token("owner", world.a)
    for bad in ("???", to_global_id("User", world.a.users["owner"])):
        body = await api(UPDATE, {"input": {"customerId": bad, "name": "x"}}, token=token)
        assert body["data"]["updateCustomer"]["errors"] == [
            {"code": "NOT_FOUND", "field": "customerId"}
        ]
