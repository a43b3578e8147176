"""A sign-in is one refresh-token family, and every access token names it: ending the sign-in
ends its access tokens at once. An address is unique per reseller, so sign-in may have to be
told which reseller."""

from __future__ import annotations

from sqlalchemy import update

from db.database import Database
from db.scope import TenantScope
from schema.relay import to_global_id
from tenants.models import User, UserStatus
from tests.factories import PASSWORD, World, password_hash

LOGIN = """mutation($email: String!, $password: String!, $reseller: String) {
  login(input: {email: $email, password: $password, reseller: $reseller}) {
    accessToken refreshToken user { email reseller { slug } } errors { code field message }
  }
}"""
REFRESH = """mutation($token: String!) {
  refreshToken(input: {refreshToken: $token}) { accessToken refreshToken errors { code } }
}"""
VIEWER = "{ viewer { kind user { email } } }"
DISABLE = "mutation($id: ID!) { disableUser(input: {userId: $id}) { errors { code } } }"
ENABLE = "mutation($id: ID!) { enableUser(input: {userId: $id}) { errors { code } } }"


async def _login(api, email: str, reseller: str | None = None) -> dict:
    body = await api(LOGIN, {"email": email, "password": PASSWORD, "reseller": reseller})
    return body["data"]["login"]


async def test_a_reused_refresh_token_ends_the_access_tokens_of_its_sign_in(api, world: World):
    # given a sign-in, its refresh token rotated once, and the access token of the rotation
    first = await _login(api, "member@alpha.example")
    rotated = (await api(REFRESH, {"token": first["refreshToken"]}))["data"]["refreshToken"]
    assert (await api.raw(VIEWER, token=rotated["accessToken"])).status_code == 200
    # when the spent refresh token comes back (someone holds a copy)
    reused = (await api(REFRESH, {"token": first["refreshToken"]}))["data"]["refreshToken"]
    assert reused["errors"] == [{"code": "TOKEN_REUSED"}]
    # then every access token of that sign-in stops working on the next request
    for token in (first["accessToken"], rotated["accessToken"]):
        assert (await api.raw(VIEWER, token=token)).status_code == 401
    # and another sign-in of the same user goes on
    other = await _login(api, "member@alpha.example")
    assert (await api.raw(VIEWER, token=other["accessToken"])).status_code == 200


async def test_disabling_a_user_ends_its_tokens_for_good(api, world: World):
    # given a member signed in
    signed_in = await _login(api, "member@alpha.example")
    member = to_global_id("User", world.a.users["member"])
    owner = world.token("owner", world.a)
    # when the owner disables the member, then enables it again
    assert (await api(DISABLE, {"id": member}, token=owner))["data"]["disableUser"]["errors"] == []
    assert (await api.raw(VIEWER, token=signed_in["accessToken"])).status_code == 401
    assert (await api(ENABLE, {"id": member}, token=owner))["data"]["enableUser"]["errors"] == []
    # then the tokens given out before do not come back to life
    assert (await api.raw(VIEWER, token=signed_in["accessToken"])).status_code == 401
    refreshed = (await api(REFRESH, {"token": signed_in["refreshToken"]}))["data"]
    assert refreshed["refreshToken"]["accessToken"] is None
    # and the member signs in afresh
    again = await _login(api, "member@alpha.example")
    assert (await api.raw(VIEWER, token=again["accessToken"])).status_code == 200


async def test_a_token_that_names_no_sign_in_is_refused(api, world: World):
    token = world.signer.issue(
        f"user:{world.a.users['owner']}", "channelbill-api", 600, rid=str(world.a.id)
    ).token
    assert (await api.raw(VIEWER, token=token)).status_code == 401


async def _also_at(db: Database, tenant_id, email: str) -> None:
    """The same person, with the same password, as a member of another reseller."""
    async with db.write(TenantScope.system()) as session:
        session.add(
            User(
                reseller_id=tenant_id,
                email=email,
                name="Same person",
                role="MEMBER",
                billing_access=False,
                status=UserStatus.ACTIVE,
                password_hash=password_hash(),
            )
        )


async def test_an_address_at_two_resellers_signs_in_where_it_is_told(api, db, world: World):
    # given alpha's member also works for bravo, with the same password
    await _also_at(db, world.b.id, "member@alpha.example")
    # when it signs in without saying where
    ambiguous = await _login(api, "member@alpha.example")
    # then it is asked to choose, and no token is given
    assert ambiguous["accessToken"] is None
    assert [(e["code"], e["field"]) for e in ambiguous["errors"]] == [
        ("RESELLER_REQUIRED", "reseller")
    ]
    # and naming the reseller signs in there
    for slug in ("alpha", "bravo"):
        chosen = await _login(api, "member@alpha.example", reseller=slug)
        assert chosen["errors"] == []
        assert chosen["user"]["reseller"]["slug"] == slug
    # a reseller the address has no account at is just a failed sign-in
    elsewhere = await _login(api, "owner@alpha.example", reseller="bravo")
    assert [e["code"] for e in elsewhere["errors"]] == ["INVALID_CREDENTIALS"]


async def test_the_password_tells_two_accounts_of_one_address_apart(api, db, world: World):
    # given the address at bravo has another password
    await _also_at(db, world.b.id, "member@alpha.example")
    async with db.write(TenantScope.system()) as session:
        await session.execute(
            update(User)
            .where(User.reseller_id == world.b.id, User.email == "member@alpha.example")
            .values(password_hash=None)
        )
    # then a bare sign-in opens the one account the password fits
    signed_in = await _login(api, "member@alpha.example")
    assert signed_in["errors"] == []
    assert signed_in["user"]["reseller"]["slug"] == "alpha"


async def test_a_platform_admin_address_at_a_reseller_opens_the_admin_account(
    api, db, world: World
):
    await _also_at(db, world.a.id, "admin@platform.example")
    signed_in = await _login(api, "admin@platform.example")
    viewer = await api(VIEWER, token=signed_in["accessToken"])
    assert viewer["data"]["viewer"]["kind"] == "PLATFORM_ADMIN"
    at_alpha = await _login(api, "admin@platform.example", reseller="alpha")
    viewer = await api(VIEWER, token=at_alpha["accessToken"])
    assert viewer["data"]["viewer"]["kind"] == "USER"
