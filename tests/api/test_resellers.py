"""createReseller and the resellers connection (platform admins)."""

from tests.factories import World

CREATE = """mutation($input: CreateResellerInput!) {
  createReseller(input: $input) {
    reseller { id name slug currency timezone status invoicePrefix }
    owner { email name role status billingAccess reseller { slug } }
    errors { code field message }
  }
}"""
RESELLERS = (
    "query($search: String) { resellers(search: $search) { totalCount edges { node { slug } } } }"
)


def reseller_input(**overrides):
    value = {
        "name": "Initech Cloud",
        "currency": "usd",
        "timezone": "America/New_York",
        "owner": {"email": "Peter@Initech.example", "name": "Peter Gibbons"},
    }
    value.update(overrides)
    return {"input": value}


async def test_platform_admin_creates_a_reseller_with_an_invited_owner(api, world: World):
    body = await api(CREATE, reseller_input(), token=world.token("platform"))
    payload = body["data"]["createReseller"]
    assert payload["errors"] == []
    assert payload["reseller"] | {"id": None} == {
        "id": None,
        "name": "Initech Cloud",
        "slug": "initech-cloud",
        "currency": "USD",
        "timezone": "America/New_York",
        "status": "ACTIVE",
        "invoicePrefix": "INITEC",
    }
    assert payload["owner"] == {
        "email": "peter@initech.example",
        "name": "Peter Gibbons",
        "role": "OWNER",
        "status": "INVITED",
        "billingAccess": True,
        "reseller": {"slug": "initech-cloud"},
    }
    listed = await api(RESELLERS, {"search": "initech"}, token=world.token("platform"))
    assert listed["data"]["resellers"] == {
        "totalCount": 1,
        "edges": [{"node": {"slug": "initech-cloud"}}],
    }


async def test_slug_derived_from_a_taken_name_gets_a_suffix(api, world: World):
    await api(CREATE, reseller_input(), token=world.token("platform"))
    again = await api(
        CREATE,
        reseller_input(owner={"email": "bob@initech.example", "name": "Bob"}),
        token=world.token("platform"),
    )
    assert again["data"]["createReseller"]["reseller"]["slug"] == "initech-cloud-2"


async def test_taken_slug_or_email_and_bad_input_are_refused_and_nothing_is_made(api, world: World):
    token = world.token("platform")
    taken_slug = await api(CREATE, reseller_input(slug="alpha"), token=token)
    assert taken_slug["data"]["createReseller"]["errors"] == [
        {"code": "TAKEN", "field": "slug", "message": "slug is already in use"}
    ]
    invalid = await api(
        CREATE,
        reseller_input(name="", slug="Bad Slug!", owner={"email": "x", "name": ""}),
        token=token,
    )
    assert {e["field"] for e in invalid["data"]["createReseller"]["errors"]} == {
        "name",
        "slug",
        "owner.email",
        "owner.name",
    }
    # A currency that is no ISO 4217 code never reaches the service: the scalar refuses it.
    unknown = await api(CREATE, reseller_input(currency="XXX1"), token=token)
    assert unknown["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "input.currency",
    }
    listed = await api(RESELLERS, {}, token=token)
    assert listed["data"]["resellers"]["totalCount"] == 2


async def test_an_owner_may_already_work_for_another_reseller(api, world: World):
    # given the OWNER of alpha, invited as the OWNER of a new reseller
    body = await api(
        CREATE,
        reseller_input(owner={"email": "owner@alpha.example", "name": "Alpha's owner"}),
        token=world.token("platform"),
    )
    # then it is made: an address is unique within a reseller, not across the platform
    assert body["data"]["createReseller"]["errors"] == []
    assert body["data"]["createReseller"]["owner"]["email"] == "owner@alpha.example"


async def test_a_reseller_user_sees_only_its_own_reseller(api, world: World):
    body = await api(
        "{ viewer { reseller { slug customers { totalCount } } } }",
        token=world.token("member", world.b),
    )
    assert body["data"]["viewer"]["reseller"] == {"slug": "bravo", "customers": {"totalCount": 3}}
